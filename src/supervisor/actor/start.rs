//! A start tried once (`local start` over the socket): who asked waits
//! for the outcome, told when the service is ready (or found running), or
//! why it did not start, with the last lines of this run's log.

use std::time::Instant;

use tokio::sync::oneshot;

use super::{Actor, StartResult};
use crate::lifecycle::{self, write_intent, Want};
use crate::supervisor::core::{Event, Phase};

/// One who waits for a start's outcome.
pub(super) struct Waiter {
    tx: oneshot::Sender<StartResult>,
    /// The generation when asked, and whether it was running or starting.
    gen: u64,
    was_live: bool,
    since: Instant,
    /// The attempt is under way: an idle phase from now on is its end.
    pub(super) armed: bool,
}

impl Actor {
    /// A start tried once: what runs is reused; otherwise, after a fresh
    /// inspection (it may find it running, or leftovers to clean), spawned.
    pub(super) fn start_once(&mut self, tx: oneshot::Sender<StartResult>) {
        // A task done already is not run again by a start (a restart does).
        if let (Phase::Stopped, Some(run)) = (self.core.phase, self.core.completed) {
            let _ = tx.send(Ok(lifecycle::StartOutcome::Done { run, earlier: true }));
            return;
        }
        write_intent(&self.ctx, Want::Running);
        let live = matches!(self.core.phase, Phase::Running | Phase::Starting);
        self.waiters.push(Waiter {
            tx,
            gen: self.core.gen,
            was_live: live,
            since: Instant::now(),
            armed: live,
        });
        match self.core.phase {
            Phase::Stopped | Phase::Failed | Phase::Backoff => {
                self.start_once_after = Some(Instant::now());
                self.eye.refresh();
            }
            Phase::Stopping => self.event(Event::StartOnce),
            Phase::Starting | Phase::Running => {}
        }
    }

    /// Tells each waiter how its start ended, once it has.
    pub(super) fn settle(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let c = &self.core;
        let ended = match c.phase {
            Phase::Running => Some(true),
            Phase::Stopped if c.completed.is_some() => Some(true),
            Phase::Starting | Phase::Stopping => None,
            _ if self.adopting || self.start_once_after.is_some() => None,
            _ => Some(false),
        };
        let name = &self.ctx.spec.name;
        let mut keep = vec![];
        for w in std::mem::take(&mut self.waiters) {
            let r = match (ended, c.completed) {
                (Some(true), Some(run)) => Ok(lifecycle::StartOutcome::Done {
                    run,
                    earlier: false,
                }),
                (Some(true), None) => {
                    let pid = c.pid.unwrap_or_default();
                    // Started by this attempt, or found running (reused).
                    // Started by this attempt (told to the first who asked:
                    // the others joined it), or found running (reused).
                    let fresh = self.spawned.filter(|(t, _)| *t >= w.since);
                    Ok(match fresh {
                        Some((t, _)) if !(self.told_started || w.was_live && w.gen == c.gen) => {
                            self.told_started = true;
                            lifecycle::StartOutcome::Started {
                                pid,
                                ready_in: t.elapsed(),
                            }
                        }
                        _ => lifecycle::StartOutcome::Reused { pid },
                    })
                }
                (Some(false), _) if w.armed => {
                    let m = c.message.clone().unwrap_or_else(|| "stopped".into());
                    let m = m.strip_prefix("did not start: ").unwrap_or(&m).to_string();
                    let died = self
                        .spawned
                        .map(|(_, off)| lifecycle::why_it_died(&self.ctx, off))
                        .unwrap_or_default();
                    Err(lifecycle::Failure(format!(
                        "{name} did not start: {m}{died}"
                    )))
                }
                _ => {
                    keep.push(w);
                    continue;
                }
            };
            let _ = w.tx.send(r);
        }
        self.waiters = keep;
    }
}
