//! What `clean` would remove and kill, decided from a [`Status`] alone: a
//! pure plan the dashboard can preview and `lifecycle` carries out.

use serde::Serialize;

use crate::probe::inspect::{PidFileState, Status};
use crate::process::scan::ProcEntry;

/// What `clean` removes and kills.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CleanPlan {
    pub actions: Vec<String>,
    pub kill: Vec<ProcEntry>,
    pub remove_pid_file: bool,
    /// Temp files of interrupted atomic writes whose writer is gone.
    pub remove_temp: Vec<std::path::PathBuf>,
}

/// Stale state only: a PID file whose process is gone or not ours, orphaned
/// group members and escaped processes proven ours by their tag. Never a
/// live, healthy service, and never the lock file.
pub fn plan(st: &Status) -> CleanPlan {
    let mut plan = CleanPlan::default();
    let healthy = st.lock.held && st.leader_alive();
    if !healthy && st.pid_file.state != PidFileState::Missing {
        plan.remove_pid_file = true;
        let pf = &st.pid_file;
        let why = pf.summary().unwrap_or_else(|| pf.state.to_string());
        plan.actions
            .push(format!("remove PID file {} ({why})", st.pid_file.path));
    }
    let mut kill: Vec<ProcEntry> = st.orphans.clone();
    kill.extend(st.escaped.iter().cloned());
    if !healthy && st.leader_alive() {
        // Our identity-proven leader is alive without the lock: not a service.
        kill.extend(st.members.iter().cloned());
    }
    for p in &kill {
        let why = if st.orphans.contains(p) {
            "orphaned"
        } else if st.escaped.contains(p) {
            "escaped"
        } else {
            "unhealthy"
        };
        plan.actions
            .push(format!("kill PID {} ({why}): {}", p.pid, p.cmd));
    }
    plan.kill = kill;
    plan.remove_temp = st.stale_temp_files.clone();
    for t in &plan.remove_temp {
        plan.actions
            .push(format!("remove stale temp file {}", t.display()));
    }
    plan
}
