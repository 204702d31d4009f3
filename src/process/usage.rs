//! CPU and memory of the processes shown, from the kernel's own counters:
//! the CPU time in clock ticks and the resident pages that every `/proc`
//! scan reads anyway (`/proc/PID/stat` fields 14, 15 and 24). A rate needs
//! two looks at the same process; the first look at one gives its average
//! since it started, never a made-up zero.

use std::collections::HashMap;
use std::time::Instant;

use super::ProcEntry;

/// The tick count each process had at the start of its current window,
/// by (PID, start time): a PID reused by another process starts afresh.
#[derive(Debug, Default, Clone)]
pub struct Rates {
    last: HashMap<(i32, u64), Window>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    ticks: u64,
    at: Instant,
    /// The rate over the last full window.
    cpu: f32,
}

/// A rate over less than this is mostly the ticks' granularity (10 ms at
/// 100 Hz): looks closer together than this report the last full window.
pub const MIN_WINDOW: std::time::Duration = std::time::Duration::from_millis(900);

/// CPU as percent of one core, and resident bytes, by PID.
pub type Usage = HashMap<i32, (f32, u64)>;

impl Rates {
    /// The usage of `procs` as seen at `now`; `uptime_secs` is the system's
    /// (for a first look), `hz` the clock ticks per second. Forgets the
    /// processes not in `procs`.
    pub fn update<'a>(
        &mut self,
        now: Instant,
        procs: impl IntoIterator<Item = &'a ProcEntry>,
        hz: f64,
        uptime_secs: Option<f64>,
    ) -> Usage {
        let mut next = HashMap::new();
        let mut out = Usage::new();
        for p in procs {
            let key = (p.pid, p.start_ticks);
            let w = match self.last.get(&key) {
                Some(w) if now.saturating_duration_since(w.at) < MIN_WINDOW => *w,
                Some(w) => Window {
                    ticks: p.cpu_ticks,
                    at: now,
                    cpu: percent(
                        p.cpu_ticks.saturating_sub(w.ticks),
                        hz,
                        now.saturating_duration_since(w.at).as_secs_f64(),
                    ),
                },
                None => Window {
                    ticks: p.cpu_ticks,
                    at: now,
                    cpu: uptime_secs.map_or(0.0, |up| {
                        percent(p.cpu_ticks, hz, up - p.start_ticks as f64 / hz)
                    }),
                },
            };
            next.insert(key, w);
            out.insert(p.pid, (w.cpu, p.rss_bytes));
        }
        self.last = next;
        out
    }
}

/// `ticks` of CPU over `secs` of wall time, as percent of one core.
pub fn percent(ticks: u64, hz: f64, secs: f64) -> f32 {
    if secs <= 0.0 || hz <= 0.0 {
        return 0.0;
    }
    (ticks as f64 / hz / secs * 100.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(pid: i32, start: u64, ticks: u64, rss: u64) -> ProcEntry {
        ProcEntry {
            pid,
            ppid: 1,
            pgid: pid,
            sid: pid,
            state: 'R',
            start_ticks: start,
            cmd: "burn".into(),
            tag: None,
            rss_bytes: rss,
            cpu_ticks: ticks,
        }
    }

    #[test]
    fn a_rate_is_the_ticks_between_two_looks_and_memory_is_always_the_kernels() {
        let mut r = Rates::default();
        let t0 = Instant::now();
        // First look at 100 Hz: 50 ticks over its 10 s of life → 5 %.
        let u = r.update(t0, &[entry(7, 1000, 50, 4096)], 100.0, Some(20.0));
        assert!((u[&7].0 - 5.0).abs() < 0.01, "{u:?}");
        assert_eq!(u[&7].1, 4096);
        // Half a core: 100 ticks in 2 s.
        let u = r.update(
            t0 + Duration::from_secs(2),
            &[entry(7, 1000, 150, 8192)],
            100.0,
            None,
        );
        assert!((u[&7].0 - 50.0).abs() < 0.01, "{u:?}");
        assert_eq!(u[&7].1, 8192);
        // The same PID, another process: no rate from the old one's ticks.
        let u = r.update(
            t0 + Duration::from_secs(4),
            &[entry(7, 5000, 10, 1)],
            100.0,
            Some(60.0),
        );
        assert!((u[&7].0 - 1.0).abs() < 0.01, "{u:?}");
        // Gone processes are forgotten.
        r.update(t0 + Duration::from_secs(6), &[], 100.0, None);
        assert!(r.last.is_empty());
    }

    #[test]
    fn no_time_no_rate() {
        assert_eq!(percent(10, 100.0, 0.0), 0.0);
        assert_eq!(percent(10, 0.0, 1.0), 0.0);
    }
}
