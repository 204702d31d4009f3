//! Log rotation, for the whole stack in one task: while this process holds
//! the supervisor lock, each service's log and the supervisor's own
//! (`stigmer.log`) are checked once a
//! [`CHECK_EVERY`](crate::logs::rotate::CHECK_EVERY) and rotated past their
//! size (docs/logs.md). One timer for the stack, not one per service, and
//! a check is a `stat` on this task (no thread handed work): an idle
//! supervisor wakes as little as it can.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::suplock::SupLock;
use crate::config::service::Stack;
use crate::logs::rotate::{needs_rotation, rotate, CHECK_EVERY};

/// `stack`: the stack as supervised now.
pub fn spawn(stack: watch::Receiver<Stack>, sup: Arc<SupLock>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !sup.held() {
                continue; // another supervisor rotates
            }
            let stack = stack.borrow().clone();
            rotate_all(&stack);
        }
    })
}

fn rotate_all(stack: &Stack) {
    let r = stack.settings.rotation;
    let own = stack.settings.state.logs_dir().join("stigmer.log");
    let logs = stack
        .services
        .iter()
        .map(|c| (c.spec.name.as_str(), c.spec.paths.log.as_path()))
        .chain([("stigmer", own.as_path())]);
    for (name, path) in logs {
        // The common case, a log under its size, is one `stat` here; a
        // rotation (copies, maybe) runs where blocking is allowed.
        let rotated = match needs_rotation(path, r) {
            Ok(false) => continue,
            Ok(true) => crate::util::blocking::blocking(|| rotate(path, r.keep).map(Some)),
            Err(e) => Err(e),
        };
        match rotated {
            Ok(Some(done)) => tracing::info!(
                "{}: rotated its log ({} KiB to {}.1{})",
                name,
                done.moved / 1024,
                path.display(),
                if done.lossless {
                    ""
                } else {
                    "; copy then truncate"
                }
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!("{name}: cannot rotate its log: {e}"),
        }
    }
}
