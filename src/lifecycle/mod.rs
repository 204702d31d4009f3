//! The lifecycle operations — spawn, wait for readiness, stop, clean — shared
//! by the one-shot CLI commands and the supervisor actor, so there is exactly
//! one implementation of each rule.
//!
//! `spawn`: a service's process, in its own session, its lock taken before
//! exec; `stop`: signals to what is proven ours until nothing is left;
//! `clean`: the pure plan of what a clean removes or kills; `ops`: the
//! one-shot stack-wide start and stop (no supervisor) in dependency order.

pub(crate) mod clean;
pub(crate) mod ops;
mod spawn;
mod stop;

pub use spawn::*;
pub use stop::*;

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
        // A task: only its exit ends this (the identity check below sees it).
        Readiness::Completed => Duration::from_millis(200),
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
    Started {
        pid: i32,
        ready_in: Duration,
    },
    Reused {
        pid: i32,
    },
    /// A task that ran to completion (now, or `earlier`: not run again;
    /// a restart runs it again).
    Done {
        run: crate::view::TaskRun,
        earlier: bool,
    },
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
