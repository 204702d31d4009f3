//! The pure half of an inspection: what was gathered (files, `/proc`, the
//! kernel's sockets: `gather`, blocking, in one pass) put into the parts of
//! a `Status` — lock holders, ports and their owners, the health layers,
//! the PID file's state.

use std::time::{Duration, Instant};

use super::status::{
    ms, HealthLayer, Holder, IdentityState, PidFileState, PidFileStatus, PortStatus,
};
use crate::config::service::ServiceSpec;
use crate::config::service::{Ctx, TAG_VAR};
use crate::platform::{ticks_per_sec, uptime_secs};
use crate::probe::ports::PortRole;
use crate::probe::ports::{self, Listener};
use crate::process::scan::{scan, Scan, ScanRequest};
use crate::process::Verdict;
use crate::state::pidfile;
use crate::state::pidfile::{PidFile, PidRecord};
use crate::view::{Phase, ServiceView};

/// What `inspect` reads from files and `/proc`: blocking work, done in one
/// pass off the runtime's threads.
pub(super) struct Gathered {
    pub(super) pf: PidFile,
    /// Whether the lock is held, or why its file cannot be used.
    pub(super) held: Result<bool, crate::state::Refusal>,
    pub(super) lock_time: Duration,
    pub(super) verdict: Option<Verdict>,
    pub(super) verify_time: Duration,
    pub(super) problems: Vec<String>,
    pub(super) scan: Scan,
    pub(super) listeners: Vec<Listener>,
    /// How long the listener table took to read.
    pub(super) ports_time: Duration,
    pub(super) stale_temp_files: Vec<std::path::PathBuf>,
    pub(super) boot_secs: Option<f64>,
}

/// How `inspect` asks whether the service's lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockCheck {
    /// Read `/proc/locks`: never disturbs the lock; anyone may.
    Observe,
    /// Take it for an instant: fast, for callers holding the start lock.
    AsStarter,
    /// Take the start lock for an instant if it is free and ask as its
    /// holder (no RCU grace period to wait for); observe when another
    /// starter holds it. For the supervisor's own inspections: its spawns
    /// retry the start lock for the few microseconds this holds it.
    Auto,
}

pub(super) fn gather(ctx: &Ctx, how: LockCheck) -> Gathered {
    let spec = &ctx.spec;
    let root = ctx.settings.state.root();
    let pf = pidfile::read(&spec.paths.pid);
    let t = Instant::now();
    let lock_path = &spec.paths.lock;
    let held = match how {
        LockCheck::Observe => crate::state::lock::is_held(lock_path),
        LockCheck::AsStarter => crate::state::lock::is_held_as_starter(lock_path),
        LockCheck::Auto => match crate::state::lock::try_hold(&spec.paths.start_lock) {
            Ok(_starting) => crate::state::lock::is_held_as_starter(lock_path),
            Err(_) => crate::state::lock::is_held(lock_path),
        },
    }
    .map_err(|e| crate::state::Refusal(crate::state::refusal(lock_path, &e)));
    let lock_time = t.elapsed();
    let mut problems = Vec::new();
    if let Err(why) = &held {
        problems.push(why.to_string());
    }
    problems.extend(crate::state::disk_full_note(root));
    // A symlinked or special log file is refused at spawn; say so before.
    problems.extend(crate::state::file_problem(&spec.paths.log));

    let rec = pf.record();
    let t = Instant::now();
    let verdict = rec.map(|r| r.identity(&spec.tag_prefix).verify());
    let verify_time = t.elapsed();

    // Which ports listen, and the socket inodes that lead to their owners,
    // from the kernel's table: asking never connects to the service.
    let t = Instant::now();
    let listeners = if spec.ports.is_empty() {
        vec![]
    } else {
        ports::listeners()
    };
    let ports_time = t.elapsed();
    let inodes: Vec<u64> = listeners
        .iter()
        .filter(|l| spec.ports.iter().any(|p| p.port == l.port))
        .map(|l| l.inode)
        .collect();
    let pgids: Vec<i32> = rec.iter().map(|r| r.pgid).collect();
    let scan = scan(&ScanRequest {
        tag_var: TAG_VAR,
        tag_prefix: &spec.tag_prefix,
        pgids: &pgids,
        lock_path: matches!(held, Ok(true)).then_some(lock_path.as_path()),
        socket_inodes: &inodes,
    });
    Gathered {
        pf,
        held,
        lock_time,
        verdict,
        verify_time,
        problems,
        scan,
        listeners,
        ports_time,
        // Its own files' directory: the state dir's top for Temporal, its
        // `services/NAME/` for a declared service.
        stale_temp_files: crate::state::stale_temp_files(spec.paths.pid.parent().unwrap_or(root)),
        boot_secs: uptime_secs(),
    }
}

