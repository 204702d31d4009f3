//! Process facts, from `/proc`: a process's stat line (state, parent,
//! group, session, start time, CPU ticks, resident pages), its command
//! line, environment and owner, every PID, its open files (lock holders and
//! socket owners), and the machine's boot id, uptime, clock and page sizes.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::sync::OnceLock;

use crate::platform::ProcStat;

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

/// Walks `/proc/PID/fd`: does it hold a lock through `lock_target`, and which
/// of `sockets` does it own?
pub fn scan_fds(
    pid: i32,
    lock_target: Option<&str>,
    sockets: &HashSet<String>,
) -> (bool, Vec<u64>) {
    let mut holds = false;
    let mut owned = Vec::new();
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return (false, owned);
    };
    for fd in fds.flatten() {
        let Ok(target) = fs::read_link(fd.path()) else {
            continue;
        };
        let Some(target) = target.to_str() else {
            continue;
        };
        if let Some(lock) = lock_target {
            let path = target.strip_suffix(" (deleted)").unwrap_or(target);
            if !holds && path == lock && fd_has_lock(pid, &fd.file_name().to_string_lossy()) {
                holds = true;
            }
        }
        if sockets.contains(target) {
            if let Some(ino) = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
            {
                if let Ok(ino) = ino.parse() {
                    owned.push(ino);
                }
            }
        }
    }
    (holds, owned)
}

/// `/proc/PID/fdinfo/FD` has a `lock:` line while that open file holds a lock.
fn fd_has_lock(pid: i32, fd: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
        .map(|s| s.lines().any(|l| l.starts_with("lock:")))
        .unwrap_or(false)
}

/// Every PID there is now.
pub fn pids() -> io::Result<impl Iterator<Item = i32>> {
    Ok(fs::read_dir("/proc")?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok())))
}

/// The stat line of `pid` into `buf` (cleared first), for a scan that
/// reads thousands without allocating.
pub fn read_stat_text(pid: i32, buf: &mut String) -> io::Result<usize> {
    use std::io::Read;
    buf.clear();
    fs::File::open(format!("/proc/{pid}/stat"))?.read_to_string(buf)
}

/// Whether a process with this PID exists (zombies included).
pub fn exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Seconds since boot.
pub fn uptime_secs() -> Option<f64> {
    fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Clock ticks per second (the unit of start times and CPU times).
pub fn ticks_per_sec() -> f64 {
    rustix::param::clock_ticks_per_second() as f64
}

/// Bytes per page (the unit of resident memory).
pub fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// This machine's name.
pub fn hostname() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
}
