//! Sending signals only to processes proven ours.
//!
//! A process is addressed through a pidfd opened *before* its identity is
//! checked, so the check and the signal are about the same process even if
//! the PID is recycled in between. "Proven ours" always includes our
//! environment tag read from the process itself. Groups have no pidfd: a
//! group is signalled only while its leader is alive and proven ours (a live
//! leader pins its PGID); a zombie leader proves nothing.

use crate::platform::{ProcError, ProcHandle, Signo};

use super::identity::{proc_uid, read_env_var, read_stat, Identity, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
    Cont,
}

impl Sig {
    fn signo(self) -> Signo {
        match self {
            Sig::Term => Signo::Term,
            Sig::Kill => Signo::Kill,
            Sig::Cont => Signo::Cont,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Sig::Term => "SIGTERM",
            Sig::Kill => "SIGKILL",
            Sig::Cont => "SIGCONT",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalOutcome {
    Sent,
    /// ESRCH: nothing there any more.
    Gone,
    /// EPERM: it exists but belongs to someone else.
    Denied,
    /// Not sent: not proven ours, or a PID we never signal.
    Refused(String),
}

/// PIDs and groups we never signal: init, "everyone", ourselves.
pub fn forbidden(id: i32) -> Option<String> {
    let own_pid = std::process::id() as i32;
    let own_pgid = rustix::process::getpgrp().as_raw_nonzero().get();
    if id <= 1 {
        Some(format!("refusing to signal PID/PGID {id}"))
    } else if id == own_pid || id == own_pgid {
        Some(format!(
            "refusing to signal {id}: that is this program's own process or group"
        ))
    } else {
        None
    }
}

fn open_pidfd(pid: i32) -> Result<ProcHandle, SignalOutcome> {
    ProcHandle::open(pid).map_err(|e| match e {
        ProcError::BadPid => SignalOutcome::Refused(format!("bad PID {pid}")),
        e => errno_outcome(e),
    })
}

fn errno_outcome(e: ProcError) -> SignalOutcome {
    match e {
        ProcError::Gone => SignalOutcome::Gone,
        ProcError::Denied => SignalOutcome::Denied,
        e => SignalOutcome::Refused(format!("signal failed: {e}")),
    }
}

fn same_user(pid: i32) -> Result<(), SignalOutcome> {
    match proc_uid(pid) {
        Some(uid) if uid == rustix::process::geteuid().as_raw() => Ok(()),
        Some(uid) => Err(SignalOutcome::Refused(format!(
            "PID {pid} belongs to uid {uid}, not us"
        ))),
        None => Err(SignalOutcome::Gone),
    }
}

/// Signals one process whose identity matches.
pub fn signal_process(id: &Identity, sig: Sig) -> SignalOutcome {
    if let Some(why) = forbidden(id.pid) {
        return SignalOutcome::Refused(why);
    }
    let fd = match open_pidfd(id.pid) {
        Ok(fd) => fd,
        Err(o) => return o,
    };
    match id.verify() {
        Verdict::Match(_) => {}
        // It has exited; nothing is left to signal.
        Verdict::Zombie | Verdict::Gone => return SignalOutcome::Gone,
        Verdict::Mismatch(why) => return SignalOutcome::Refused(why),
    }
    if let Err(o) = same_user(id.pid) {
        return o;
    }
    match fd.signal(sig.signo()) {
        Ok(()) => SignalOutcome::Sent,
        Err(e) => errno_outcome(e),
    }
}

/// Signals the whole group led by `leader`, after proving the leader ours
/// and still the leader of that group.
pub fn signal_group(leader: &Identity, sig: Sig) -> SignalOutcome {
    let pgid = leader.pid;
    if let Some(why) = forbidden(pgid) {
        return SignalOutcome::Refused(why);
    }
    let _pin = match open_pidfd(pgid) {
        Ok(fd) => fd,
        Err(o) => return o,
    };
    match leader.verify() {
        Verdict::Match(st) if st.pgid == pgid => {}
        Verdict::Match(st) => {
            return SignalOutcome::Refused(format!(
                "PID {pgid} left its group (now in {})",
                st.pgid
            ))
        }
        Verdict::Zombie => {
            return SignalOutcome::Refused(format!(
                "group {pgid}: its leader has exited, so nothing proves the group ours; \
                 its tagged members are signalled one by one"
            ))
        }
        Verdict::Gone => return SignalOutcome::Gone,
        Verdict::Mismatch(why) => return SignalOutcome::Refused(why),
    }
    if let Err(o) = same_user(pgid) {
        return o;
    }
    match crate::platform::signal_group(pgid, sig.signo()) {
        Ok(()) => SignalOutcome::Sent,
        Err(ProcError::BadPid) => SignalOutcome::Refused(format!("bad PGID {pgid}")),
        Err(e) => errno_outcome(e),
    }
}

/// Signals a process proven ours by the environment tag it inherited (for
/// escaped and orphaned processes, whose leader may be gone).
pub fn signal_tagged(
    pid: i32,
    start_ticks: u64,
    tag_var: &str,
    tag_prefix: &str,
    sig: Sig,
) -> SignalOutcome {
    if let Some(why) = forbidden(pid) {
        return SignalOutcome::Refused(why);
    }
    let fd = match open_pidfd(pid) {
        Ok(fd) => fd,
        Err(o) => return o,
    };
    match read_stat(pid) {
        Ok(st) if st.start_ticks == start_ticks => {}
        Ok(_) => return SignalOutcome::Refused(format!("PID {pid} was reused")),
        Err(_) => return SignalOutcome::Gone,
    }
    if let Err(o) = same_user(pid) {
        return o;
    }
    match read_env_var(pid, tag_var) {
        Some(tag) if tag.starts_with(tag_prefix) && !tag_prefix.is_empty() => {}
        _ => return SignalOutcome::Refused(format!("PID {pid} does not carry our tag")),
    }
    match fd.signal(sig.signo()) {
        Ok(()) => SignalOutcome::Sent,
        Err(e) => errno_outcome(e),
    }
}

pub use crate::platform::group_exists;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_signals_init_everyone_or_ourselves() {
        for pid in [-1, 0, 1, std::process::id() as i32] {
            let id = Identity {
                pid,
                start_ticks: 0,
                boot_id: super::super::boot_id().into(),
                tag: Some("t".into()),
            };
            assert!(
                matches!(signal_process(&id, Sig::Kill), SignalOutcome::Refused(_)),
                "{pid}"
            );
            assert!(
                matches!(signal_group(&id, Sig::Kill), SignalOutcome::Refused(_)),
                "{pid}"
            );
        }
        let own_group = rustix::process::getpgrp().as_raw_nonzero().get();
        assert!(forbidden(own_group).is_some());
    }

    #[test]
    fn a_reused_pid_or_an_untagged_process_is_refused_and_survives() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let untagged = Identity::of(pid).unwrap();
        assert_eq!(untagged.tag, None);
        assert!(matches!(
            signal_process(&untagged, Sig::Kill),
            SignalOutcome::Refused(_)
        ));
        assert!(matches!(
            signal_group(&untagged, Sig::Kill),
            SignalOutcome::Refused(_)
        ));
        // Same start time and boot, but another process's tag: a stranger.
        let forged = Identity {
            tag: Some("temporal:x:y".into()),
            ..untagged.clone()
        };
        assert!(matches!(
            signal_process(&forged, Sig::Kill),
            SignalOutcome::Refused(_)
        ));
        assert!(child.try_wait().unwrap().is_none());
        let _ = child.kill();
        let _ = child.wait();

        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(super::super::identity::TAG_VAR, "t:real")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let real = Identity {
            tag: Some("t:real".into()),
            ..Identity::of(pid).unwrap()
        };
        let stale = Identity {
            start_ticks: real.start_ticks.wrapping_sub(7),
            ..real.clone()
        };
        assert!(matches!(
            signal_process(&stale, Sig::Kill),
            SignalOutcome::Refused(_)
        ));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the stranger must survive"
        );
        assert_eq!(
            signal_process(&real, Sig::Kill),
            SignalOutcome::Sent,
            "{real:?} {:?}",
            real.verify()
        );
        child.wait().unwrap();
        assert_eq!(signal_process(&real, Sig::Kill), SignalOutcome::Gone);
    }
}