/// Who holds the lock, with how long each has run.
pub(super) fn holders_of(g: &Gathered) -> Vec<Holder> {
    let s = &g.scan;
    let tick = ticks_per_sec();
    s.lock_holders
        .iter()
        .map(|pid| {
            let e = s.get(*pid);
            Holder {
                pid: *pid,
                cmd: e.map(|e| e.cmd.clone()).unwrap_or_default(),
                age_secs: e.and_then(|e| {
                    g.boot_secs
                        .map(|b| (b - e.start_ticks as f64 / tick).max(0.0) as u64)
                }),
            }
        })
        .collect()
}

/// Each of the service's ports: open or not, who owns it, and whether
/// that owner is ours (tagged, or in the live group).
pub(super) fn ports_of(
    spec: &ServiceSpec,
    g: &Gathered,
    live_pgid: Option<i32>,
) -> Vec<PortStatus> {
    let s = &g.scan;
    let ours = |pid: i32| -> bool {
        s.get(pid)
            .is_some_and(|p| p.tag.is_some() || Some(p.pgid) == live_pgid)
    };
    spec.ports
        .iter()
        .map(|p| {
            let l = g.listeners.iter().find(|l| l.port == p.port);
            let owner = l.and_then(|l| s.socket_owners.get(&l.inode).copied());
            PortStatus {
                role: p.role,
                port: p.port,
                open: l.is_some(),
                latency_ms: l.map(|_| ms(g.ports_time)),
                owner_pid: owner,
                owner_cmd: owner.and_then(|o| s.get(o).map(|e| e.cmd.clone())),
                ours: owner.map(ours),
            }
        })
        .collect()
}

pub(super) fn lock_layer(g: &Gathered) -> HealthLayer {
    HealthLayer {
        layer: "lock",
        ok: matches!(g.held, Ok(true)),
        latency_ms: ms(g.lock_time),
        detail: match &g.held {
            Ok(true) => "held".into(),
            Ok(false) => "free".into(),
            Err(why) => why.to_string(),
        },
    }
}

/// The "process" (alive?) and "identity" (ours?) layers.
pub(super) fn process_layers(rec: Option<&PidRecord>, g: &Gathered) -> [HealthLayer; 2] {
    let (proc_ok, proc_detail, id_ok, id_detail) = match (rec, &g.verdict) {
        (Some(r), Some(Verdict::Match(st))) => (
            true,
            format!("PID {} alive ({})", r.pid, st.state),
            true,
            format!("start time {} matches", r.start_ticks),
        ),
        (Some(r), Some(Verdict::Zombie)) => (
            false,
            format!("PID {} is a zombie", r.pid),
            true,
            "same process".into(),
        ),
        (Some(r), Some(Verdict::Gone)) => (
            false,
            format!("PID {} is gone", r.pid),
            false,
            "process gone".into(),
        ),
        (Some(r), Some(Verdict::Mismatch(why))) => (
            true,
            format!("PID {} alive, but not ours", r.pid),
            false,
            why.clone(),
        ),
        _ => (
            false,
            "no PID file".to_string(),
            false,
            "nothing to check".to_string(),
        ),
    };
    [
        HealthLayer {
            layer: "process",
            ok: proc_ok,
            latency_ms: ms(g.verify_time),
            detail: proc_detail,
        },
        HealthLayer {
            layer: "identity",
            ok: id_ok,
            latency_ms: 0.0,
            detail: id_detail,
        },
    ]
}

pub(super) fn grpc_layer(p: &PortStatus) -> HealthLayer {
    HealthLayer {
        layer: "grpc",
        ok: p.open,
        latency_ms: p.latency_ms.unwrap_or(0.0),
        detail: if p.open {
            format!("port {} listens", p.port)
        } else {
            format!("port {}: nothing listens", p.port)
        },
    }
}

pub(super) fn pid_file_status(
    spec: &ServiceSpec,
    g: &Gathered,
    rec: Option<PidRecord>,
) -> PidFileStatus {
    PidFileStatus {
        path: spec.paths.pid.display().to_string(),
        state: match &g.pf {
            PidFile::Missing => PidFileState::Missing,
            PidFile::Valid(_) => PidFileState::Valid,
            PidFile::Corrupt(_) => PidFileState::Corrupt,
        },
        detail: match &g.pf {
            PidFile::Corrupt(why) => Some(why.clone()),
            _ => None,
        },
        identity: g.verdict.as_ref().map(IdentityState::from),
        record: rec,
    }
}

/// Lock, process, identity, gRPC (Temporal's), then the service's check.
pub(super) fn health_layers(
    g: &Gathered,
    rec: Option<&PidRecord>,
    ports: &[PortStatus],
    check: HealthLayer,
) -> Vec<HealthLayer> {
    let mut health = vec![lock_layer(g)];
    health.extend(process_layers(rec, g));
    if let Some(p) = ports.iter().find(|p| p.role == PortRole::Grpc) {
        health.push(grpc_layer(p));
    }
    health.push(check);
    health
}

/// What the supervisor says is wrong with it, and what it does about it.
pub(super) fn said_by(view: Option<&ServiceView>) -> Option<String> {
    let s = view?;
    let why = s.unhealthy.as_deref()?;
    let then = if s.phase == Phase::Stopping {
        "; the supervisor is restarting it"
    } else {
        ""
    };
    Some(format!("{why}{then}"))
}
