//! Reading `/proc/PID/stat` and proving that a PID is still the process we
//! started: same start time (field 22, in clock ticks since boot) on the same
//! boot. A PID whose start time differs is a different process.

use std::io;

use serde::{Deserialize, Serialize};

pub use crate::platform::{
    boot_id, cmd_string, parse_stat, proc_uid, read_cmdline, read_env, read_env_var, read_stat,
    ProcStat,
};

/// `read_env`, waiting out an `exec` in progress (bounded: 50 ms).
fn read_env_settled(pid: i32, name: &str) -> Option<Option<String>> {
    for _ in 0..50 {
        if let Some(v) = read_env(pid, name) {
            return Some(v);
        }
        if read_stat(pid).map_or(true, |s| s.is_dying()) {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    None
}

/// Environment variable every service process (and all its descendants,
/// through `setsid` and double forks) inherits; its value proves "ours".
pub const TAG_VAR: &str = "STIGMER_SERVICE";

/// Who a process is, beyond its reusable PID: start time and boot prove the
/// PID was not reused; the environment tag proves the process is ours (an
/// unrelated process can be named with its real start time and boot id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub pid: i32,
    pub start_ticks: u64,
    pub boot_id: String,
    /// The `TAG_VAR` value the process must carry. `None`: nothing can
    /// prove it ours, so it never verifies.
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Same process, alive.
    Match(ProcStat),
    /// Same process, but it has exited (waits to be reaped) or is dying.
    Zombie,
    /// No such PID.
    Gone,
    /// The PID now belongs to someone else (or we rebooted), or the process
    /// does not carry our tag.
    Mismatch(String),
}

impl Identity {
    pub fn of(pid: i32) -> io::Result<Self> {
        let st = read_stat(pid)?;
        Ok(Self {
            pid,
            start_ticks: st.start_ticks,
            boot_id: boot_id().to_string(),
            tag: read_env_var(pid, TAG_VAR),
        })
    }

    /// Same boot, same start time, and (for a live process) our tag in its
    /// own environment. A zombie's environment is gone; it verifies as
    /// `Zombie`, which proves nothing about the rest of its group.
    pub fn verify(&self) -> Verdict {
        if self.boot_id != boot_id() {
            return Verdict::Mismatch("recorded on another boot".into());
        }
        let st = match read_stat(self.pid) {
            Err(_) => return Verdict::Gone,
            Ok(st) if st.start_ticks != self.start_ticks => {
                return Verdict::Mismatch(format!(
                    "PID {} was reused (start time {} ≠ recorded {})",
                    self.pid, st.start_ticks, self.start_ticks
                ))
            }
            Ok(st) if st.is_dying() => return Verdict::Zombie,
            Ok(st) => st,
        };
        let Some(want) = self.tag.as_deref() else {
            return Verdict::Mismatch(format!(
                "PID {}: no environment tag recorded, so nothing proves it ours",
                self.pid
            ));
        };
        match read_env_settled(self.pid, TAG_VAR) {
            Some(Some(t)) if t == want => Verdict::Match(st),
            Some(_) => Verdict::Mismatch(format!(
                "PID {} ({}) is not ours: it does not carry our {TAG_VAR} tag",
                self.pid, st.comm
            )),
            // Exiting processes lose their environment before they die.
            None if read_stat(self.pid).map_or(true, |s| s.is_dying()) => Verdict::Zombie,
            None => Verdict::Mismatch(format!(
                "PID {}: its environment cannot be read, so nothing proves it ours",
                self.pid
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_hostile_comm() {
        let text = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 1 0 0 0 7 3 0 0 20 0 1 0 123456 1000 55 rest";
        let st = parse_stat(4242, text).unwrap();
        assert_eq!(st.comm, "a) b (c)");
        assert_eq!((st.state, st.ppid, st.pgid, st.sid), ('S', 1, 4242, 4242));
        assert_eq!(st.flags, 4194560);
        assert_eq!(
            (st.utime, st.stime, st.start_ticks, st.rss_pages),
            (7, 3, 123456, 55)
        );
        assert!(parse_stat(1, "garbage").is_none());
        assert!(parse_stat(1, "1 (x) S").is_none());
    }

    #[test]
    fn own_identity_matches_only_with_the_tag_and_a_forged_one_does_not() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(TAG_VAR, "t:1")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let me = Identity {
            tag: Some("t:1".into()),
            ..Identity::of(pid).unwrap()
        };
        assert!(matches!(me.verify(), Verdict::Match(_)));
        let untagged = Identity {
            tag: None,
            ..me.clone()
        };
        assert!(matches!(untagged.verify(), Verdict::Mismatch(_)));
        let other_tag = Identity {
            tag: Some("t:2".into()),
            ..me.clone()
        };
        assert!(matches!(other_tag.verify(), Verdict::Mismatch(w) if w.contains("tag")));
        let forged = Identity {
            start_ticks: me.start_ticks + 1,
            ..me.clone()
        };
        assert!(matches!(forged.verify(), Verdict::Mismatch(_)));
        let other_boot = Identity {
            boot_id: "x".into(),
            ..me
        };
        assert!(matches!(other_boot.verify(), Verdict::Mismatch(_)));
        let _ = child.kill();
        let _ = child.wait();
    }
}
