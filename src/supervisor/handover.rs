//! What a supervisor that hands over leaves for the next one, besides the
//! event history: each running service's restart count and last exit, so
//! the next supervisor, adopting the same PIDs, goes on counting.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::core::ExitInfo;

/// What a supervisor that handed over knew of a service it left running.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Carried {
    pub pid: i32,
    pub restarts: u32,
    pub last_exit: Option<ExitInfo>,
}

/// The counts a previous supervisor left for `name`, if any.
pub fn carried(state: &crate::state::StateDir, name: &str) -> Option<Carried> {
    let bytes = crate::state::read_capped(&state.handover_path(), 1 << 20).ok()?;
    serde_json::from_slice::<HashMap<String, Carried>>(&bytes)
        .ok()?
        .remove(name)
}
