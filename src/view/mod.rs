//! What supervision decided about each service: the one type the core's
//! actor publishes, the coordinator annotates, the socket sends, `status`
//! prints and the dashboard draws. No I/O here; the world as inspected
//! (processes, ports, locks) is `probe::inspect::Status`, a separate thing.

use serde::{Deserialize, Serialize};

use crate::process::scan::ProcEntry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Stopped,
    Starting,
    Running,
    Stopping,
    Backoff,
    Failed,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Stopped => "stopped",
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Backoff => "backoff",
            Phase::Failed => "failed",
        }
    }

    /// Nothing of it runs and nothing is on its way.
    pub fn idle(self) -> bool {
        matches!(self, Phase::Stopped | Phase::Failed)
    }
}

/// How a process ended, as far as we could learn. Written as people read
/// it ("exit code 3", "killed by SIGKILL"), in JSON too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum ExitInfo {
    Code(i32),
    Signal(i32),
    /// Not our child (adopted): the kernel tells its status to its parent only.
    Unknown,
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitInfo::Code(c) => write!(f, "exit code {c}"),
            ExitInfo::Signal(s) => match nix::sys::signal::Signal::try_from(*s) {
                Ok(sig) => write!(f, "killed by {}", sig.as_str()),
                Err(_) => write!(f, "killed by signal {s}"),
            },
            ExitInfo::Unknown => write!(f, "exited (status unknown: not our child)"),
        }
    }
}

impl From<ExitInfo> for String {
    fn from(e: ExitInfo) -> String {
        e.to_string()
    }
}

impl From<String> for ExitInfo {
    /// The text `Display` writes; anything else is `Unknown`.
    fn from(s: String) -> ExitInfo {
        if let Some(c) = s.strip_prefix("exit code ") {
            return c.parse().map_or(ExitInfo::Unknown, ExitInfo::Code);
        }
        let Some(sig) = s.strip_prefix("killed by ") else {
            return ExitInfo::Unknown;
        };
        if let Some(n) = sig.strip_prefix("signal ") {
            return n.parse().map_or(ExitInfo::Unknown, ExitInfo::Signal);
        }
        sig.parse::<nix::sys::signal::Signal>()
            .map_or(ExitInfo::Unknown, |s| ExitInfo::Signal(s as i32))
    }
}

/// One service, as its supervisor sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    pub name: String,
    pub phase: Phase,
    /// The core's generation: it grows with every spawn or adoption.
    pub gen: u64,
    /// The service's process the supervisor watches.
    pub pid: Option<i32>,
    pub restarts: u32,
    pub failures_in_window: usize,
    /// Why the last start tried once failed (until the next process).
    #[serde(default)]
    pub start_failed: Option<String>,
    /// Why its liveness checks call it unhealthy; absent while they pass
    /// (one failed check is not enough).
    #[serde(default)]
    pub unhealthy: Option<String>,
    pub last_exit: Option<ExitInfo>,
    /// When a scheduled restart is due (ms since the epoch).
    pub backoff_until_ms: Option<u64>,
    pub message: Option<String>,
    /// Why it is not moving: "waiting for temporal", "not started: …".
    #[serde(default)]
    pub note: Option<String>,
    /// The PID of the supervisor that decides; `None`: nobody supervises
    /// it (the view of a process that only watches).
    pub supervisor: Option<i32>,
    /// While a stop waits: the processes still alive.
    #[serde(default)]
    pub stopping_alive: Vec<ProcEntry>,
    /// A task that ran to completion (until it runs again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<TaskRun>,
    /// It has `watch`: whether a change restarts it now (a key toggles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watching: Option<bool>,
}

/// A task's run that ended with a success code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRun {
    pub pid: Option<i32>,
    pub code: i32,
    pub took_ms: u64,
    /// When it ended (ms since the epoch).
    pub at_ms: u64,
}

impl TaskRun {
    /// `completed in 1.2 s (exit code 0)`.
    pub fn words(&self) -> String {
        format!(
            "completed in {:.1} s (exit code {})",
            self.took_ms as f64 / 1000.0,
            self.code
        )
    }
}

impl ServiceView {
    /// A task that ran to completion and is not running again.
    pub fn done(&self) -> bool {
        self.phase == Phase::Stopped && self.completed.is_some()
    }

    /// A service nobody has decided anything about.
    pub fn unsupervised(name: &str) -> Self {
        Self {
            name: name.to_string(),
            phase: Phase::Stopped,
            gen: 0,
            pid: None,
            restarts: 0,
            failures_in_window: 0,
            start_failed: None,
            unhealthy: None,
            last_exit: None,
            backoff_until_ms: None,
            message: None,
            note: None,
            supervisor: None,
            stopping_alive: vec![],
            completed: None,
            watching: None,
        }
    }

    /// The supervisor's word on the health of the process `pid`: `Some(true)`
    /// it runs and its liveness checks pass, `Some(false)` they failed
    /// enough times in a row, `None` no word about that process.
    pub fn health_of(&self, pid: i32) -> Option<bool> {
        if self.supervisor.is_none() || self.pid != Some(pid) {
            return None;
        }
        match (self.phase, &self.unhealthy) {
            (_, Some(_)) => Some(false),
            (Phase::Running, None) => Some(true),
            _ => None,
        }
    }

    /// Whether the supervisor gave up on it.
    pub fn failed(&self) -> bool {
        self.supervisor.is_some() && self.phase == Phase::Failed
    }
}

/// The views of a stack, in the config's order.
pub fn find<'a>(views: &'a [ServiceView], name: &str) -> Option<&'a ServiceView> {
    views.iter().find(|v| v.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_reads_back_as_it_was_written() {
        for e in [
            ExitInfo::Code(3),
            ExitInfo::Code(-1),
            ExitInfo::Signal(9),
            ExitInfo::Signal(77),
            ExitInfo::Unknown,
        ] {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(
                serde_json::from_str::<ExitInfo>(&json).unwrap(),
                e,
                "{json}"
            );
        }
        assert_eq!(
            serde_json::to_string(&ExitInfo::Signal(9)).unwrap(),
            "\"killed by SIGKILL\""
        );
        assert_eq!(ExitInfo::from("garbage".to_string()), ExitInfo::Unknown);
    }

    #[test]
    fn only_a_supervisor_s_word_about_the_same_process_counts() {
        let mut v = ServiceView::unsupervised("api");
        v.phase = Phase::Running;
        v.pid = Some(7);
        assert_eq!(v.health_of(7), None, "nobody supervises it");
        v.supervisor = Some(1000);
        assert_eq!(v.health_of(7), Some(true));
        assert_eq!(v.health_of(8), None, "another process");
        v.unhealthy = Some("3 checks failed".into());
        assert_eq!(v.health_of(7), Some(false));
    }
}
