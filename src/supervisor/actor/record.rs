//! What the event history keeps of the core's events, and what a task
//! leaves of its last run.

use std::time::Instant;

use super::Actor;
use crate::config::service::Ctx;
use crate::supervisor::core::{Action, Event, Phase};
use crate::supervisor::history::Kind;

impl Actor {
    /// What the event history keeps of a core event: only what the core
    /// took (a stale event for an older generation changes nothing).
    pub(super) fn record(
        &self,
        ev: &Event,
        before: Phase,
        gen_before: u64,
        pid_before: Option<i32>,
        actions: &[Action],
    ) {
        let h = &self.history;
        let name = self.ctx.spec.name.as_str();
        let after = self.core.phase;
        let current = |gen: u64| gen == gen_before;
        match ev {
            Event::Spawned { gen, pid } if current(*gen) => {
                h.push(name, Kind::Spawned, Some(*pid), "")
            }
            Event::Ready { gen } if current(*gen) => h.push(name, Kind::Ready, pid_before, ""),
            Event::NotReady { gen, why } if current(*gen) => {
                h.push(name, Kind::NotReady, pid_before, why.clone())
            }
            Event::Exited { gen, exit, .. } if current(*gen) => h.exited(name, pid_before, *exit),
            Event::Adopt { pid, .. } if after != before || self.core.gen != gen_before => {
                h.push(name, Kind::Adopted, Some(*pid), "")
            }
            _ => {}
        }
        if after == Phase::Failed && before != Phase::Failed {
            let m = self.core.message.clone().unwrap_or_default();
            let kind = if m.starts_with("crash loop") {
                Kind::CrashLoop
            } else {
                Kind::Failed
            };
            h.push(name, kind, None, m);
        }
        if after == Phase::Backoff {
            for a in actions {
                if let Action::Schedule { at, .. } = a {
                    let ms = at.saturating_duration_since(Instant::now()).as_millis();
                    h.push(name, Kind::RestartScheduled, None, format!("in {ms} ms"));
                }
            }
        }
    }
}

/// A task's last run to completion, as recorded (none if unreadable).
pub(super) fn completed(ctx: &Ctx) -> Option<crate::view::TaskRun> {
    let bytes = std::fs::read(&ctx.spec.paths.completed).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Records (or, with none, forgets) a task's run to completion.
pub(super) fn set_completed(ctx: &Ctx, run: Option<&crate::view::TaskRun>) {
    let path = &ctx.spec.paths.completed;
    let done = match run {
        Some(r) => serde_json::to_vec(r)
            .map_err(std::io::Error::other)
            .and_then(|b| crate::state::write_atomic(path, &b)),
        None => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    };
    if let Err(e) = done {
        tracing::warn!("{}: {e}", path.display());
    }
}
