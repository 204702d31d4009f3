//! The coordinator of a stack's actors: starts a service only when its
//! dependencies meet their condition (the pure `Graph::decide`), stops
//! dependents before what they depend on (`Graph::may_stop`), answers the
//! tickets of starts tried once, and merges the actors' views into the
//! stack's.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::actor::{Command, Handle, Order, StartResult};
use super::core::Phase;
use super::history::History;
use super::inspector::Inspector;
use crate::config::graph::{Decision, Unit};
use crate::config::service::Stack;
use crate::lifecycle::Failure;
use crate::view::ServiceView;

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
    /// End supervision; with `stop`, stop the whole stack first.
    Shutdown {
        stop: bool,
    },
    /// A client stops these itself (`local stop`): a task among them that
    /// ran to completion is no longer done (the next start runs it).
    StoppedByClient(BTreeSet<String>),
    /// Run the stack as the file says now: what changed or went away
    /// stops, then what is new or changed starts (`supervisor::reload`).
    Reload(super::reload::Reload),
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

pub(super) struct Coordinator {
    pub(super) stack: Stack,
    pub(super) actors: Vec<Handle>,
    /// Asked to start, not yet handed to its actor (dependencies first).
    pub(super) wanted: BTreeSet<String>,
    /// Handed a start, with its actor's generation then: counts as starting
    /// until the actor has taken it (its generation or phase moved).
    pub(super) handed: HashMap<String, u64>,
    /// Asked to stop, not yet handed to its actor (dependents first).
    pub(super) stopping: BTreeSet<String>,
    pub(super) notes: HashMap<String, String>,
    /// Who waits for the outcome of a start of each service.
    pub(super) tickets: HashMap<String, Vec<Ticket>>,
    pub(super) views: watch::Sender<Vec<ServiceView>>,
    /// The stack as run now, for everyone who reads it (socket, rotator, dash).
    pub(super) current: watch::Sender<Stack>,
    pub(super) inspector: Inspector,
    pub(super) history: Arc<History>,
    /// Any actor's new view wakes the loop.
    pub(super) wake: Option<mpsc::Sender<()>>,
    pub(super) pending: Option<super::reload::Pending>,
    /// Restart on change, for each service that has `watch`.
    pub(super) watchers: HashMap<String, super::watch::Watching>,
    /// Our own commands (a watcher sends its restarts here).
    pub(super) own: mpsc::WeakSender<StackCommand>,
}

impl Coordinator {
    pub(super) fn new(
        stack: Stack,
        actors: Vec<Handle>,
        views: watch::Sender<Vec<ServiceView>>,
        current: watch::Sender<Stack>,
        inspector: Inspector,
        history: Arc<History>,
        own: mpsc::WeakSender<StackCommand>,
    ) -> Self {
        Self {
            stack,
            actors,
            wanted: BTreeSet::new(),
            handed: HashMap::new(),
            stopping: BTreeSet::new(),
            notes: HashMap::new(),
            tickets: HashMap::new(),
            views,
            current,
            inspector,
            history,
            wake: None,
            pending: None,
            watchers: HashMap::new(),
            own,
        }
    }

    /// A watcher for each service with `watch` (kept while its spec is the
    /// same), none for the others.
    pub(super) fn sync_watchers(&mut self) {
        use super::watch::{spawn, Around};
        let around = Around {
            commands: self.own.clone(),
            history: self.history.clone(),
            views: self.views.subscribe(),
        };
        let stack = &self.stack;
        self.watchers.retain(|name, w| {
            stack
                .get(name)
                .and_then(|c| c.spec.watch.as_ref())
                .is_some_and(|spec| *spec == w.spec)
        });
        for c in &stack.services {
            let (Some(spec), false) = (&c.spec.watch, self.watchers.contains_key(&c.spec.name))
            else {
                continue;
            };
            let name = c.spec.name.as_str();
            let dependents: Vec<String> = stack
                .graph
                .with_dependents(&[name])
                .unwrap_or_default()
                .into_iter()
                .filter(|d| d != name)
                .collect();
            let w = spawn(c.clone(), spec.clone(), dependents, around.clone());
            self.watchers.insert(name.to_string(), w);
        }
    }

