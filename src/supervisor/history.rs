//! The supervisor's event history: the last [`CAPACITY`] events of every
//! service, in order, shared by every client (dashboards, `local events`)
//! through the control socket, and each written to the supervisor's log.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::core::ExitInfo;
use crate::util::clock::{now_ms, rfc3339_ms};

pub const CAPACITY: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Supervisor,
    Spawned,
    Adopted,
    Ready,
    NotReady,
    Exited,
    RestartScheduled,
    CrashLoop,
    Failed,
    Requested,
    /// Ready once, then its liveness checks failed `failures` times in a row.
    Unhealthy,
    /// A liveness check passed again without a restart.
    Healthy,
    /// The stack now runs the config as it is on disk.
    Reloaded,
    /// The config on disk was refused: it runs the one before.
    ConfigError,
    /// A watched file changed: restarting.
    Changed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    pub seq: u64,
    pub at: String,
    pub at_ms: u64,
    pub service: String,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub detail: String,
}

impl HistoryEvent {
    /// One line for people:
    /// `2026-11-22T12:03:04Z temporal exited (PID 42): killed by SIGKILL`.
    pub fn line(&self) -> String {
        format!("{} {} {}", self.at, self.service, self.text())
    }

    /// The event without time or service.
    pub fn text(&self) -> String {
        let kind = serde_json::to_value(self.kind)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default();
        match (self.detail.is_empty(), self.pid) {
            (true, Some(pid)) => format!("{kind} (PID {pid})"),
            (true, None) => kind,
            (false, Some(pid)) => format!("{kind} (PID {pid}): {}", self.detail),
            (false, None) => format!("{kind}: {}", self.detail),
        }
    }
}

/// The ring and its live feed.
pub struct History {
    ring: Mutex<(u64, VecDeque<HistoryEvent>)>,
    feed: broadcast::Sender<HistoryEvent>,
}

impl History {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            ring: Mutex::new((0, VecDeque::with_capacity(CAPACITY))),
            feed: broadcast::channel(CAPACITY).0,
        })
    }

    /// Records an event: stored, logged, and sent to every subscriber.
    pub fn push(&self, service: &str, kind: Kind, pid: Option<i32>, detail: impl Into<String>) {
        self.push_exit(service, kind, pid, None, detail.into());
    }

    /// An exit, with its code or signal when known.
    pub fn exited(&self, service: &str, pid: Option<i32>, exit: ExitInfo) {
        self.push_exit(service, Kind::Exited, pid, Some(exit), exit.to_string());
    }

    fn push_exit(
        &self,
        service: &str,
        kind: Kind,
        pid: Option<i32>,
        exit: Option<ExitInfo>,
        detail: String,
    ) {
        let at_ms = now_ms();
        let Ok(mut g) = self.ring.lock() else { return };
        g.0 += 1;
        let ev = HistoryEvent {
            seq: g.0,
            at: rfc3339_ms(at_ms),
            at_ms,
            service: service.to_string(),
            kind,
            pid,
            code: match exit {
                Some(ExitInfo::Code(c)) => Some(c),
                _ => None,
            },
            signal: match exit {
                Some(ExitInfo::Signal(s)) => Some(s),
                _ => None,
            },
            detail,
        };
        if g.1.len() == CAPACITY {
            g.1.pop_front();
        }
        g.1.push_back(ev.clone());
        drop(g);
        tracing::info!("{}: {}", ev.service, ev.text());
        let _ = self.feed.send(ev);
    }

    /// Everything stored, oldest first, and a feed of what comes after it
    /// (taken together, so nothing falls between the two).
    pub fn snapshot_and_subscribe(&self) -> (Vec<HistoryEvent>, broadcast::Receiver<HistoryEvent>) {
        let g = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.feed.subscribe();
        (g.1.iter().cloned().collect(), rx)
    }

    /// A history that goes on from the one a previous supervisor saved at
    /// `path` (see [`History::save`]); empty when there is none, or it is
    /// unreadable (said in the log, never fatal).
    pub fn load(path: &Path) -> Arc<Self> {
        let h = Self::new();
        let saved = match crate::state::read_capped(path, 8 << 20) {
            Ok(bytes) => serde_json::from_slice::<Vec<HistoryEvent>>(&bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return h,
            Err(e) => {
                tracing::warn!("{}: {e}; the history starts afresh", path.display());
                return h;
            }
        };
        match saved {
            Ok(mut evs) => {
                let skip = evs.len().saturating_sub(CAPACITY);
                evs.drain(..skip);
                let mut g = h.ring.lock().unwrap_or_else(|e| e.into_inner());
                g.0 = evs.iter().map(|e| e.seq).max().unwrap_or(0);
                g.1.extend(evs);
            }
            Err(e) => tracing::warn!("{}: {e}; the history starts afresh", path.display()),
        }
        h
    }

    /// Leaves the history at `path` for the next supervisor (atomically).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(&self.all())?;
        crate::state::write_atomic(path, &bytes)
    }

    pub fn all(&self) -> Vec<HistoryEvent> {
        let g = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        g.1.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_thousand_in_order_and_feeds_what_follows() {
        let h = History::new();
        for i in 0..(CAPACITY + 5) {
            h.push("api", Kind::Spawned, Some(i as i32), "");
        }
        let (all, mut rx) = h.snapshot_and_subscribe();
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].pid, Some(5));
        assert!(all.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
        h.exited("temporal", Some(42), ExitInfo::Signal(9));
        let ev = rx.try_recv().unwrap();
        assert_eq!((ev.signal, ev.code, ev.kind), (Some(9), None, Kind::Exited));
        assert_eq!(ev.text(), "exited (PID 42): killed by SIGKILL");
        let json = serde_json::to_string(&ev).unwrap();
        let back: HistoryEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn a_saved_history_goes_on_in_the_next_supervisor() {
        let dir = std::env::temp_dir().join(format!("stigmer-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.json");
        let h = History::new();
        h.exited("worker", Some(7), ExitInfo::Signal(9));
        h.push("worker", Kind::Spawned, Some(8), "");
        h.save(&path).unwrap();
        let next = History::load(&path);
        next.push("worker", Kind::Adopted, Some(8), "");
        let all = next.all();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].kind, Kind::Exited);
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        // Garbage, or nothing, starts afresh.
        std::fs::write(&path, b"{not json").unwrap();
        assert!(History::load(&path).all().is_empty());
        assert!(History::load(&dir.join("none.json")).all().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
