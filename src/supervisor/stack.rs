//! Supervising a stack: one actor per service (each with its own pure core),
//! and a coordinator that starts a service only when its dependencies meet
//! their condition (the pure `stack::Graph::decide`), stops dependents
//! before what they depend on, and merges the actors' snapshots into one.

use std::collections::{BTreeSet, HashMap};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use std::sync::Arc;

use super::actor::{self, Command, Handle, Options, Order, Snapshot, StartResult, SupLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::core::{ExitInfo, Phase};
use super::history::History;
use crate::config::graph::{Decision, Unit};
use crate::config::service::Stack;
use crate::util::clock::now_ms;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackCommand {
    /// A command for one service. `Start` also starts its dependencies
    /// first; `Stop` and `Kill` also stop what depends on it, first.
    Service(String, Command),
    /// Every `autostart` service, in dependency order.
    StartAll,
    /// `local start`: these services (closed under dependencies), each
    /// tried once, in dependency order; each one's outcome goes to `ticket`.
    Start {
        services: BTreeSet<String>,
        ticket: Ticket,
    },
    /// Every service, dependents first.
    StopAll,
    Refresh,
    /// Every actor observes only, or resumes (see `Command::Observe`).
    Observe(bool),
    /// End supervision; with `stop`, stop the whole stack first.
    Shutdown {
        stop: bool,
    },
}

/// A service's name and how its start ended.
pub type Outcome = (String, StartResult);

/// Where a start's outcomes go, one per service, as each is known.
#[derive(Debug, Clone)]
pub struct Ticket(pub mpsc::UnboundedSender<Outcome>);

impl PartialEq for Ticket {
    fn eq(&self, other: &Self) -> bool {
        self.0.same_channel(&other.0)
    }
}
impl Eq for Ticket {}

#[derive(Debug, Clone)]
pub struct ServiceView {
    pub name: String,
    pub snap: Snapshot,
    /// Why it is not moving: "waiting for temporal", "not started: …".
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct StackSnapshot {
    pub services: Vec<ServiceView>,
}

impl StackSnapshot {
    pub fn get(&self, name: &str) -> Option<&ServiceView> {
        self.services.iter().find(|s| s.name == name)
    }

    /// What the supervisor tells attached clients: its decisions, not the
    /// world (each client inspects processes, ports and locks itself).
    pub fn summaries(&self, now: Instant) -> Vec<ServiceSummary> {
        self.services
            .iter()
            .map(|v| {
                let s = &v.snap;
                ServiceSummary {
                    name: v.name.clone(),
                    phase: s.phase,
                    gen: s.gen,
                    pid: s.pid,
                    restarts: s.restarts,
                    failures_in_window: s.failures_in_window,
                    unhealthy: s.unhealthy.clone(),
                    last_exit: s.last_exit,
                    backoff_until_ms: s
                        .backoff_until
                        .map(|t| now_ms() + t.saturating_duration_since(now).as_millis() as u64),
                    message: s.message.clone(),
                    note: v.note.clone(),
                }
            })
            .collect()
    }

    /// Puts the supervisor's decisions over what this process sees: the
    /// phases, restarts, exits and messages are the supervisor's.
    pub fn overlay(&mut self, from: &[ServiceSummary], now: Instant) {
        for v in &mut self.services {
            let Some(x) = from.iter().find(|x| x.name == v.name) else {
                continue;
            };
            let s = &mut v.snap;
            s.phase = x.phase;
            s.gen = x.gen;
            s.pid = x.pid;
            s.restarts = x.restarts;
            s.failures_in_window = x.failures_in_window;
            s.unhealthy = x.unhealthy.clone();
            s.last_exit = x.last_exit;
            s.backoff_until = x
                .backoff_until_ms
                .map(|at| now + Duration::from_millis(at.saturating_sub(now_ms())));
            s.message = x.message.clone();
            s.supervising = true;
            v.note = x.note.clone();
        }
    }
}

/// One service as its supervisor sees it, as sent over the control socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSummary {
    pub name: String,
    pub phase: Phase,
    pub gen: u64,
    pub pid: Option<i32>,
    pub restarts: u32,
    pub failures_in_window: usize,
    pub unhealthy: Option<String>,
    pub last_exit: Option<ExitInfo>,
    /// When a scheduled restart is due (ms since the epoch).
    pub backoff_until_ms: Option<u64>,
    pub message: Option<String>,
    pub note: Option<String>,
}

pub struct StackHandle {
    pub commands: mpsc::Sender<StackCommand>,
    /// The supervisor's event history.
    pub history: Arc<History>,
    /// Whether this process holds the supervisor lock (and supervises).
    pub supervising: bool,
    /// The lock itself: an observer may take it later, when the
    /// supervisor it watched has gone.
    pub sup: Arc<SupLock>,
    pub snapshots: watch::Receiver<StackSnapshot>,
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
            .snapshots
            .borrow()
            .services
            .iter()
            .filter_map(|v| {
                let resume = matches!(v.snap.phase, Phase::Backoff | Phase::Starting);
                let pid = v.snap.pid.or(resume.then_some(0))?;
                Some((
                    v.name.clone(),
                    super::handover::Carried {
                        pid,
                        restarts: v.snap.restarts,
                        last_exit: v.snap.last_exit,
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

pub fn spawn(stack: Stack, opts: Options) -> StackHandle {
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    // An observer leaves the lock to the supervisor it watches.
    let sup = if opts.observe {
        SupLock::unheld(stack.settings.state.supervisor_lock_path())
    } else {
        SupLock::new(stack.settings.state.supervisor_lock_path())
    };
    // A supervisor carries on the history the previous one left.
    let history = if sup.held() {
        History::load(&stack.settings.state.history_path())
    } else {
        History::new()
    };
    let actors: Vec<Handle> = stack
        .services
        .iter()
        .map(|ctx| {
            actor::spawn_with(
                ctx.clone(),
                Options {
                    autostart: false,
                    ..opts
                },
                sup.clone(),
                history.clone(),
            )
        })
        .collect();
    let first = StackSnapshot {
        services: stack
            .services
            .iter()
            .zip(&actors)
            .map(|(c, h)| ServiceView {
                name: c.spec.name.clone(),
                snap: h.snapshots.borrow().clone(),
                note: None,
            })
            .collect(),
    };
    let (snap_tx, snap_rx) = watch::channel(first);
    let rotator = super::rotator::spawn(stack.clone(), sup.clone());
    let join = tokio::spawn(async move {
        let mut co = Coordinator {
            stack,
            actors,
            wanted: BTreeSet::new(),
            handed: HashMap::new(),
            stopping: BTreeSet::new(),
            notes: HashMap::new(),
            tickets: HashMap::new(),
            snap_tx,
        };
        co.run(cmd_rx, opts.autostart).await;
        rotator.abort();
    });
    StackHandle {
        commands: cmd_tx,
        history,
        supervising: sup.held(),
        sup,
        snapshots: snap_rx,
        join,
    }
}

struct Coordinator {
    stack: Stack,
    actors: Vec<Handle>,
    /// Asked to start, not yet handed to its actor (dependencies first).
    wanted: BTreeSet<String>,
    /// Handed a start, with its actor's generation then: counts as starting
    /// until the actor has taken it (its generation or phase moved).
    handed: HashMap<String, u64>,
    /// Asked to stop, not yet handed to its actor (dependents first).
    stopping: BTreeSet<String>,
    notes: HashMap<String, String>,
    /// Who waits for the outcome of a start of each service.
    tickets: HashMap<String, Vec<Ticket>>,
    snap_tx: watch::Sender<StackSnapshot>,
}

impl Coordinator {
    async fn run(&mut self, mut cmd_rx: mpsc::Receiver<StackCommand>, autostart: bool) {
        // Any actor's new snapshot wakes us (one pending wake is enough).
        let (wake_tx, mut wake_rx) = mpsc::channel::<()>(1);
        for h in &self.actors {
            let mut rx = h.snapshots.clone();
            let tx = wake_tx.clone();
            tokio::spawn(async move {
                while rx.changed().await.is_ok() {
                    let _ = tx.try_send(());
                }
            });
        }
        drop(wake_tx);
        if autostart {
            // Each actor reads commands only after adopting what runs.
            self.command(StackCommand::StartAll).await;
        }
        let mut shutting_down = false;
        loop {
            self.step().await;
            if shutting_down && self.stopping.is_empty() && self.all_idle() {
                break;
            }
            tokio::select! {
                cmd = cmd_rx.recv() => match cmd {
                    None | Some(StackCommand::Shutdown { stop: false }) => break,
                    Some(StackCommand::Shutdown { stop: true }) => {
                        shutting_down = true;
                        self.command(StackCommand::StopAll).await;
                    }
                    Some(c) => self.command(c).await,
                },
                w = wake_rx.recv() => if w.is_none() { break },
            }
        }
        for h in &self.actors {
            let _ = h
                .commands
                .send(Order::Command(Command::Shutdown { stop: false }))
                .await;
        }
        for h in self.actors.drain(..) {
            let _ = h.join.await;
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.stack.services.iter().position(|c| c.spec.name == name)
    }

    fn phase(&self, name: &str) -> Phase {
        self.index(name)
            .map(|i| self.actors[i].snapshots.borrow().phase)
            .unwrap_or(Phase::Stopped)
    }

    fn all_idle(&self) -> bool {
        self.actors.iter().all(|h| {
            let s = h.snapshots.borrow();
            matches!(s.phase, Phase::Stopped | Phase::Failed)
        })
    }

    async fn send(&self, name: &str, c: Command) {
        if let Some(i) = self.index(name) {
            let _ = self.actors[i].commands.send(Order::Command(c)).await;
        }
    }

    /// Hands the starts waiting for `name` to its actor, one each (the
    /// first to ask hears "started", the others "reused"); each outcome
    /// goes straight to its ticket.
    async fn start_once(&mut self, name: &str) {
        let Some(i) = self.index(name) else { return };
        for ticket in self.tickets.remove(name).unwrap_or_default() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let _ = self.actors[i].commands.send(Order::StartOnce(tx)).await;
            let name = name.to_string();
            tokio::spawn(async move {
                let r = rx
                    .await
                    .unwrap_or_else(|_| Err(format!("{name}: the supervisor is exiting")));
                let _ = ticket.0.send((name, r));
            });
        }
    }

    /// A service's start outcome, to everyone waiting for it.
    fn settle(&mut self, name: &str, r: StartResult) {
        for t in self.tickets.remove(name).unwrap_or_default() {
            let _ = t.0.send((name.to_string(), r.clone()));
        }
    }

    async fn command(&mut self, c: StackCommand) {
        let g = &self.stack.graph;
        match c {
            StackCommand::StartAll => {
                let names: Vec<&str> = self
                    .stack
                    .services
                    .iter()
                    .filter(|c| c.spec.autostart)
                    .map(|c| c.spec.name.as_str())
                    .collect();
                let set = g.with_dependencies(&names).unwrap_or_default();
                self.want(set);
            }
            StackCommand::StopAll => {
                for s in std::mem::take(&mut self.wanted) {
                    self.unwant(&s);
                }
                self.stopping = self.stack.names().into_iter().map(String::from).collect();
            }
            StackCommand::Start { services, ticket } => {
                for s in &services {
                    self.tickets
                        .entry(s.clone())
                        .or_default()
                        .push(ticket.clone());
                }
                let mut wanted = BTreeSet::new();
                for s in services {
                    // On its way or there: its actor tells when it is ready.
                    match self.phase(&s) {
                        Phase::Running | Phase::Starting | Phase::Backoff => {
                            self.start_once(&s).await
                        }
                        _ => {
                            wanted.insert(s);
                        }
                    }
                }
                self.want(wanted);
            }
            StackCommand::Service(name, Command::Start) => {
                let set = g.with_dependencies(&[name.as_str()]).unwrap_or_default();
                self.want(set);
            }
            StackCommand::Service(name, Command::Stop) => {
                let set = g.with_dependents(&[name.as_str()]).unwrap_or_default();
                for s in &set {
                    self.unwant(s);
                }
                self.stopping.extend(set);
            }
            StackCommand::Service(name, Command::Kill) => {
                // Force is for now: every one at once, no ordering.
                let set = g.with_dependents(&[name.as_str()]).unwrap_or_default();
                for s in &set {
                    self.unwant(s);
                    self.stopping.remove(s);
                    self.send(s, Command::Kill).await;
                }
            }
            StackCommand::Service(name, c) => self.send(&name, c).await,
            StackCommand::Refresh => {
                for h in &self.actors {
                    let _ = h.commands.try_send(Order::Command(Command::Refresh));
                }
            }
            StackCommand::Observe(on) => {
                for h in &self.actors {
                    let _ = h.commands.send(Order::Command(Command::Observe(on))).await;
                }
            }
            StackCommand::Shutdown { .. } => {}
        }
    }

    /// No longer to be started: a start waiting for it hears so (one its
    /// actor has taken is answered by the actor).
    fn unwant(&mut self, name: &str) {
        self.wanted.remove(name);
        if !self.handed.contains_key(name) && self.tickets.contains_key(name) {
            self.settle(name, Err(format!("{name}: stopped before it started")));
        }
    }

    fn want(&mut self, set: BTreeSet<String>) {
        for s in set {
            self.stopping.remove(&s);
            self.notes.remove(&s);
            self.wanted.insert(s);
        }
    }

    /// Hands over whatever may go now, and publishes.
    async fn step(&mut self) {
        // Starts: those already on their way need nothing from us.
        let actors = &self.actors;
        let index = |n: &str| self.stack.services.iter().position(|c| c.spec.name == n);
        self.handed.retain(|n, g| {
            index(n).is_some_and(|i| {
                let s = actors[i].snapshots.borrow();
                s.gen == *g && matches!(s.phase, Phase::Stopped | Phase::Failed)
            })
        });
        let wanted: Vec<String> = self.wanted.iter().cloned().collect();
        for s in wanted {
            if matches!(
                self.phase(&s),
                Phase::Running | Phase::Starting | Phase::Backoff
            ) {
                self.wanted.remove(&s);
            }
        }
        // Starts asked for what is now on its way: its actor tells them.
        let live: Vec<String> = self
            .tickets
            .keys()
            .filter(|n| !self.wanted.contains(*n) && !self.handed.contains_key(*n))
            .filter(|n| {
                matches!(
                    self.phase(n),
                    Phase::Running | Phase::Starting | Phase::Backoff
                )
            })
            .cloned()
            .collect();
        for s in live {
            self.start_once(&s).await;
        }
        let units: HashMap<String, Unit> = self
            .stack
            .services
            .iter()
            .zip(&self.actors)
            .map(|(c, h)| {
                let name = &c.spec.name;
                let s = h.snapshots.borrow();
                let u = match s.phase {
                    _ if self.handed.contains_key(name) => Unit::Starting,
                    Phase::Running => Unit::Running { ready: true },
                    Phase::Starting | Phase::Backoff => Unit::Starting,
                    _ if self.wanted.contains(name) => Unit::Waiting,
                    Phase::Failed => Unit::Failed(s.message.clone().unwrap_or_default()),
                    Phase::Stopped if s.start_failed.is_some() => {
                        Unit::Failed(s.start_failed.clone().unwrap_or_default())
                    }
                    _ => Unit::Stopped,
                };
                (name.clone(), u)
            })
            .collect();
        for (name, d) in self.stack.graph.decide(&units) {
            match d {
                Decision::Spawn => {
                    self.wanted.remove(&name);
                    self.notes.remove(&name);
                    if let Some(i) = self.index(&name) {
                        let g = self.actors[i].snapshots.borrow().gen;
                        self.handed.insert(name.clone(), g);
                    }
                    if self.tickets.contains_key(&name) {
                        self.start_once(&name).await;
                    } else {
                        self.send(&name, Command::Start).await;
                    }
                }
                Decision::Wait(deps) => {
                    self.notes
                        .insert(name, format!("waiting for {}", deps.join(", ")));
                }
                Decision::Blocked(why) => {
                    tracing::warn!("{why}");
                    self.settle(&name, Err(why.clone()));
                    self.wanted.remove(&name);
                    self.notes.insert(name, why);
                }
            }
        }
        // Stops: a service goes once nothing that depends on it still runs.
        let stopping: Vec<String> = self.stopping.iter().cloned().collect();
        for s in stopping {
            let clear = self.stack.graph.may_stop(&s, |d| {
                !self.stopping.contains(d)
                    && matches!(self.phase(d), Phase::Stopped | Phase::Failed)
            });
            if clear {
                self.stopping.remove(&s);
                self.notes.remove(&s);
                self.send(&s, Command::Stop).await;
            } else {
                self.notes
                    .insert(s.clone(), "stops after what depends on it".into());
            }
        }
        self.publish();
    }

    fn publish(&self) {
        let services = self
            .stack
            .services
            .iter()
            .zip(&self.actors)
            .map(|(c, h)| {
                let snap = h.snapshots.borrow().clone();
                // A running service whose dependency is down keeps running
                // (workers reconnect); say what it waits for.
                let note = self.notes.get(&c.spec.name).cloned().or_else(|| {
                    let down: Vec<&str> = c
                        .spec
                        .depends_on
                        .iter()
                        .map(|(d, _)| d.as_str())
                        .filter(|d| self.phase(d) != Phase::Running)
                        .collect();
                    (snap.phase == Phase::Running && !down.is_empty())
                        .then(|| format!("waiting for {}", down.join(", ")))
                });
                ServiceView {
                    name: c.spec.name.clone(),
                    snap,
                    note,
                }
            })
            .collect();
        self.snap_tx.send_replace(StackSnapshot { services });
    }
}
