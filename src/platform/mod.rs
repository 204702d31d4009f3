//! The operating system, behind one seam. Everything stigmer asks the OS
//! about lives here, and nowhere else:
//! - process facts: a process's stat (state, parent, group, session, start
//!   time, CPU ticks, resident pages), command line, environment, owner,
//!   every PID, its open files (lock holders, socket owners), the boot id,
//!   uptime, clock and page sizes (`proc`);
//! - a handle that pins one process: signals to exactly it, and the
//!   notification of its exit (`pidfd`);
//! - whether a flock is held (`locks`);
//! - the listening TCP sockets and their inodes (`sockets`);
//! - cutting the head off a file in place, for log rotation, and keeping
//!   inherited descriptors out of a child (`files`).
//!
//! What POSIX gives every Unix alike (`setsid`, `flock`, `fcntl`,
//! `statvfs`, `getpgrp`, `geteuid`) is called where it is used.
//!
//! The types are the OS's neutral words for these facts; each backend
//! (today `linux/`) fills them in. A second operating system is a second
//! folder beside `linux/` behind `cfg`, not edits across the tree
//! (`docs/architecture.md`).

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

/// One process's stat line, as the kernel keeps it.
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

/// A listening TCP socket: its port and the inode that leads to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub port: u16,
    pub inode: u64,
}
