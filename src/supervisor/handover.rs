//! What a supervisor that hands over leaves for the next one, besides the
//! event history: each running service's restart count and last exit, so
//! the next supervisor, adopting the same PIDs, goes on counting; and which
//! services were due a restart, so that none is forgotten in between.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::core::ExitInfo;

/// What a supervisor that handed over knew of a service it left running,
/// or was about to restart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Carried {
    /// The running process (0: none ran at the hand-over).
    pub pid: i32,
    pub restarts: u32,
    pub last_exit: Option<ExitInfo>,
    /// It was waiting to be restarted (backoff) or starting: the next
    /// supervisor starts it if nothing of it runs.
    #[serde(default)]
    pub resume: bool,
    /// When it was handed over (ms since the epoch): a hand-over is news
    /// only to the supervisor that starts right after it.
    #[serde(default)]
    pub at_ms: u64,
}

/// How long a hand-over stays news.
const FRESH_MS: u64 = 60_000;

/// The counts a previous supervisor left for `name`, if any.
pub fn carried(state: &crate::state::StateDir, name: &str) -> Option<Carried> {
    let bytes = crate::state::read_capped(&state.handover_path(), 1 << 20).ok()?;
    serde_json::from_slice::<HashMap<String, Carried>>(&bytes)
        .ok()?
        .remove(name)
        .filter(|c| crate::util::clock::now_ms().saturating_sub(c.at_ms) < FRESH_MS)
}
