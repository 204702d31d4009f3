//! The pure half of an inspection: what was gathered (files, `/proc`, the
//! kernel's sockets) put into the parts of a `Status` — lock holders, ports
//! and their owners, the health layers, the PID file's state.

use super::inspect::{
    ms, ticks_per_sec, Gathered, HealthLayer, Holder, IdentityState, PidFileState, PidFileStatus,
    PortStatus,
};
use crate::config::service::ServiceSpec;
use crate::probe::ports::PortRole;
use crate::process::Verdict;
use crate::state::pidfile::{PidFile, PidRecord};
use crate::view::{Phase, ServiceView};

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
