//! The supervisor actor: owns one service's `Core`, performs its actions,
//! and turns the world (child exits, pidfd readiness, probes, timers,
//! commands, the inspector's findings) back into events. Commands come in
//! over a bounded mpsc; its view goes out over a `watch`, so a slow reader
//! never slows the supervisor. It supervises and nothing else: inspecting
//! and sampling are the inspector's, rotation the rotator's.

mod act;
mod record;
mod start;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::core::{Core, Event, Phase};
use super::history::{History, Kind};
use super::inspector::Eye;
use crate::lifecycle::{self, write_intent, Ctx, Want};
use crate::probe::inspect::{State, Status};
use crate::process::scan::ProcEntry;
use crate::state::lock;
use crate::state::pidfile::PidRecord;
use crate::util::clock::wall_ms;
use crate::view::ServiceView;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Start,
    Stop,
    Kill,
    Restart,
    /// Remove stale state; kill orphaned and escaped processes proven ours.
    Clean,
    /// Inspect now rather than at the next tick.
    Refresh,
    /// Turn restart on change off, or on again (the coordinator's).
    ToggleWatch,
    /// End the actor; with `stop`, stop the service first.
    Shutdown {
        stop: bool,
    },
}

/// What an actor is told: a command, or a start tried once whose outcome
/// goes back to the one who asked (a `local start` over the socket).
#[derive(Debug)]
pub enum Order {
    Command(Command),
    StartOnce(oneshot::Sender<StartResult>),
}

/// How a start tried once ended: started (or found running), or why not.
pub type StartResult = Result<lifecycle::StartOutcome, lifecycle::Failure>;

pub struct Handle {
    pub commands: mpsc::Sender<Order>,
    pub views: watch::Receiver<ServiceView>,
    pub join: JoinHandle<()>,
}

enum Internal {
    Core(Event),
    Progress(Vec<ProcEntry>),
}

/// An actor for one service of a stack: `eye` is the inspector's on it;
/// `carried` the counts a supervisor that handed over left for it.
pub fn spawn(
    ctx: Arc<Ctx>,
    eye: Eye,
    history: Arc<History>,
    carried: Option<super::handover::Carried>,
) -> Handle {
    let (cmd_tx, cmd_rx) = mpsc::channel::<Order>(32);
    let (view_tx, views) = watch::channel(ServiceView::unsupervised(&ctx.spec.name));
    let join = tokio::spawn(async move {
        let (io_tx, io_rx) = mpsc::unbounded_channel();
        let mut actor = Actor {
            core: {
                let mut core = Core::new(ctx.spec.restart)
                    .with_liveness(ctx.spec.liveness)
                    .with_task(ctx.spec.task.clone());
                // Completed under an earlier supervisor: still done.
                core.completed = ctx.spec.task.as_ref().and_then(|_| record::completed(&ctx));
                core
            },
            ctx,
            eye,
            view_tx,
            io_tx,
            io_rx,
            history,
            current: None,
            timer: None,
            stop_task: None,
            probe_task: None,
            status: None,
            stopping_alive: vec![],
            carried,
            waiters: vec![],
            start_once_after: None,
            adopting: false,
            spawned: None,
            told_started: false,
        };
        actor.run(cmd_rx).await;
    });
    Handle {
        commands: cmd_tx,
        views,
        join,
    }
}

struct Actor {
    ctx: Arc<Ctx>,
    core: Core,
    eye: Eye,
    view_tx: watch::Sender<ServiceView>,
    io_tx: mpsc::UnboundedSender<Internal>,
    io_rx: mpsc::UnboundedReceiver<Internal>,
    history: Arc<History>,
    current: Option<PidRecord>,
    timer: Option<(Instant, u64)>,
    stop_task: Option<JoinHandle<()>>,
    /// The liveness checks of the current generation, while it runs.
    probe_task: Option<JoinHandle<()>>,
    /// The inspector's latest finding (cleaning before a spawn reads it).
    status: Option<Arc<Status>>,
    /// While a stop waits: the processes still alive.
    stopping_alive: Vec<ProcEntry>,
    carried: Option<super::handover::Carried>,
    waiters: Vec<start::Waiter>,
    /// A start tried once waits for an inspection that began after it was
    /// asked (it may find the service running, or leftovers to clean).
    start_once_after: Option<Instant>,
    /// Lost the start lock to another starter: adopting what it started.
    adopting: bool,
    /// When the current process was spawned, and its log's size then.
    spawned: Option<(Instant, u64)>,
    /// Someone was told the current process was started for them.
    told_started: bool,
}

