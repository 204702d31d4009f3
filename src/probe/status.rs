//! What an inspection says of a service: its state in one word, and every
//! layer of evidence behind it (lock, PID file, identity, ports, health,
//! processes), serialisable as `status --json` prints it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::probe::ports::PortRole;
use crate::process::scan::ProcEntry;
use crate::process::Verdict;
use crate::state::pidfile::PidRecord;

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

/// What the PID file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PidFileState {
    Missing,
    Valid,
    Corrupt,
}

impl std::fmt::Display for PidFileState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PidFileState::Missing => "missing",
            PidFileState::Valid => "valid",
            PidFileState::Corrupt => "corrupt",
        })
    }
}

/// Whether the recorded process is still the one we started. Printed (and
/// serialised) as `match`, `zombie`, `gone` or `mismatch: why`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityState {
    Match,
    Zombie,
    Gone,
    Mismatch(String),
}

impl From<&Verdict> for IdentityState {
    fn from(v: &Verdict) -> Self {
        match v {
            Verdict::Match(_) => IdentityState::Match,
            Verdict::Zombie => IdentityState::Zombie,
            Verdict::Gone => IdentityState::Gone,
            Verdict::Mismatch(why) => IdentityState::Mismatch(why.clone()),
        }
    }
}

impl std::fmt::Display for IdentityState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityState::Match => f.write_str("match"),
            IdentityState::Zombie => f.write_str("zombie"),
            IdentityState::Gone => f.write_str("gone"),
            IdentityState::Mismatch(why) => write!(f, "mismatch: {why}"),
        }
    }
}

impl Serialize for IdentityState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PidFileStatus {
    pub path: String,
    pub state: PidFileState,
    pub detail: Option<String>,
    /// For a valid file.
    pub identity: Option<IdentityState>,
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
    /// State files that cannot be used (symlinks, FIFOs), each with advice.
    pub problems: Vec<String>,
    /// Temp files of interrupted atomic writes whose writer is gone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_temp_files: Vec<std::path::PathBuf>,
    /// What to do about it, when anything.
    pub advice: Option<String>,
    pub processes_scanned: usize,
    pub inspect_ms: f64,
}

impl PidFileStatus {
    /// The identity of a valid file, or why a corrupt one is unusable.
    pub fn summary(&self) -> Option<String> {
        match (&self.identity, &self.detail) {
            (Some(id), _) => Some(id.to_string()),
            (None, d) => d.clone(),
        }
    }
}

impl Status {
    pub fn record(&self) -> Option<&PidRecord> {
        self.pid_file.record.as_ref()
    }
    pub fn leader_alive(&self) -> bool {
        self.pid_file.identity == Some(IdentityState::Match)
    }
    pub fn ready(&self) -> bool {
        self.health.last().is_some_and(|h| h.ok)
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}
