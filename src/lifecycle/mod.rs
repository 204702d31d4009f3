//! The lifecycle operations — spawn, wait for readiness, stop, clean — shared
//! by the one-shot CLI commands and the supervisor actor, so there is exactly
//! one implementation of each rule.
//!
//! `clean`: the pure plan of what a clean removes or kills; `ops`: the
//! stack-wide start and stop in dependency order.

pub(crate) mod clean;
pub(crate) mod ops;

use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub use crate::config::service::Ctx;
use crate::config::service::{Readiness, ServiceSpec, TAG_VAR};
pub use crate::lifecycle::clean::CleanPlan;
use crate::probe::inspect::{self, now_ms, LockCheck, State, Status};
use crate::probe::ports;
use crate::process::scan::ProcEntry;
use crate::process::signal::{signal_group, signal_tagged, Sig, SignalOutcome};
use crate::process::{Identity, Verdict};
use crate::state::lock;
use crate::state::pidfile::{self, PidRecord, PortRecord};
use crate::state::{read_capped, write_atomic};
use crate::util::blocking::blocking;
use crate::util::wait::poll_until;

/// Why one service's start or stop failed: the whole text a user reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Failure(pub String);

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{0}")]
    NoProgram(String),
    #[error(
        "{service}: {role} port {port} is already in use by {owner}; stop that program or {fix}"
    )]
    PortBusy {
        service: String,
        role: &'static str,
        port: u16,
        owner: String,
        fix: &'static str,
    },
    #[error("already running: the lock {0} is held")]
    LockHeld(String),
    /// A state file (log, lock) that cannot be used; the text names it.
    #[error("{0}")]
    StateFile(String),
    #[error("cannot start {program}: {source}")]
    Io {
        program: String,
        source: std::io::Error,
    },
}

impl SpawnError {
    /// Errors that retrying cannot fix.
    pub fn is_fatal(&self) -> bool {
        matches!(self, SpawnError::NoProgram(_) | SpawnError::StateFile(_))
    }
}

/// What the user last asked for. A supervisor never restarts a service that
/// was stopped on purpose, even by another command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Want {
    Running,
    Stopped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Intent {
    pub want: Want,
    pub at_ms: u64,
}

pub fn write_intent(ctx: &Ctx, want: Want) {
    let intent = Intent {
        want,
        at_ms: now_ms(),
    };
    if let Ok(bytes) = serde_json::to_vec(&intent) {
        if let Err(e) = write_atomic(&ctx.spec.paths.intent, &bytes) {
            tracing::warn!("could not record intent: {e}");
        }
    }
}

pub fn read_intent(ctx: &Ctx) -> Option<Intent> {
    let bytes = read_capped(&ctx.spec.paths.intent, 4096).ok()?;
    Intent::parse(&bytes)
}

