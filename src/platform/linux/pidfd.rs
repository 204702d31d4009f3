//! A handle on one process that stays about that process even if its PID
//! is reused: a pidfd (`pidfd_open(2)`). It signals exactly that process
//! (`pidfd_send_signal(2)`) and becomes readable when it exits.

use std::os::fd::OwnedFd;

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal};

/// Why a process handle could not be had or used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcError {
    /// ESRCH: nothing there any more.
    Gone,
    /// EPERM: it exists but belongs to someone else.
    Denied,
    /// A PID that cannot name a process (0 or negative).
    BadPid,
    Other(Errno),
}

impl std::fmt::Display for ProcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProcError::Gone => write!(f, "no such process"),
            ProcError::Denied => write!(f, "not permitted"),
            ProcError::BadPid => write!(f, "not a process ID"),
            ProcError::Other(e) => write!(f, "{e}"),
        }
    }
}

fn proc_error(e: Errno) -> ProcError {
    match e {
        Errno::SRCH => ProcError::Gone,
        Errno::PERM => ProcError::Denied,
        e => ProcError::Other(e),
    }
}

/// The signals stigmer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signo {
    Term,
    Kill,
    Cont,
}

impl Signo {
    fn raw(self) -> Signal {
        match self {
            Signo::Term => Signal::TERM,
            Signo::Kill => Signal::KILL,
            Signo::Cont => Signal::CONT,
        }
    }
}

#[derive(Debug)]
pub struct ProcHandle(OwnedFd);

impl ProcHandle {
    /// Pins the process `pid` is now (blocking use: signals).
    pub fn open(pid: i32) -> Result<Self, ProcError> {
        Self::open_with(pid, PidfdFlags::empty())
    }

    fn open_with(pid: i32, flags: PidfdFlags) -> Result<Self, ProcError> {
        let p = Pid::from_raw(pid).ok_or(ProcError::BadPid)?;
        rustix::process::pidfd_open(p, flags)
            .map(ProcHandle)
            .map_err(proc_error)
    }

    /// Pins the process `pid` is now, to wait for its exit.
    pub fn watch(pid: i32) -> Result<Self, ProcError> {
        Self::open_with(pid, PidfdFlags::NONBLOCK)
    }

    /// Resolves when the pinned process has exited (the kernel tells,
    /// nothing polls). Needs a handle from [`ProcHandle::watch`].
    pub async fn exited(self) {
        // SAFETY: the AsyncFd owns the pidfd; nothing else can close it.
        if let Ok(afd) = unsafe { tokio::io::unix::AsyncFd::register(self.0) } {
            let _ = afd.readable().await;
        }
    }

    /// Signals exactly the pinned process.
    pub fn signal(&self, sig: Signo) -> Result<(), ProcError> {
        rustix::process::pidfd_send_signal(&self.0, sig.raw()).map_err(proc_error)
    }
}

/// Signals every process of the group `pgid` (groups have no pidfd: the
/// caller pins its leader first).
pub fn signal_group(pgid: i32, sig: Signo) -> Result<(), ProcError> {
    let p = Pid::from_raw(pgid).ok_or(ProcError::BadPid)?;
    rustix::process::kill_process_group(p, sig.raw()).map_err(proc_error)
}

/// `kill(-pgid, 0)`: does any process (zombies included) remain in the group?
pub fn group_exists(pgid: i32) -> bool {
    match Pid::from_raw(pgid) {
        Some(p) => !matches!(
            rustix::process::test_kill_process_group(p),
            Err(Errno::SRCH)
        ),
        None => false,
    }
}
