//! Stopping a service: SIGTERM + SIGCONT to its group (proven ours), SIGKILL
//! after the grace, then every tagged process left; stopped means the group
//! is empty, the lock free and the ports closed.

use super::*;

#[derive(Debug, Default, Clone)]
pub struct StopReport {
    pub was_running: bool,
    pub forced: bool,
    pub took: Duration,
    pub signalled: Vec<i32>,
}

/// Called while a stop waits, with the processes still alive.
pub type Progress<'a> = dyn FnMut(&[ProcEntry]) + Send + 'a;

/// Stops everything proven ours: the group (through its verified leader),
/// the rest of a group whose leader died, and tagged escapees. SIGTERM +
/// SIGCONT, up to `grace`, then SIGKILL. Done only when nothing is left, the
/// lock is free and the ports are closed.
pub async fn stop(
    ctx: &Ctx,
    grace: Duration,
    force: bool,
    progress: &mut Progress<'_>,
) -> Result<StopReport> {
    write_intent(ctx, Want::Stopped);
    let rec = pidfile::read(&ctx.spec.paths.pid).record().cloned();
    stop_record(ctx, rec.as_ref(), grace, force, progress).await
}

pub async fn stop_record(
    ctx: &Ctx,
    rec: Option<&PidRecord>,
    grace: Duration,
    force: bool,
    progress: &mut Progress<'_>,
) -> Result<StopReport> {
    let t0 = Instant::now();
    let mut report = StopReport::default();
    let alive = blocking(|| remaining(ctx, rec));
    report.was_running = !alive.is_empty();
    if report.was_running {
        let first = if force { Sig::Kill } else { Sig::Term };
        report.signalled = send_all(ctx, rec, &alive, first);
        if !force {
            send_all(ctx, rec, &alive, Sig::Cont);
        }
        let deadline = t0 + grace;
        let mut left = wait_gone(ctx, rec, deadline, progress).await;
        if !left.is_empty() {
            report.forced = true;
            tracing::warn!(
                "still alive after {grace:?}: {:?}; sending SIGKILL",
                pids(&left)
            );
            send_all(ctx, rec, &left, Sig::Kill);
            left = wait_gone(ctx, rec, Instant::now() + Duration::from_secs(5), progress).await;
        }
        if !left.is_empty() {
            anyhow::bail!(
                "could not stop PIDs {:?}; they may belong to another user",
                pids(&left)
            );
        }
        report.forced |= force;
        // Gone means kill(-pgid, 0) answers ESRCH, except for zombies whose
        // parent is another process (init, after `local start` detached): they
        // have exited and hold no lock, port or memory; only their parent can
        // reap them, and some inits do so lazily (seconds). Bounded either way.
        if let Some(r) = rec {
            poll_until(Duration::from_secs(3), Duration::from_millis(5), || {
                !crate::process::signal::group_exists(r.pgid) || only_foreign_zombies(r.pgid)
            })
            .await;
        }
    }
    // Stopped means: lock free and ports closed too.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let held = lock::is_held(&ctx.spec.paths.lock).unwrap_or(false);
        let listeners = ports::listeners();
        let open: Vec<u16> = ctx
            .spec
            .ports
            .iter()
            .map(|p| p.port)
            .filter(|p| listeners.iter().any(|l| l.port == *p))
            .collect();
        if !held && (open.is_empty() || !report.was_running) {
            break;
        }
        if Instant::now() >= deadline {
            if held {
                let st = inspect::inspect(ctx, None).await;
                anyhow::bail!(
                    "processes are gone but the lock is still held by {:?}; run `stigmer local status`",
                    st.lock.holders.iter().map(|h| (h.pid, h.cmd.clone())).collect::<Vec<_>>()
                );
            }
            anyhow::bail!("processes are gone but ports {open:?} are still open");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = pidfile::remove(&ctx.spec.paths.pid);
    report.took = t0.elapsed();
    Ok(report)
}

/// After the leader died: SIGKILL whatever is left of its group (and its
/// tagged escapees) before anything is restarted. Bounded to 2 s; normally
/// nothing is left and this is one `/proc` pass.
pub fn reap(ctx: &Ctx, rec: Option<&PidRecord>) -> Vec<i32> {
    // Only what belongs to the instance that died: its group and processes
    // carrying its own tag. Never another instance (another supervisor may
    // have started one), and nothing at all without a record.
    let Some(r) = rec else { return vec![] };
    // Fast path, the usual case: kill(-pgid, 0) says the group is empty.
    if !crate::process::signal::group_exists(r.pgid) {
        return vec![];
    }
    let of_instance = |v: Vec<ProcEntry>| -> Vec<ProcEntry> {
        v.into_iter()
            .filter(|p| p.pgid == r.pgid || p.tag.as_deref() == Some(r.tag.as_str()))
            .collect()
    };
    let left = of_instance(remaining(ctx, rec));
    if left.is_empty() {
        return vec![];
    }
    let killed: Vec<i32> = left
        .iter()
        .filter(|p| signal_ours(ctx, p, Sig::Kill) == SignalOutcome::Sent)
        .map(|p| p.pid)
        .collect();
    crate::util::wait::poll_until_blocking(
        Duration::from_secs(2),
        Duration::from_millis(5),
        || {
            !killed
                .iter()
                .any(|pid| crate::process::read_stat(*pid).is_ok_and(|s| !s.is_zombie()))
        },
    );
    killed
}

/// Is every process left in `pgid` a zombie that someone else must reap?
fn only_foreign_zombies(pgid: i32) -> bool {
    let me = std::process::id() as i32;
    let Ok(pids) = crate::platform::pids() else {
        return false;
    };
    pids.filter_map(|pid| crate::process::read_stat(pid).ok())
        .filter(|st| st.pgid == pgid)
        .all(|st| st.is_zombie() && st.ppid != me)
}

fn pids(v: &[ProcEntry]) -> Vec<i32> {
    v.iter().map(|p| p.pid).collect()
}

/// Processes of ours still alive (zombies excluded): the recorded group and
/// every tagged process of this state dir.
pub fn remaining(ctx: &Ctx, rec: Option<&PidRecord>) -> Vec<ProcEntry> {
    let pgids: Vec<i32> = rec.map(|r| r.pgid).into_iter().collect();
    // Untagged members count only while a live, tag-proven leader pins the
    // group: a zombie leader proves nothing about who is in its group now.
    let leader_ok =
        rec.is_some_and(|r| matches!(r.identity(&ctx.spec.tag_prefix).verify(), Verdict::Match(_)));
    let s = crate::process::scan::scan(&crate::process::ScanRequest {
        tag_var: TAG_VAR,
        tag_prefix: &ctx.spec.tag_prefix,
        pgids: &pgids,
        lock_path: None,
        socket_inodes: &[],
    });
    s.procs
        .into_iter()
        .filter(|p| !matches!(p.state, 'Z' | 'X'))
        // In the recorded group, untagged processes count only while the
        // leader proves the group is still ours.
        .filter(|p| p.tag.is_some() || (leader_ok && Some(p.pgid) == pgids.first().copied()))
        .collect()
}

/// Signals a process proven ours by this state dir's tag (re-checked).
pub(super) fn signal_ours(ctx: &Ctx, p: &ProcEntry, sig: Sig) -> SignalOutcome {
    signal_tagged(p.pid, p.start_ticks, TAG_VAR, &ctx.spec.tag_prefix, sig)
}

fn send_all(ctx: &Ctx, rec: Option<&PidRecord>, targets: &[ProcEntry], sig: Sig) -> Vec<i32> {
    let mut sent = Vec::new();
    let mut group_done = false;
    if let Some(r) = rec {
        match signal_group(&r.identity(&ctx.spec.tag_prefix), sig) {
            SignalOutcome::Sent => {
                group_done = true;
                sent.push(-r.pgid);
            }
            SignalOutcome::Gone => {}
            other => tracing::debug!("group {} not signalled: {other:?}", r.pgid),
        }
    }
    for p in targets {
        if group_done && rec.is_some_and(|r| r.pgid == p.pgid) {
            continue;
        }
        if p.tag.is_none() {
            continue;
        }
        match signal_ours(ctx, p, sig) {
            SignalOutcome::Sent => sent.push(p.pid),
            other => tracing::debug!("PID {} not signalled: {other:?}", p.pid),
        }
    }
    sent
}

async fn wait_gone(
    ctx: &Ctx,
    rec: Option<&PidRecord>,
    deadline: Instant,
    progress: &mut Progress<'_>,
) -> Vec<ProcEntry> {
    loop {
        let left = blocking(|| remaining(ctx, rec));
        progress(&left);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