impl Intent {
    /// `None` for anything but a valid intent; never panics.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// Was a stop asked for after `since_ms`?
pub fn stop_requested_since(ctx: &Ctx, since_ms: u64) -> bool {
    read_intent(ctx).is_some_and(|i| i.want == Want::Stopped && i.at_ms >= since_ms)
}

/// Refuses to start while one of our ports is taken, naming the holder.
pub fn check_ports(spec: &ServiceSpec) -> Result<(), SpawnError> {
    if spec.ports.iter().all(|p| ports::bindable(p.port)) {
        return Ok(());
    }
    let listeners = ports::listeners();
    for p in &spec.ports {
        if let Some(l) = listeners.iter().find(|l| l.port == p.port) {
            let owners = crate::process::scan::scan(&crate::process::ScanRequest {
                tag_var: TAG_VAR,
                tag_prefix: &spec.tag_prefix,
                pgids: &[],
                lock_path: None,
                socket_inodes: &[l.inode],
            });
            let owner = owners
                .socket_owners
                .get(&l.inode)
                .and_then(|pid| owners.get(*pid))
                .map(|e| format!("PID {} ({})", e.pid, e.cmd))
                .unwrap_or_else(|| "a process we cannot see (another user or namespace)".into());
            return Err(SpawnError::PortBusy {
                service: spec.name.clone(),
                role: p.role.name(),
                port: p.port,
                owner,
                fix: if p.role == ports::PortRole::Port {
                    "change `ports` of this service in the config"
                } else {
                    "choose another port with --port"
                },
            });
        }
    }
    Ok(())
}

pub struct Spawned {
    pub child: tokio::process::Child,
    pub record: PidRecord,
    /// The log's length at spawn: what this run wrote starts here.
    pub log_offset: u64,
}

/// Starts the service in its own session and group, holding the lock, with
/// output appended to its log, and records it in the PID file. Fails with
/// `LockHeld` if another copy holds the lock — the lock, taken in the child
/// before exec, is what makes a second copy impossible.
pub fn spawn(ctx: &Ctx) -> Result<Spawned, SpawnError> {
    let spec = &ctx.spec;
    let program = spec
        .program
        .clone()
        .map_err(|e| SpawnError::NoProgram(e.0))?;
    if let Some(dir) = spec.cwd.as_ref().filter(|d| !d.is_dir()) {
        return Err(SpawnError::NoProgram(format!(
            "{}: its working directory {} does not exist; fix cwd in the config",
            spec.name,
            dir.display()
        )));
    }
    check_ports(spec)?;
    let io_err = |source| SpawnError::Io {
        program: program.display().to_string(),
        source,
    };
    let state_file = |path: std::path::PathBuf| {
        move |e: std::io::Error| SpawnError::StateFile(crate::state::refusal(&path, &e))
    };
    let log = crate::state::open_private(&ctx.spec.paths.log, true)
        .map_err(state_file(ctx.spec.paths.log.clone()))?;
    let log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
    let log2 = log.try_clone().map_err(io_err)?;
    let lock_file = lock::open_service_lock(&ctx.spec.paths.lock)
        .map_err(state_file(ctx.spec.paths.lock.clone()))?;
    let lock_fd = lock_file.as_raw_fd();
    let tag = spec.new_tag();

    let mut cmd = tokio::process::Command::new(&program);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env(TAG_VAR, &tag)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .kill_on_drop(false);
    // SAFETY: only async-signal-safe syscalls run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::setsid()?;
            lock::take_in_child(lock_fd)
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.raw_os_error() == Some(nix::libc::EWOULDBLOCK) => {
            return Err(SpawnError::LockHeld(
                ctx.spec.paths.lock.clone().display().to_string(),
            ))
        }
        Err(e) => return Err(io_err(e)),
    };
    // The child holds the lock now; our copy must go (never unlocked: that
    // would release the child's lock too, as they share the open file).
    drop(lock_file);
    let pid = child.id().map(|p| p as i32).unwrap_or(0);
    let identity = Identity::of(pid).unwrap_or(Identity {
        pid,
        start_ticks: 0,
        boot_id: crate::process::boot_id().into(),
        tag: None,
    });
    let mut cmdline = vec![program.display().to_string()];
    cmdline.extend(spec.args.iter().cloned());
    let record = PidRecord {
        service: spec.name.clone(),
        pid,
        pgid: pid,
        sid: pid,
        start_ticks: identity.start_ticks,
        boot_id: identity.boot_id,
        cmdline,
        ports: spec
            .ports
            .iter()
            .map(|p| PortRecord {
                role: p.role.name().into(),
                port: p.port,
            })
            .collect(),
        version: env!("CARGO_PKG_VERSION").into(),
        started_at_ms: now_ms(),
        started_by_pid: std::process::id() as i32,
        started_by: std::env::args().collect::<Vec<_>>().join(" "),
        tag,
        ready_at_ms: None,
        log_offset: Some(log_offset),
    };
    if let Err(e) = pidfile::write(&ctx.spec.paths.pid, &record) {
        tracing::warn!("could not write PID file: {e}");
    }
    tracing::info!(pid, "spawned {}", spec.name);
    Ok(Spawned {
        child,
        record,
        log_offset,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ReadyError {
    #[error("the service exited before it became ready")]
    Exited,
    #[error("not ready after {0:?}: {1}")]
    Timeout(Duration, String),
}

/// Checks readiness until it passes, the leader dies, or the deadline
/// passes. Network checks are retried every 2 ms (a refused connection on
/// loopback costs microseconds), a program every 250 ms; a log is followed
/// every 2 ms.
pub async fn wait_ready(
    ctx: &Ctx,
    rec: &PidRecord,
    timeout: Duration,
) -> Result<Duration, ReadyError> {
    let t0 = Instant::now();
    let identity = rec.identity(&ctx.spec.tag_prefix);
    let every = match &ctx.spec.readiness {
        // A refused connect or reading what a log gained since the last
        // look costs microseconds; a dependent's start waits on this.
        Readiness::Http { .. } | Readiness::Tcp(_) | Readiness::Log(_) => Duration::from_millis(2),
        Readiness::Exec(_) => Duration::from_millis(250),
        Readiness::Uptime(_) => Duration::from_millis(20),
    };
    let mut tail =
        crate::logs::tail::LogTail::from_offset(&ctx.spec.paths.log, rec.log_offset.unwrap_or(0));
    loop {
        let result = match &ctx.spec.readiness {
            Readiness::Log(re) => match tail.poll().iter().find(|l| re.is_match(l)) {
                Some(l) => Ok(format!("log: {}", crate::util::output::short(l, 80))),
                None => Err(crate::probe::CheckFailed(format!(
                    "no log line matches /{re}/ yet"
                ))),
            },
            _ => crate::probe::ready::probe_until(&ctx.spec, rec, t0 + timeout).await,
        };
        // A check can pass on a port or a log line left by a dead process.
        if !matches!(identity.verify(), Verdict::Match(_)) {
            return Err(ReadyError::Exited);
        }
        match result {
            Ok(_) => {
                let path = &ctx.spec.paths.pid;
                if let Err(e) = pidfile::mark_ready(path, rec.pid, now_ms()) {
                    tracing::warn!("could not record readiness in {}: {e}", path.display());
                }
                return Ok(t0.elapsed());
            }
            Err(last) if t0.elapsed() >= timeout => {
                return Err(ReadyError::Timeout(timeout, last.0))
            }
            Err(_) => tokio::time::sleep(every).await,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum StartOutcome {
    Started { pid: i32, ready_in: Duration },
    Reused { pid: i32 },
}

/// `stigmer local start`: idempotent, serialised with other starters.
pub async fn start(ctx: &Ctx) -> Result<StartOutcome> {
    start_notify(ctx, || {}).await
}

/// `start`, calling `on_running` once a process of the service runs (spawned
/// or found), before it is ready: what a `started` dependency waits for.
pub async fn start_notify(ctx: &Ctx, on_running: impl FnOnce()) -> Result<StartOutcome> {
    write_intent(ctx, Want::Running);
    let _guard = lock::hold_within(&ctx.spec.paths.start_lock, Duration::from_secs(120))
        .await
        .context("waiting for another start to finish")?;
    let mut st = inspect::inspect_with(ctx, LockCheck::AsStarter, None).await;
    if st.state == State::Unhealthy && dying_instance(ctx, &st) {
        // Our own instance is being torn down (say, `kill -9`): the kernel
        // drops its lock when the last holder is gone. Wait, bounded.
        let lock_path = ctx.spec.paths.lock.clone();
        poll_until(Duration::from_secs(5), Duration::from_millis(10), || {
            !lock::is_held(&lock_path).unwrap_or(true)
        })
        .await;
        st = inspect::inspect_with(ctx, LockCheck::AsStarter, None).await;
    }
    match st.state {
        State::Running => {
            let pid = st.pid.unwrap_or_default();
            return Ok(StartOutcome::Reused { pid });
        }
        State::Starting => {
            on_running();
            let rec = st.record().cloned().context("PID file vanished")?;
            let left = ctx.spec.ready_timeout.saturating_sub(Duration::from_millis(
                now_ms().saturating_sub(rec.started_at_ms),
            ));
            wait_ready(ctx, &rec, left).await.with_context(|| {
                format!(
                    "{} (PID {}) is starting but did not become ready",
                    ctx.spec.name, rec.pid
                )
            })?;
            return Ok(StartOutcome::Reused { pid: rec.pid });
        }
        State::Unhealthy => {
            anyhow::bail!(
                "{}",
                st.advice
                    .clone()
                    .unwrap_or_else(|| "service is unhealthy".into())
            )
        }
        State::Stale | State::Stopped | State::Failed => {}
    }
    let cleaned = blocking(|| clean_from(ctx, &st, false));
    for line in &cleaned.actions {
        tracing::info!("clean: {line}");
    }
    let spawned = blocking(|| spawn(ctx))?;
    on_running();
    let rec = spawned.record.clone();
    let spawned_offset = spawned.log_offset;
    // A one-shot start leaves it running: its supervisor adopts it (our
    // process ends; the kernel reparents it).
    let _child = spawned.child;
    match wait_ready(ctx, &rec, ctx.spec.ready_timeout).await {
        Ok(d) => Ok(StartOutcome::Started {
            pid: rec.pid,
            ready_in: d,
        }),
        Err(e) => {
            let _ = stop_record(ctx, Some(&rec), Duration::ZERO, true, &mut |_| {}).await;
            Err(anyhow::anyhow!(
                "{} did not start: {e}{}",
                ctx.spec.name,
                why_it_died(ctx, spawned_offset)
            ))
        }
    }
}

/// What a user needs on screen when a service dies young: a full disk, and
/// the last lines this run wrote to its log.
pub fn why_it_died(ctx: &Ctx, log_offset: u64) -> String {
    use std::fmt::Write as _;
    let state = &ctx.settings.state;
    let mut out = String::new();
    if let Some(note) = crate::state::disk_full_note(state.root()) {
        let _ = write!(out, "; {note}");
    }
    let path = ctx.spec.paths.log.clone();
    let lines = crate::logs::tail::LogTail::lines_since(&path, log_offset, 12);
    if lines.is_empty() {
        let _ = write!(out, "\n(it wrote nothing to its log {})", path.display());
    } else {
        let _ = write!(out, "\nlast lines of its log {}:", path.display());
        for l in lines {
            let _ = write!(out, "\n  | {}", crate::util::output::short(&l, 300));
        }
    }
    out
}

/// The lock is held, but by nothing that will serve again: the leader has
/// exited and every holder left is ours and dying (or already gone from the
/// fd tables: the kernel releases the lock last). An environment that can no
/// longer be read is a dying process's, not a stranger's.
fn dying_instance(ctx: &Ctx, st: &Status) -> bool {
    !st.leader_alive()
        && st.lock.holders.iter().all(|h| {
            let dying = crate::process::read_stat(h.pid).map_or(true, |s| s.is_dying());
            let ours = crate::process::identity::read_env(h.pid, TAG_VAR)
                .is_none_or(|t| t.is_some_and(|t| t.starts_with(&ctx.spec.tag_prefix)));
            dying && ours
        })
}

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
fn signal_ours(ctx: &Ctx, p: &ProcEntry, sig: Sig) -> SignalOutcome {
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

/// Plans the removal of stale state ([`crate::lifecycle::clean::plan`]) and, unless
/// `dry_run`, carries it out: every kill re-proves the process ours.
pub fn clean_from(ctx: &Ctx, st: &Status, dry_run: bool) -> CleanPlan {
    let plan = crate::lifecycle::clean::plan(st);
    if dry_run {
        return plan;
    }
    for t in &plan.remove_temp {
        let _ = std::fs::remove_file(t);
    }
    let rec = st.record();
    for p in &plan.kill {
        let outcome = if p.tag.is_some() {
            signal_ours(ctx, p, Sig::Kill)
        } else if let Some(r) = rec.filter(|r| r.pgid == p.pgid) {
            signal_group(&r.identity(&ctx.spec.tag_prefix), Sig::Kill)
        } else {
            SignalOutcome::Refused("not proven ours".into())
        };
        tracing::info!("clean: PID {}: {outcome:?}", p.pid);
    }
    if plan.remove_pid_file {
        let _ = pidfile::remove(&ctx.spec.paths.pid);
    }
    plan
}

/// `stigmer local clean`: under the start lock, so it never races a start.
pub async fn clean(ctx: &Ctx, dry_run: bool) -> Result<CleanPlan> {
    let _guard = lock::hold_within(&ctx.spec.paths.start_lock, Duration::from_secs(30))
        .await
        .context("waiting for a start in progress to finish")?;
    let st = inspect::inspect_with(ctx, LockCheck::AsStarter, None).await;
    let plan = blocking(|| clean_from(ctx, &st, dry_run));
    if !dry_run && !plan.kill.is_empty() {
        poll_until(Duration::from_secs(5), Duration::from_millis(10), || {
            !plan.kill.iter().any(|p| {
                crate::process::read_stat(p.pid)
                    .is_ok_and(|s| s.start_ticks == p.start_ticks && !s.is_zombie())
            })
        })
        .await;
    }
    Ok(plan)
}
