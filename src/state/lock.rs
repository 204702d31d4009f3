//! The lock file that lives exactly as long as the service.
//!
//! The service's child process takes `LOCK_EX|LOCK_NB` on an inherited
//! descriptor just before exec (see `lifecycle::spawn`); the kernel drops the
//! lock when the last holder dies, `kill -9` included. We ask "is it held?"
//! through `/proc/locks` by the file's device and inode, which never takes or
//! disturbs the lock, and find the holders through `/proc/*/fdinfo` (the PID
//! column of `/proc/locks` names whoever *took* the lock, who may be gone).
//! The file is never deleted: two starters could otherwise lock two inodes.

use std::fs::File;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use crate::state::open_private;

/// Is any flock held on this file right now? Never takes the lock itself;
/// a symlink or anything but a regular file is an error, never followed.
pub fn is_held(path: &Path) -> io::Result<bool> {
    match crate::state::check_regular(path) {
        Ok(meta) => crate::platform::flock_held(&meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Is the lock held? Asked by taking it for an instant (and letting go):
/// no RCU grace period like a `/proc/locks` read (10–20 ms on a busy
/// machine), but it disturbs the lock, so only a caller that holds the
/// service's start lock may ask this way — every spawn (the only other
/// taker) happens under that lock.
pub fn is_held_as_starter(path: &Path) -> io::Result<bool> {
    match crate::state::check_regular(path) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    match try_hold(path) {
        Ok(_) => Ok(false),
        Err(LockError::Busy(_)) => Ok(true),
        Err(LockError::Io { source, .. }) => Err(source),
    }
}

/// Opens the service lock file for handing to the child (close-on-exec until
/// the child clears it).
pub fn open_service_lock(path: &Path) -> io::Result<File> {
    open_private(path, false)
}

/// Runs in the forked child before exec: make the lock descriptor survive
/// exec and take the lock, failing the spawn with EWOULDBLOCK if held.
/// Only raw syscalls here: this runs between fork and exec.
pub fn take_in_child(fd: RawFd) -> io::Result<()> {
    // SAFETY: the descriptor was opened by the parent and is open in the child.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
    rustix::fs::flock(fd, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
    Ok(())
}

/// A lock held by this process for a while (supervisor or start lock). It is
/// released when dropped or when this process dies.
#[derive(Debug)]
pub struct HeldLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{0} is held by another process")]
    Busy(String),
    #[error("cannot open lock file {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// Takes an exclusive lock without waiting.
pub fn try_hold(path: &Path) -> Result<HeldLock, LockError> {
    let file = open_private(path, false).map_err(|source| LockError::Io {
        path: path.display().to_string(),
        source,
    })?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(HeldLock { _file: file }),
        Err(fs4::TryLockError::WouldBlock) => Err(LockError::Busy(path.display().to_string())),
        Err(fs4::TryLockError::Error(source)) => Err(LockError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Takes an exclusive lock, waiting at most `timeout`.
pub async fn hold_within(path: &Path, timeout: Duration) -> Result<HeldLock, LockError> {
    let mut last = None;
    crate::util::wait::poll_until(timeout, Duration::from_millis(10), || {
        let r = try_hold(path);
        let busy = matches!(r, Err(LockError::Busy(_)));
        last = Some(r);
        !busy
    })
    .await;
    last.unwrap_or_else(|| try_hold(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_is_seen_without_disturbing_the_lock() {
        let path = std::env::temp_dir().join(format!("stigmer-lock-{}.lock", std::process::id()));
        assert!(!is_held(&path).unwrap(), "a missing file is not held");
        let held = try_hold(&path).unwrap();
        assert!(is_held(&path).unwrap());
        assert!(matches!(try_hold(&path), Err(LockError::Busy(_))));
        assert!(is_held_as_starter(&path).unwrap());
        assert!(
            is_held(&path).unwrap(),
            "asking left the holder's lock alone"
        );
        drop(held);
        assert!(!is_held(&path).unwrap());
        assert!(!is_held_as_starter(&path).unwrap());
        assert!(!is_held(&path).unwrap(), "asking let go");
        let _ = std::fs::remove_file(&path);
    }
}
