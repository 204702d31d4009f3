//! Log rotation, for the whole stack in one task: while this process holds
//! the supervisor lock, each service's log is checked once a
//! [`CHECK_EVERY`](crate::logs::rotate::CHECK_EVERY) and rotated past its
//! size (docs/logs.md). One timer for the stack, not one per service: an
//! idle supervisor wakes as little as it can.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::suplock::SupLock;
use crate::config::service::Stack;
use crate::logs::rotate::{rotate_if_needed, CHECK_EVERY};

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
            crate::util::blocking::blocking(move || rotate_all(&stack));
        }
    })
}

fn rotate_all(stack: &Stack) {
    let r = stack.settings.rotation;
    for ctx in &stack.services {
        let path = &ctx.spec.paths.log;
        match rotate_if_needed(path, r) {
            Ok(Some(done)) => tracing::info!(
                "{}: rotated its log ({} KiB to {}.1{})",
                ctx.spec.name,
                done.moved / 1024,
                path.display(),
                if done.lossless {
                    ""
                } else {
                    "; copy then truncate"
                }
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!("{}: cannot rotate its log: {e}", ctx.spec.name),
        }
    }
}