impl Actor {
    async fn run(&mut self, mut cmd_rx: mpsc::Receiver<Order>) {
        // Adopt what is already running before deciding anything.
        let mut seen = self.eye.seen.clone();
        let first = seen
            .wait_for(|s| s.status.is_some())
            .await
            .map(|s| s.clone());
        if let Ok(s) = first {
            self.seen(&s);
        }
        // Due a restart when the last supervisor handed over: not forgotten.
        let resume = self.carried.take().filter(|c| c.resume);
        if let Some(c) = resume.filter(|_| self.core.phase == Phase::Stopped) {
            tracing::info!(
                "{}: restarting, as the last supervisor was about to",
                self.ctx.spec.name
            );
            self.core.restarts = c.restarts;
            self.core.last_exit = c.last_exit;
            self.command(Command::Start);
        }
        self.publish();
        let mut shutting_down = false;
        loop {
            let timer_at = self.timer.map(|(at, _)| tokio::time::Instant::from_std(at));
            tokio::select! {
                cmd = cmd_rx.recv() => match cmd {
                    None => break,
                    Some(Order::StartOnce(tx)) => self.start_once(tx),
                    Some(Order::Command(Command::Shutdown { stop })) => {
                        if !stop || self.core.phase.idle() && self.current.is_none() {
                            break;
                        }
                        shutting_down = true;
                        self.command(Command::Stop);
                    }
                    Some(Order::Command(c)) => self.command(c),
                },
                Some(msg) = self.io_rx.recv() => match msg {
                    Internal::Core(ev) => self.event(ev),
                    Internal::Progress(left) => self.stopping_alive = left,
                },
                changed = seen.changed() => {
                    if changed.is_err() {
                        break; // the inspector ended: so does the stack
                    }
                    let s = seen.borrow_and_update().clone();
                    self.seen(&s);
                }
                _ = async { tokio::time::sleep_until(timer_at.unwrap_or_else(tokio::time::Instant::now)).await }, if timer_at.is_some() => {
                    if let Some((_, epoch)) = self.timer.take() {
                        self.event(Event::Timer { epoch });
                    }
                }
            }
            self.publish();
            if shutting_down && self.core.phase == Phase::Stopped {
                break;
            }
        }
    }

    fn command(&mut self, c: Command) {
        tracing::info!("command: {c:?}");
        let ev = match c {
            Command::Start => {
                write_intent(&self.ctx, Want::Running);
                Event::Start
            }
            Command::Restart => {
                write_intent(&self.ctx, Want::Running);
                Event::Restart
            }
            Command::Stop => Event::Stop,
            Command::Kill => Event::Kill,
            Command::Refresh => return self.eye.refresh(),
            Command::Clean => {
                let (ctx, eye) = (self.ctx.clone(), self.eye.clone());
                tokio::spawn(async move {
                    match lifecycle::clean(&ctx, false).await {
                        Ok(plan) if plan.actions.is_empty() => {
                            tracing::info!("clean: nothing to clean")
                        }
                        Ok(plan) => plan
                            .actions
                            .iter()
                            .for_each(|a| tracing::info!("clean: {a}")),
                        Err(e) => tracing::error!("clean failed: {e:#}"),
                    }
                    eye.refresh();
                });
                return;
            }
            Command::Shutdown { .. } | Command::ToggleWatch => return,
        };
        self.event(ev);
    }

    fn event(&mut self, ev: Event) {
        let before = self.core.phase;
        let gen_before = self.core.gen;
        let pid_before = self.current.as_ref().map(|r| r.pid).or(self.core.pid);
        let unhealthy_before = self.core.unhealthy.is_some();
        let actions = self.core.handle(Instant::now(), ev.clone());
        if self.core.phase == Phase::Starting {
            self.waiters.iter_mut().for_each(|w| w.armed = true);
        }
        match ev {
            Event::LostRace { .. } => self.adopting = true,
            Event::Adopt { .. } if self.core.gen != gen_before => {
                self.adopting = false;
                self.spawned = None;
            }
            Event::Ready { .. }
                if before == Phase::Starting && self.core.phase == Phase::Running =>
            {
                self.note_ready()
            }
            _ => {}
        }
        self.record(&ev, before, gen_before, pid_before, &actions);
        if self.core.unhealthy.is_some() != unhealthy_before && self.core.gen == gen_before {
            self.record_health(pid_before);
        }
        if self.core.phase != Phase::Running || self.core.gen != gen_before {
            if let Some(t) = self.probe_task.take() {
                t.abort();
            }
        }
        for a in actions {
            self.act(a);
        }
        if self.core.phase != before {
            let name = &self.ctx.spec.name;
            tracing::info!("{name}: {} → {}", before.name(), self.core.phase.name());
            if let Some(m) = &self.core.message {
                tracing::info!("{name}: {m}");
            }
            self.eye.refresh();
        }
    }

