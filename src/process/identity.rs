//! Reading `/proc/PID/stat` and proving that a PID is still the process we
//! started: same start time (field 22, in clock ticks since boot) on the same
//! boot. A PID whose start time differs is a different process.

use std::fs;
use std::io;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub start_ticks: u64,
    pub utime: u64,
    pub stime: u64,
    pub rss_pages: u64,
    /// The kernel's per-task flags (field 9).
    pub flags: u64,
}

/// `PF_EXITING`: the task is in `do_exit`, past the point of no return.
const PF_EXITING: u64 = 0x4;

impl ProcStat {
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }

    /// Exited, exiting, or killed with a SIGKILL it has not acted on yet: a
    /// process that may still look alive for a while (a large one takes
    /// milliseconds to tear down) but will never serve again.
    pub fn is_dying(&self) -> bool {
        self.is_zombie() || self.flags & PF_EXITING != 0 || sigkill_pending(self.pid)
    }
}

/// Is a SIGKILL pending for `pid` (thread or process-wide)?
fn sigkill_pending(pid: i32) -> bool {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .filter_map(|l| {
            l.strip_prefix("SigPnd:")
                .or_else(|| l.strip_prefix("ShdPnd:"))
        })
        .filter_map(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .any(|mask| mask & (1 << (9 - 1)) != 0)
}

/// Parses the text of `/proc/PID/stat`. `comm` may contain spaces and
/// parentheses, so the fields are read after the *last* `)`.
pub fn parse_stat(pid: i32, text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    let field = |n: usize| rest.get(n - 3).copied();
    Some(ProcStat {
        pid,
        comm,
        state: field(3)?.chars().next()?,
        ppid: field(4)?.parse().ok()?,
        flags: field(9)?.parse().ok()?,
        pgid: field(5)?.parse().ok()?,
        sid: field(6)?.parse().ok()?,
        utime: field(14)?.parse().ok()?,
        stime: field(15)?.parse().ok()?,
        start_ticks: field(22)?.parse().ok()?,
        rss_pages: field(24)?.parse().ok()?,
    })
}

pub fn read_stat(pid: i32) -> io::Result<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(pid, &text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unparsable /proc/{pid}/stat"),
        )
    })
}

/// The command line, NUL-separated in `/proc`, joined with spaces.
pub fn read_cmdline(pid: i32) -> Option<Vec<String>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let parts: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    Some(parts)
}

pub fn cmd_string(pid: i32, comm: &str) -> String {
    match read_cmdline(pid) {
        Some(parts) if !parts.is_empty() => parts.join(" "),
        _ => format!("[{comm}]"),
    }
}

/// Owner uid of a process (the owner of its `/proc` directory).
pub fn proc_uid(pid: i32) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(format!("/proc/{pid}")).ok().map(|m| m.uid())
}

pub fn boot_id() -> &'static str {
    static BOOT: OnceLock<String> = OnceLock::new();
    BOOT.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    })
}

/// Reads `NAME=value` from `/proc/PID/environ` (our own user's processes only).
pub fn read_env_var(pid: i32, name: &str) -> Option<String> {
    read_env(pid, name).flatten()
}

/// `None` when the environment cannot be read *now*: an error, or empty,
/// which is what a process shows while `exec` lays out its new stack (after
/// its new `comm` is visible) and while it exits. `Some(None)`: readable,
/// and the variable is not there.
pub fn read_env(pid: i32, name: &str) -> Option<Option<String>> {
    let raw = fs::read(format!("/proc/{pid}/environ")).ok()?;
    if raw.is_empty() {
        return None;
    }
    let key = format!("{name}=");
    Some(
        raw.split(|b| *b == 0)
            .find(|kv| kv.starts_with(key.as_bytes()))
            .map(|kv| String::from_utf8_lossy(&kv[key.len()..]).into_owned()),
    )
}

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
