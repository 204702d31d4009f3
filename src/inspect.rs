//! What is true right now: lock, PID file, identity, processes, ports and
//! health, gathered in one pass. `status --json` prints it; the dashboard
//! renders it; `start`, `stop` and `clean` decide from it.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::lifecycle::Ctx;
use crate::pidfile::{self, PidFile, PidRecord};
use crate::ports::{self, PortRole};
use crate::process::scan::{scan, ProcEntry, Scan, ScanRequest};
use crate::process::Verdict;
use crate::service::{Readiness, TAG_VAR};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Running,
    Starting,
    Stopped,
    Stale,
    Unhealthy,
    Failed,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Starting => "starting",
            State::Stopped => "stopped",
            State::Stale => "stale",
            State::Unhealthy => "unhealthy",
            State::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Holder {
    pub pid: i32,
    pub cmd: String,
    pub age_secs: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LockStatus {
    pub path: String,
    pub held: bool,
    pub holders: Vec<Holder>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PidFileStatus {
    pub path: String,
    /// missing, valid or corrupt
    pub state: String,
    pub detail: Option<String>,
    /// match, zombie, gone or mismatch (with why), for a valid file.
    pub identity: Option<String>,
    pub record: Option<PidRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PortStatus {
    pub role: PortRole,
    pub port: u16,
    pub open: bool,
    pub latency_ms: Option<f64>,
    pub owner_pid: Option<i32>,
    pub owner_cmd: Option<String>,
    /// Whether the owner is the service (or one of its processes).
    pub ours: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HealthLayer {
    pub layer: &'static str,
    pub ok: bool,
    pub latency_ms: f64,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SupervisorInfo {
    pub pid: i32,
    pub phase: String,
    pub restarts: u32,
    pub last_exit: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub state: State,
    pub pid: Option<i32>,
    pub pgid: Option<i32>,
    pub started_at: Option<String>,
    pub uptime_secs: Option<u64>,
    pub lock: LockStatus,
    pub pid_file: PidFileStatus,
    pub ports: Vec<PortStatus>,
    pub health: Vec<HealthLayer>,
    pub members: Vec<ProcEntry>,
    pub escaped: Vec<ProcEntry>,
    pub orphans: Vec<ProcEntry>,
    pub supervisor: Option<SupervisorInfo>,
    /// State files that cannot be used (symlinks, FIFOs), each with advice.
    pub problems: Vec<String>,
    /// What to do about it, when anything.
    pub advice: Option<String>,
    pub processes_scanned: usize,
    pub inspect_ms: f64,
}

impl Status {
    pub fn record(&self) -> Option<&PidRecord> {
        self.pid_file.record.as_ref()
    }
    pub fn leader_alive(&self) -> bool {
        self.pid_file.identity.as_deref() == Some("match")
    }
    pub fn ready(&self) -> bool {
        self.health.last().is_some_and(|h| h.ok)
    }
}

pub use crate::clock::{now_ms, rfc3339_ms};

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

/// Split tagged processes outside the live group into escaped (their own
/// group leader is alive: they left with setsid) and orphans (their group's
/// leader is gone).
pub fn classify(
    scan: &Scan,
    live_pgid: Option<i32>,
) -> (Vec<ProcEntry>, Vec<ProcEntry>, Vec<ProcEntry>) {
    let mut members = Vec::new();
    let mut escaped = Vec::new();
    let mut orphans = Vec::new();
    for p in &scan.procs {
        if Some(p.pgid) == live_pgid {
            members.push(p.clone());
        } else if p.tag.is_some() && !matches!(p.state, 'Z' | 'X') {
            let leader_alive = scan
                .procs
                .iter()
                .any(|l| l.pid == p.pgid && l.tag.is_some() && !matches!(l.state, 'Z' | 'X'));
            if leader_alive {
                escaped.push(p.clone());
            } else {
                orphans.push(p.clone());
            }
        }
    }
    (members, escaped, orphans)
}

/// Everything at once. `probe` says whether to run the network probes.
pub async fn inspect(ctx: &Ctx) -> Status {
    let t0 = Instant::now();
    let state = &ctx.settings.state;
    let spec = &ctx.spec;
    let mut health = Vec::new();

    let pf = pidfile::read(&spec.paths.pid);
    let t = Instant::now();
    let lock_path = spec.paths.lock.clone();
    let held_r = crate::lock::is_held(&lock_path);
    let held = matches!(held_r, Ok(true));
    let mut problems = Vec::new();
    health.push(HealthLayer {
        layer: "lock",
        ok: held,
        latency_ms: ms(t.elapsed()),
        detail: match &held_r {
            Ok(true) => "held".into(),
            Ok(false) => "free".into(),
            Err(e) => {
                let why = crate::state::refusal(&lock_path, e);
                problems.push(why.clone());
                why
            }
        },
    });
    if let Some(note) = crate::state::disk_full_note(state.root()) {
        problems.push(note);
    }
    // A symlinked or special log file is refused at spawn; say so before.
    problems.extend(crate::state::file_problem(&spec.paths.log));

    let rec = pf.record().cloned();
    let t = Instant::now();
    let verdict = rec.as_ref().map(|r| r.identity(&spec.tag_prefix).verify());
    let vt = t.elapsed();
    let (proc_ok, proc_detail, id_ok, id_detail) = match (&rec, &verdict) {
        (None, _) | (_, None) => (
            false,
            "no PID file".to_string(),
            false,
            "nothing to check".to_string(),
        ),
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
    };
    health.push(HealthLayer {
        layer: "process",
        ok: proc_ok,
        latency_ms: ms(vt),
        detail: proc_detail,
    });
    health.push(HealthLayer {
        layer: "identity",
        ok: id_ok,
        latency_ms: 0.0,
        detail: id_detail,
    });
    let leader_alive = matches!(verdict, Some(Verdict::Match(_)));

    // Open or closed by a connect probe (microseconds); the listener table,
    // which names owners, only when that picture or the leader changed.
    let mut probes = Vec::new();
    for p in &spec.ports {
        probes.push(
            ports::probe_tcp(p.port, Duration::from_millis(300))
                .await
                .ok(),
        );
    }
    let key = format!(
        "{:?}{:?}",
        probes.iter().map(Option::is_some).collect::<Vec<_>>(),
        rec.as_ref().map(|r| r.pid)
    );
    let listeners = if probes.iter().any(Option::is_some) {
        ports::listeners_cached(&key)
    } else {
        vec![]
    };
    let inodes: Vec<u64> = listeners
        .iter()
        .filter(|l| spec.ports.iter().any(|p| p.port == l.port))
        .map(|l| l.inode)
        .collect();
    let pgids: Vec<i32> = rec.iter().map(|r| r.pgid).collect();
    let s = scan(&ScanRequest {
        tag_var: TAG_VAR,
        tag_prefix: &spec.tag_prefix,
        pgids: &pgids,
        lock_path: held.then_some(lock_path.as_path()),
        socket_inodes: &inodes,
    });
    let live_pgid = if leader_alive {
        rec.as_ref().map(|r| r.pgid)
    } else {
        None
    };
    let (members, escaped, orphans) = classify(&s, live_pgid);
    let boot_secs = uptime_secs();
    let tick = ticks_per_sec();
    let holders: Vec<Holder> = s
        .lock_holders
        .iter()
        .map(|pid| {
            let e = s.get(*pid);
            Holder {
                pid: *pid,
                cmd: e.map(|e| e.cmd.clone()).unwrap_or_default(),
                age_secs: e.and_then(|e| {
                    boot_secs.map(|b| (b - e.start_ticks as f64 / tick).max(0.0) as u64)
                }),
            }
        })
        .collect();

    let ours = |pid: i32| -> bool {
        s.get(pid)
            .is_some_and(|p| p.tag.is_some() || Some(p.pgid) == live_pgid)
    };
    let mut port_status = Vec::new();
    for (p, probe) in spec.ports.iter().zip(&probes) {
        let l = listeners
            .iter()
            .find(|l| l.port == p.port)
            .filter(|_| probe.is_some());
        let owner = l.and_then(|l| s.socket_owners.get(&l.inode).copied());
        port_status.push(PortStatus {
            role: p.role,
            port: p.port,
            open: probe.is_some(),
            latency_ms: probe.map(ms),
            owner_pid: owner,
            owner_cmd: owner.and_then(|o| s.get(o).map(|e| e.cmd.clone())),
            ours: owner.map(ours),
        });
    }

    if let Some((p, probe)) = spec
        .ports
        .iter()
        .zip(&probes)
        .find(|(p, _)| p.role == PortRole::Grpc)
    {
        health.push(HealthLayer {
            layer: "grpc",
            ok: probe.is_some(),
            latency_ms: probe.map(ms).unwrap_or(0.0),
            detail: match probe {
                Some(_) => format!("port {} accepts TCP", p.port),
                None => format!("port {}: connection refused", p.port),
            },
        });
    }
    let t = Instant::now();
    let r = match &rec {
        Some(r) if leader_alive => crate::ready::probe(spec, r).await,
        // Nothing of ours runs: a network check still says who answers.
        _ if matches!(spec.readiness, Readiness::Http { .. } | Readiness::Tcp(_)) => {
            let dummy = PidRecord::placeholder();
            crate::ready::probe(spec, &dummy).await
        }
        _ => Err("not running".into()),
    };
    let http_ok = r.is_ok() && leader_alive;
    health.push(HealthLayer {
        layer: spec.readiness.layer(),
        ok: http_ok,
        latency_ms: ms(t.elapsed()),
        detail: match r {
            Ok(d) | Err(d) => d,
        },
    });

    let supervisor = read_supervisor(ctx);
    let started_ms = rec.as_ref().map(|r| r.started_at_ms);
    let age = started_ms.map(|s| Duration::from_millis(now_ms().saturating_sub(s)));
    let state_now = if held && leader_alive && http_ok {
        State::Running
    } else if held
        && leader_alive
        && rec.as_ref().is_some_and(|r| r.ready_at_ms.is_none())
        && age.is_some_and(|a| a < spec.ready_timeout)
    {
        // Never ready yet, and still within its time to get there.
        State::Starting
    } else if held {
        State::Unhealthy
    } else if supervisor.as_ref().is_some_and(|s| s.phase == "failed") {
        State::Failed
    } else if !matches!(pf, PidFile::Missing)
        || !problems.is_empty()
        || !escaped.is_empty()
        || !orphans.is_empty()
        || leader_alive
    {
        State::Stale
    } else {
        State::Stopped
    };

    let advice = match state_now {
        _ if !problems.is_empty() => Some(problems.join("; ")),
        State::Unhealthy if leader_alive && rec.as_ref().is_some_and(|r| r.ready_at_ms.is_some()) => {
            let stopped = matches!(&verdict, Some(Verdict::Match(st)) if st.state == 'T');
            Some(format!(
                "PID {} was ready but does not answer its readiness check now{}; `stigmer local restart` restarts it",
                rec.as_ref().map(|r| r.pid).unwrap_or_default(),
                if stopped { " (it is stopped: SIGSTOP?)" } else { " (hung or overloaded?)" }
            ))
        }
        State::Unhealthy => Some(format!(
            "the lock is held by {} but the service is not healthy; run `stigmer local stop` (or `clean`) to clear it",
            if holders.is_empty() {
                "an unknown process".to_string()
            } else {
                holders.iter().map(|h| format!("PID {} ({})", h.pid, h.cmd)).collect::<Vec<_>>().join(", ")
            }
        )),
        State::Stale => Some("stale state left behind; `stigmer local clean` removes it (start does too)".into()),
        State::Failed => Some("crash loop: the supervisor gave up; see the log, then start again".into()),
        _ => None,
    };

    let pid_file = PidFileStatus {
        path: spec.paths.pid.display().to_string(),
        state: match &pf {
            PidFile::Missing => "missing",
            PidFile::Valid(_) => "valid",
            PidFile::Corrupt(_) => "corrupt",
        }
        .into(),
        detail: match &pf {
            PidFile::Corrupt(why) => Some(why.clone()),
            _ => None,
        },
        identity: verdict.as_ref().map(|v| match v {
            Verdict::Match(_) => "match".into(),
            Verdict::Zombie => "zombie".into(),
            Verdict::Gone => "gone".into(),
            Verdict::Mismatch(why) => format!("mismatch: {why}"),
        }),
        record: rec.clone(),
    };

    Status {
        state: state_now,
        pid: rec.as_ref().filter(|_| leader_alive).map(|r| r.pid),
        pgid: rec.as_ref().filter(|_| leader_alive).map(|r| r.pgid),
        started_at: started_ms.filter(|_| leader_alive).map(rfc3339_ms),
        uptime_secs: age.filter(|_| leader_alive).map(|a| a.as_secs()),
        lock: LockStatus {
            path: lock_path.display().to_string(),
            held,
            holders,
        },
        pid_file,
        ports: port_status,
        health,
        members,
        escaped,
        orphans,
        supervisor,
        problems,
        advice,
        processes_scanned: s.total,
        inspect_ms: ms(t0.elapsed()),
    }
}

fn read_supervisor(ctx: &Ctx) -> Option<SupervisorInfo> {
    let st = &ctx.settings.state;
    if !crate::lock::is_held(&st.supervisor_lock_path()).unwrap_or(false) {
        return None;
    }
    let bytes = crate::state::read_capped(&ctx.spec.paths.supervisor_state, 64 * 1024).ok()?;
    SupervisorInfo::parse(&bytes)
}

impl SupervisorInfo {
    /// `None` for anything but a valid supervisor file; never panics.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

fn uptime_secs() -> Option<f64> {
    std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub fn ticks_per_sec() -> f64 {
    rustix::param::clock_ticks_per_second() as f64
}