    /// `W`: changes restart it, or no longer.
    fn toggle_watch(&mut self, name: &str) {
        let Some(w) = self.watchers.get(name) else {
            tracing::warn!("{name} has no watch in the config: nothing to turn on or off");
            return;
        };
        let on = !w.on.load(std::sync::atomic::Ordering::Relaxed);
        w.on.store(on, std::sync::atomic::Ordering::Relaxed);
        let word = if on { "on" } else { "off" };
        self.history.push(
            name,
            super::history::Kind::Changed,
            None,
            format!("restart on change turned {word}"),
        );
    }

    /// Its views wake the loop (one pending wake is enough).
    pub(super) fn watch_actor(&self, h: &Handle) {
        let (Some(tx), mut rx) = (self.wake.clone(), h.views.clone()) else {
            return;
        };
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let _ = tx.try_send(());
            }
        });
    }

    pub(super) async fn run(&mut self, mut cmd_rx: mpsc::Receiver<StackCommand>, autostart: bool) {
        let (wake_tx, mut wake_rx) = mpsc::channel::<()>(1);
        self.wake = Some(wake_tx);
        for h in &self.actors {
            self.watch_actor(h);
        }
        self.sync_watchers();
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
        self.abandon_reload();
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

    pub(super) fn index(&self, name: &str) -> Option<usize> {
        self.stack.services.iter().position(|c| c.spec.name == name)
    }

    /// A task that ran to completion and is not running again.
    fn done(&self, name: &str) -> bool {
        self.index(name)
            .is_some_and(|i| self.actors[i].views.borrow().done())
    }

    pub(super) fn phase(&self, name: &str) -> Phase {
        self.index(name)
            .map(|i| self.actors[i].views.borrow().phase)
            .unwrap_or(Phase::Stopped)
    }

    fn all_idle(&self) -> bool {
        self.actors.iter().all(|h| h.views.borrow().phase.idle())
    }

    pub(super) async fn send(&self, name: &str, c: Command) {
        if let Some(i) = self.index(name) {
            let _ = self.actors[i].commands.send(Order::Command(c)).await;
        }
    }

    /// Hands the starts waiting for `name` to its actor, one each (the
    /// first to ask hears "started", the others "reused"); each outcome
    /// goes straight to its ticket.
    pub(super) async fn start_once(&mut self, name: &str) {
        let Some(i) = self.index(name) else { return };
        for ticket in self.tickets.remove(name).unwrap_or_default() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let _ = self.actors[i].commands.send(Order::StartOnce(tx)).await;
            let name = name.to_string();
            tokio::spawn(async move {
                let r = rx
                    .await
                    .unwrap_or_else(|_| Err(Failure(format!("{name}: the supervisor is exiting"))));
                let _ = ticket.0.send((name, r));
            });
        }
    }

    /// A service's start outcome, to everyone waiting for it.
    pub(super) fn settle(&mut self, name: &str, r: StartResult) {
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
                        // A task done: its actor says so (it does not run again).
                        _ if self.done(&s) => self.start_once(&s).await,
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
            StackCommand::Service(name, Command::ToggleWatch) => self.toggle_watch(&name),
            StackCommand::Service(name, c) => self.send(&name, c).await,
            StackCommand::Refresh => {
                for h in &self.actors {
                    let _ = h.commands.try_send(Order::Command(Command::Refresh));
                }
            }
            StackCommand::Shutdown { .. } => {}
            StackCommand::Reload(r) => self.reload(r),
            StackCommand::StoppedByClient(names) => {
                for s in names.iter().filter(|s| self.done(s)) {
                    self.send(s, Command::Stop).await;
                }
            }
        }
    }

    /// No longer to be started: a start waiting for it hears so (one its
    /// actor has taken is answered by the actor).
    pub(super) fn unwant(&mut self, name: &str) {
        self.wanted.remove(name);
        if !self.handed.contains_key(name) && self.tickets.contains_key(name) {
            self.settle(
                name,
                Err(Failure(format!("{name}: stopped before it started"))),
            );
        }
    }

    pub(super) fn want(&mut self, set: BTreeSet<String>) {
        for s in set {
            // A task done is not run again by a start (a restart does).
            if self.done(&s) {
                continue;
            }
            self.stopping.remove(&s);
            self.notes.remove(&s);
            self.wanted.insert(s);
        }
    }

    /// Hands over whatever may go now, and publishes.
    async fn step(&mut self) {
        self.step_reload().await;
        self.forget_taken().await;
        let units = self.units();
        for (name, d) in self.stack.graph.decide(&units) {
            self.decided(name, d).await;
        }
        self.step_stops().await;
        self.publish();
    }

    /// Starts already on their way need nothing more from us; a ticket
    /// for one is handed to its actor, which tells it how it ends.
    async fn forget_taken(&mut self) {
        let actors = &self.actors;
        let index = |n: &str| self.stack.services.iter().position(|c| c.spec.name == n);
        self.handed.retain(|n, g| {
            index(n).is_some_and(|i| {
                let s = actors[i].views.borrow();
                s.gen == *g && matches!(s.phase, Phase::Stopped | Phase::Failed) && !s.done()
            })
        });
        let on_its_way = |p: Phase| matches!(p, Phase::Running | Phase::Starting | Phase::Backoff);
        let wanted: Vec<String> = self.wanted.iter().cloned().collect();
        for s in wanted {
            if on_its_way(self.phase(&s)) {
                self.wanted.remove(&s);
            }
        }
        let live: Vec<String> = self
            .tickets
            .keys()
            .filter(|n| !self.wanted.contains(*n) && !self.handed.contains_key(*n))
            .filter(|n| on_its_way(self.phase(n)))
            .cloned()
            .collect();
        for s in live {
            self.start_once(&s).await;
        }
    }

    /// Each service as the graph's decisions see it.
    fn units(&self) -> HashMap<String, Unit> {
        self.stack
            .services
            .iter()
            .zip(&self.actors)
            .map(|(c, h)| {
                let name = &c.spec.name;
                let s = h.views.borrow();
                let u = match s.phase {
                    _ if s.done() => Unit::Completed,
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
            .collect()
    }

    async fn decided(&mut self, name: String, d: Decision) {
        match d {
            Decision::Spawn => {
                self.wanted.remove(&name);
                self.notes.remove(&name);
                if let Some(i) = self.index(&name) {
                    let g = self.actors[i].views.borrow().gen;
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
                self.settle(&name, Err(Failure(why.clone())));
                self.wanted.remove(&name);
                self.notes.insert(name, why);
            }
        }
    }

    /// Stops: a service goes once nothing that depends on it still runs.
    async fn step_stops(&mut self) {
        let stopping: Vec<String> = self.stopping.iter().cloned().collect();
        for s in stopping {
            let clear = self
                .stack
                .graph
                .may_stop(&s, |d| !self.stopping.contains(d) && self.phase(d).idle());
            if clear {
                self.stopping.remove(&s);
                self.notes.remove(&s);
                self.send(&s, Command::Stop).await;
            } else {
                self.notes
                    .insert(s.clone(), "stops after what depends on it".into());
            }
        }
    }

    fn publish(&self) {
        let views = self
            .stack
            .services
            .iter()
            .zip(&self.actors)
            .map(|(c, h)| {
                let mut view = h.views.borrow().clone();
                view.watching = self
                    .watchers
                    .get(&c.spec.name)
                    .map(|w| w.on.load(std::sync::atomic::Ordering::Relaxed));
                // A running service whose dependency is down keeps running
                // (workers reconnect); say what it waits for.
                view.note = self.notes.get(&c.spec.name).cloned().or_else(|| {
                    let down: Vec<&str> = c
                        .spec
                        .depends_on
                        .iter()
                        .map(|(d, _)| d.as_str())
                        .filter(|d| self.phase(d) != Phase::Running && !self.done(d))
                        .collect();
                    (view.phase == Phase::Running && !down.is_empty())
                        .then(|| format!("waiting for {}", down.join(", ")))
                });
                view
            })
            .collect();
        self.views.send_if_modified(|v| {
            let changed = *v != views;
            *v = views;
            changed
        });
    }
}