    fn record_health(&self, pid: Option<i32>) {
        let name = self.ctx.spec.name.as_str();
        match &self.core.unhealthy {
            Some(why) => {
                let then = if self.core.phase == Phase::Stopping {
                    "; restarting"
                } else {
                    ""
                };
                tracing::warn!("{name}: unhealthy: {why}{then}");
                self.history
                    .push(name, Kind::Unhealthy, pid, format!("{why}{then}"));
            }
            None => self.history.push(name, Kind::Healthy, pid, ""),
        }
    }

    /// Ready: the record we hold was taken at spawn; the PID file now says
    /// when it got ready (a log match is recorded there).
    fn note_ready(&mut self) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        if let Some(r) = crate::state::pidfile::read(&self.ctx.spec.paths.pid)
            .record()
            .filter(|r| r.pid == cur.pid && r.start_ticks == cur.start_ticks)
        {
            *cur = r.clone();
        }
    }

    /// What the inspector found: adopt what runs while we run nothing.
    fn seen(&mut self, seen: &super::inspector::Seen) {
        let (Some(st), Some(began)) = (seen.status.clone(), seen.began) else {
            return;
        };
        let idle = matches!(
            self.core.phase,
            Phase::Stopped | Phase::Failed | Phase::Backoff
        );
        if idle && matches!(st.state, State::Running | State::Starting) {
            if let Some(rec) = st.record().cloned() {
                self.adopt(rec, st.state == State::Running, began);
            }
        }
        if self.adopting && !matches!(st.state, State::Running | State::Starting) {
            self.await_other_starter();
        }
        if self.start_once_after.is_some_and(|t| began >= t) {
            self.start_once_after = None;
            self.event(Event::StartOnce);
        }
        self.status = Some(st);
    }

    fn adopt(&mut self, rec: PidRecord, ready: bool, began: Instant) {
        let gen = self.core.gen;
        let prev = self.current.replace(rec.clone());
        self.event(Event::Adopt {
            pid: rec.pid,
            ready,
            seen_at: began,
        });
        if self.core.gen == gen {
            self.current = prev; // not adopted: stale news
        } else if let Some(c) = self.carried.take().filter(|c| c.pid == rec.pid) {
            // Handed over: the same process, its counts go on.
            self.core.restarts = c.restarts;
            self.core.last_exit = c.last_exit;
        }
    }

    /// Lost the start lock, and what the winner starts is not there yet:
    /// look again once it is done (or give up when nobody holds the lock).
    fn await_other_starter(&mut self) {
        let start_lock = self.ctx.spec.paths.start_lock.clone();
        if !lock::is_held(&start_lock).unwrap_or(false) {
            self.adopting = false; // what the other starter started is gone
            return;
        }
        let eye = self.eye.clone();
        tokio::spawn(async move {
            crate::util::wait::poll_until(
                Duration::from_secs(120),
                Duration::from_millis(20),
                || !lock::is_held(&start_lock).unwrap_or(false),
            )
            .await;
            eye.refresh();
        });
    }

    /// The one place the core's state becomes the view everyone reads.
    fn publish(&mut self) {
        self.settle();
        let c = &self.core;
        let view = ServiceView {
            name: self.ctx.spec.name.clone(),
            phase: c.phase,
            gen: c.gen,
            pid: c.pid,
            restarts: c.restarts,
            failures_in_window: c.failures.len(),
            start_failed: c.start_failed.clone(),
            unhealthy: c.unhealthy.clone(),
            last_exit: c.last_exit,
            backoff_until_ms: c.backoff_until.map(wall_ms),
            message: c.message.clone(),
            note: None,
            supervisor: Some(std::process::id() as i32),
            stopping_alive: self.stopping_alive.clone(),
            completed: c.completed,
            watching: None,
        };
        if self.ctx.spec.task.is_some() && self.view_tx.borrow().completed != view.completed {
            record::set_completed(&self.ctx, view.completed.as_ref());
        }
        self.view_tx.send_if_modified(|v| {
            let changed = *v != view;
            *v = view;
            changed
        });
    }
}
