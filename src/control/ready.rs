//! The readiness pipe between a `local start` and the detached supervisor
//! it starts (docs/supervisor.md, "Starting one"): the supervisor writes one
//! word on an inherited descriptor when its socket listens, then closes it,
//! as s6's notification-fd does. No polling for the socket file.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The descriptor number the supervisor is given its end on.
pub const READY_FD: RawFd = 3;

/// What the supervisor said before it closed its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Its socket listens.
    Ready,
    /// It supervises without a socket (it said why in its log).
    NoSocket,
    /// It closed the pipe saying nothing: it exited, or it lost the race
    /// for the supervisor lock.
    Ended,
}

impl Notice {
    fn word(self) -> &'static str {
        match self {
            Notice::Ready => "ready\n",
            Notice::NoSocket => "no-socket\n",
            Notice::Ended => "",
        }
    }

    fn parse(bytes: &[u8]) -> Notice {
        match bytes {
            b"ready\n" => Notice::Ready,
            b"no-socket\n" => Notice::NoSocket,
            _ => Notice::Ended,
        }
    }
}

/// The supervisor's end: taken once, at start-up, before anything is
/// spawned (it is made close-on-exec so that no service inherits it).
#[derive(Debug)]
pub struct Notifier(OwnedFd);

impl Notifier {
    /// Takes descriptor `fd` if it is open and a pipe; anything else is
    /// left alone (`Err` says what it is).
    pub fn take(fd: RawFd) -> Result<Notifier, String> {
        if fd <= 2 {
            return Err(format!("--ready-fd {fd} is a standard stream"));
        }
        // SAFETY: only borrowed, for the checks; ownership is taken below
        // once the descriptor is known to be an open FIFO.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        rustix::io::fcntl_getfd(borrowed).map_err(|e| format!("--ready-fd {fd}: {e}"))?;
        let st = rustix::fs::fstat(borrowed).map_err(|e| format!("--ready-fd {fd}: {e}"))?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Fifo {
            return Err(format!("--ready-fd {fd} is not a pipe"));
        }
        rustix::io::fcntl_setfd(borrowed, rustix::io::FdFlags::CLOEXEC)
            .map_err(|e| format!("--ready-fd {fd}: {e}"))?;
        // SAFETY: open, ours (inherited for this purpose), owned only here.
        Ok(Notifier(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Says `notice` and closes the pipe. A reader that is gone is no
    /// error of ours (the pipe's SIGPIPE is ignored by Rust's runtime).
    pub fn say(self, notice: Notice) {
        let _ = rustix::io::write(&self.0, notice.word().as_bytes());
    }
}

/// The client's ends: `read` stays here, `write` goes to the child as
/// [`READY_FD`] (both close-on-exec until then).
pub struct Pipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
}

impl Pipe {
    pub fn new() -> io::Result<Pipe> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        Ok(Pipe { read, write })
    }

    /// Runs in the forked child before exec (only raw syscalls): puts the
    /// write end at [`READY_FD`], open across exec.
    pub fn install_in_child(write: RawFd) -> io::Result<()> {
        if write == READY_FD {
            // SAFETY: our own descriptor, open in the child.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(write) };
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
            return Ok(());
        }
        // SAFETY: the target number is only written to by dup2 and never
        // closed here (ManuallyDrop); the source is ours and open.
        let mut target = std::mem::ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(READY_FD) });
        let src = unsafe { std::os::fd::BorrowedFd::borrow_raw(write) };
        rustix::io::dup2(src, &mut target)?; // dup2 leaves the copy open on exec
        Ok(())
    }
}

/// Waits, bounded, for what the supervisor says on `read` (its write end
/// must already be closed here). A timeout is `None`.
pub async fn wait_notice(read: OwnedFd, timeout: Duration) -> Option<Notice> {
    use tokio::io::AsyncReadExt;
    let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(read).ok()?;
    let mut buf = Vec::with_capacity(16);
    let read = async {
        let mut chunk = [0u8; 16];
        loop {
            match rx.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.ends_with(b"\n") || buf.len() >= 16 {
                        break;
                    }
                }
            }
        }
    };
    tokio::time::timeout(timeout, read).await.ok()?;
    Some(Notice::parse(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[tokio::test]
    async fn a_notice_crosses_the_pipe_and_a_closed_pipe_is_ended() {
        let p = Pipe::new().unwrap();
        let n = Notifier(p.write);
        n.say(Notice::Ready);
        assert_eq!(
            wait_notice(p.read, Duration::from_secs(1)).await,
            Some(Notice::Ready)
        );
        let p = Pipe::new().unwrap();
        drop(p.write);
        assert_eq!(
            wait_notice(p.read, Duration::from_secs(1)).await,
            Some(Notice::Ended)
        );
        let p = Pipe::new().unwrap();
        Notifier(p.write).say(Notice::NoSocket);
        assert_eq!(
            wait_notice(p.read, Duration::from_secs(1)).await,
            Some(Notice::NoSocket)
        );
        // Silence is bounded.
        let p = Pipe::new().unwrap();
        let t0 = std::time::Instant::now();
        assert_eq!(wait_notice(p.read, Duration::from_millis(50)).await, None);
        assert!(t0.elapsed() < Duration::from_secs(1));
        drop(p.write);
    }

    #[test]
    fn only_an_open_pipe_is_taken() {
        assert!(Notifier::take(1).unwrap_err().contains("standard"));
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        let raw = f.as_raw_fd();
        assert!(Notifier::take(raw).unwrap_err().contains("not a pipe"));
        drop(f);
        let p = Pipe::new().unwrap();
        let raw = p.write.as_raw_fd();
        let n = Notifier::take(raw).unwrap();
        std::mem::forget(p.write); // now owned by `n`
        let flags = rustix::io::fcntl_getfd(&n.0).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
        n.say(Notice::Ready);
    }
}
