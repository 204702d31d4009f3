//! Supervising a stack: the inspector, one actor per service (each with its
//! own pure core), the coordinator over them, and the rotator — what a
//! supervisor process (the dash, `start --foreground`, `local supervise`)
//! runs while it holds the supervisor lock. Nobody else runs them: a
//! process that does not hold the lock watches (an inspector and the
//! supervisor's view over the socket), it never half-supervises.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::actor::{self, Handle};
use super::coordinator::Coordinator;
use super::core::Phase;
use super::history::History;
use super::inspector::Inspector;
use super::reload::{ConfigStatus, Reloader};
use super::suplock::SupLock;
use crate::config::service::Stack;
use crate::util::clock::now_ms;
use crate::view::ServiceView;

pub use super::coordinator::{Outcome, StackCommand, Ticket};

/// Another process holds the supervisor lock.
#[derive(Debug, thiserror::Error)]
#[error("another supervisor already supervises {0}")]
pub struct Busy(pub String);

pub struct StackHandle {
    pub commands: mpsc::Sender<StackCommand>,
    /// The supervisor's event history.
    pub history: Arc<History>,
    /// The supervisor lock, held for as long as we supervise.
    pub sup: Arc<SupLock>,
    /// Every service's view, in the stack's order.
    pub views: watch::Receiver<Vec<ServiceView>>,
    /// The stack as supervised now (a reload changes it).
    pub stack: watch::Receiver<Stack>,
    /// Reloads it from its file (the file's saves do too).
    pub reloader: Reloader,
    pub inspector: Inspector,
    pub join: JoinHandle<()>,
}

impl StackHandle {
    /// Supervision ends here: the history is left for the next supervisor,
    /// then the supervisor lock is let go (in that order, so whoever takes
    /// the lock finds the history). Call once the actors have shut down.
    pub fn hand_over(&self, stack: &Stack) {
        if !self.sup.held() {
            return;
        }
        let path = stack.settings.state.history_path();
        if let Err(e) = self.history.save(&path) {
            tracing::warn!(
                "{}: {e}; the next supervisor starts a new history",
                path.display()
            );
        }
        // Each running service's counts go with it: the next supervisor
        // adopts the same PIDs and goes on counting.
        let carried: HashMap<String, super::handover::Carried> = self
            .views
            .borrow()
            .iter()
            .filter_map(|v| {
                let resume = matches!(v.phase, Phase::Backoff | Phase::Starting);
                let pid = v.pid.or(resume.then_some(0))?;
                Some((
                    v.name.clone(),
                    super::handover::Carried {
                        pid,
                        restarts: v.restarts,
                        last_exit: v.last_exit,
                        resume,
                        at_ms: now_ms(),
                    },
                ))
            })
            .collect();
        let path = stack.settings.state.handover_path();
        if let Ok(bytes) = serde_json::to_vec(&carried) {
            if let Err(e) = crate::state::write_atomic(&path, &bytes) {
                tracing::warn!("{}: {e}; restart counts start again at 0", path.display());
            }
        }
        self.sup.release();
    }
}

/// The views of a stack nobody has decided anything about yet.
pub fn unsupervised_views(stack: &Stack) -> Vec<ServiceView> {
    stack
        .services
        .iter()
        .map(|c| ServiceView::unsupervised(&c.spec.name))
        .collect()
}

/// Supervises `stack` with an inspector of its own, looking every
/// `inspect_every` (and at once on every change): for a process that only
/// ever supervises.
pub fn supervise(
    stack: Stack,
    autostart: bool,
    inspect_every: Duration,
) -> Result<StackHandle, Busy> {
    let (views, rx) = watch::channel(unsupervised_views(&stack));
    let inspector = super::inspector::spawn_with(
        &stack,
        inspect_every,
        rx,
        crate::probe::inspect::LockCheck::Auto,
    );
    spawn(stack, autostart, inspector, views)
}

/// Takes the supervisor lock and supervises `stack`, publishing the views
/// on `views` (which `inspector` reads); refused when another holds it.
pub fn spawn(
    stack: Stack,
    autostart: bool,
    inspector: Inspector,
    views: watch::Sender<Vec<ServiceView>>,
) -> Result<StackHandle, Busy> {
    let sup = SupLock::new(stack.settings.state.supervisor_lock_path());
    if !sup.held() {
        return Err(Busy(stack.settings.state.root().display().to_string()));
    }
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    // A supervisor carries on the history (and counts) the previous one left.
    let history = History::load(&stack.settings.state.history_path());
    let actors: Vec<Handle> = stack
        .services
        .iter()
        .filter_map(|ctx| {
            let carried = super::handover::carried(&stack.settings.state, &ctx.spec.name);
            let eye = inspector.eye(&ctx.spec.name)?;
            Some(actor::spawn(ctx.clone(), eye, history.clone(), carried))
        })
        .collect();
    let rx = views.subscribe();
    let (current, stack_rx) = watch::channel(stack.clone());
    let rotator = super::rotator::spawn(stack_rx.clone(), sup.clone());
    let reloader = Reloader {
        commands: cmd_tx.downgrade(),
        current: stack_rx.clone(),
        status: Arc::new(watch::channel(ConfigStatus::of(&stack)).0),
        history: history.clone(),
    };
    let watcher = super::reload::watch_config(reloader.clone());
    let own = cmd_tx.downgrade();
    let co_history = history.clone();
    let co_inspector = inspector.clone();
    let join = tokio::spawn(async move {
        let mut co = Coordinator::new(stack, actors, views, current, co_inspector, co_history, own);
        co.run(cmd_rx, autostart).await;
        rotator.abort();
        watcher.abort();
    });
    Ok(StackHandle {
        commands: cmd_tx,
        history,
        sup,
        views: rx,
        stack: stack_rx,
        reloader,
        inspector,
        join,
    })
}
