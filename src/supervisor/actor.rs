//! The supervisor actor: owns the `Core`, performs its actions, and turns
//! the world (child exits, pidfd readiness, probes, timers, commands) back
//! into events. Commands come in over a bounded mpsc; the latest snapshot
//! goes out over a `watch`, so a slow reader never slows the supervisor.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::core::{Action, Core, Event, ExitInfo, Phase};
use super::history::{History, Kind};
use crate::lifecycle::{self, write_intent, Ctx, SpawnError, Want};
use crate::probe::inspect::{self, Status, SupervisorInfo};
use crate::process::scan::ProcEntry;
use crate::state::lock::{self, HeldLock};
use crate::state::pidfile::PidRecord;
use crate::util::blocking::blocking;

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
    /// Observe only (`true`): inspect and publish, never adopt, start,
    /// stop or take the supervisor lock — another supervisor decides, and
    /// a client attached to it shows its decisions. `false` resumes.
    Observe(bool),
    /// End the actor; with `stop`, stop the service first.
    Shutdown {
        stop: bool,
    },
}

/// Everything the UI shows about supervision, cheap to clone.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub phase: Phase,
    /// The core's generation: it grows with every spawn or adoption.
    pub gen: u64,
    pub pid: Option<i32>,
    pub restarts: u32,
    pub failures_in_window: usize,
    /// Why the last start tried once failed (see `Core::start_failed`).
    pub start_failed: Option<String>,
    /// Why its liveness checks call it unhealthy (see `Core::unhealthy`).
    pub unhealthy: Option<String>,
    pub last_exit: Option<ExitInfo>,
    pub backoff_until: Option<Instant>,
    pub message: Option<String>,
    /// False when another supervisor holds the supervisor lock: we watch only.
    pub supervising: bool,
    /// While a stop waits: the processes still alive.
    pub stopping_alive: Vec<ProcEntry>,
    pub status: Option<Arc<Status>>,
    /// CPU % and resident bytes of the processes shown (members, escaped, orphans).
    pub usage: HashMap<i32, (f32, u64)>,
    /// When `status` was taken (to extrapolate uptime between inspections).
    pub status_at: Option<Instant>,
}

impl Snapshot {
    /// CPU % and resident bytes of all the processes shown, summed.
    pub fn usage_total(&self) -> (f32, u64) {
        self.usage
            .values()
            .fold((0.0, 0), |(c, m), (c2, m2)| (c + c2, m + m2))
    }

    pub fn empty() -> Self {
        Self {
            phase: Phase::Stopped,
            gen: 0,
            pid: None,
            restarts: 0,
            failures_in_window: 0,
            start_failed: None,
            unhealthy: None,
            last_exit: None,
            backoff_until: None,
            message: None,
            supervising: false,
            stopping_alive: vec![],
            status: None,
            usage: HashMap::new(),
            status_at: None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How often to inspect the world (for the dashboard and for adoption).
    pub inspect_every: Duration,
    /// Start the service (or adopt it) as soon as the actor runs.
    pub autostart: bool,
    /// Begin observing only (see `Command::Observe`).
    pub observe: bool,
}

/// What an actor is told: a command, or a start tried once whose outcome
/// goes back to the one who asked (a `local start` over the socket).
#[derive(Debug)]
pub enum Order {
    Command(Command),
    StartOnce(oneshot::Sender<StartResult>),
}

/// How a start tried once ended: started (or found running), or why not.
pub type StartResult = Result<lifecycle::StartOutcome, String>;

/// One who waits for a start's outcome.
struct Waiter {
    tx: oneshot::Sender<StartResult>,
    /// The generation when asked, and whether it was running or starting.
    gen: u64,
    was_live: bool,
    since: Instant,
    /// The attempt is under way: an idle phase from now on is its end.
    armed: bool,
}

pub struct Handle {
    pub commands: mpsc::Sender<Order>,
    pub snapshots: watch::Receiver<Snapshot>,
    pub join: JoinHandle<()>,
}

enum Internal {
    Core(Event),
    /// A status, with when its inspection began.
    Status(Box<Status>, Instant),
    Progress(Vec<ProcEntry>),
}

/// The state dir's one supervisor lock, shared by the actors of a stack: the
/// process that holds it restarts services; any other only watches.
pub struct SupLock {
    path: std::path::PathBuf,
    held: std::sync::Mutex<Option<HeldLock>>,
}

impl SupLock {
    /// Tries to take the lock at once.
    pub fn new(path: std::path::PathBuf) -> Arc<Self> {
        let held = lock::try_hold(&path).ok();
        Arc::new(Self {
            path,
            held: std::sync::Mutex::new(held),
        })
    }

    /// Not taken (yet): for an observer of another supervisor.
    pub fn unheld(path: std::path::PathBuf) -> Arc<Self> {
        Arc::new(Self {
            path,
            held: std::sync::Mutex::new(None),
        })
    }

    pub fn held(&self) -> bool {
        self.held.lock().map(|h| h.is_some()).unwrap_or(false)
    }

    /// Lets the lock go now, whoever still shares this handle: the
    /// hand-over to the next supervisor begins only once it is free.
    pub fn release(&self) {
        if let Ok(mut h) = self.held.lock() {
            h.take();
        }
    }

    /// Takes the lock if the other supervisor has left; says whether we hold it.
    pub fn try_acquire(&self) -> bool {
        let Ok(mut h) = self.held.lock() else {
            return false;
        };
        if h.is_none() {
            *h = lock::try_hold(&self.path).ok();
            if h.is_some() {
                tracing::info!("now the supervisor (the other one left)");
            }
        }
        h.is_some()
    }
}

pub fn spawn(ctx: Ctx, opts: Options) -> Handle {
    let sup = SupLock::new(ctx.settings.state.supervisor_lock_path());
    spawn_with(Arc::new(ctx), opts, sup, History::new())
}

/// An actor for one service of a stack, sharing the stack's supervisor lock.
pub fn spawn_with(
    ctx: Arc<Ctx>,
    opts: Options,
    sup: Arc<SupLock>,
    history: Arc<History>,
) -> Handle {
    let (cmd_tx, cmd_rx) = mpsc::channel::<Order>(32);
    let (snap_tx, snap_rx) = watch::channel(Snapshot::empty());
    let join = tokio::spawn(async move {
        let mut actor = Actor::new(ctx, opts, snap_tx, sup, history);
        actor.run(cmd_rx).await;
    });
    Handle {
        commands: cmd_tx,
        snapshots: snap_rx,
        join,
    }
}

struct Actor {
    ctx: Arc<Ctx>,
    opts: Options,
    core: Core,
    snap_tx: watch::Sender<Snapshot>,
    io_tx: mpsc::UnboundedSender<Internal>,
    io_rx: mpsc::UnboundedReceiver<Internal>,
    sup: Arc<SupLock>,
    history: Arc<History>,
    current: Option<PidRecord>,
    timer: Option<(Instant, u64)>,
    stop_task: Option<JoinHandle<()>>,
    /// The liveness checks of the current generation, while it runs.
    probe_task: Option<JoinHandle<()>>,
    inspecting: bool,
    /// A refresh was asked for while an inspection was under way: what
    /// changed since it began may be missing from it, so inspect again.
    refresh_again: bool,
    status: Option<Arc<Status>>,
    status_at: Option<Instant>,
    stopping_alive: Vec<ProcEntry>,
    /// What the supervisor file says now: (phase, PID, unhealthy).
    last_published: Option<(Phase, Option<i32>, bool)>,
    rates: crate::process::usage::Rates,
    usage: HashMap<i32, (f32, u64)>,
    /// The counts a supervisor that handed over left for this service.
    carried: Option<super::handover::Carried>,
    waiters: Vec<Waiter>,
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
    fn new(
        ctx: Arc<Ctx>,
        opts: Options,
        snap_tx: watch::Sender<Snapshot>,
        sup: Arc<SupLock>,
        history: Arc<History>,
    ) -> Self {
        let (io_tx, io_rx) = mpsc::unbounded_channel();
        Self {
            core: Core::new(ctx.spec.restart).with_liveness(ctx.spec.liveness),
            ctx,
            opts,
            snap_tx,
            io_tx,
            io_rx,
            sup,
            history,
            current: None,
            timer: None,
            stop_task: None,
            probe_task: None,
            inspecting: false,
            refresh_again: false,
            status: None,
            status_at: None,
            stopping_alive: vec![],
            last_published: None,
            rates: Default::default(),
            carried: None,
            usage: HashMap::new(),
            waiters: vec![],
            start_once_after: None,
            adopting: false,
            spawned: None,
            told_started: false,
        }
    }

    async fn run(&mut self, mut cmd_rx: mpsc::Receiver<Order>) {
        if !self.sup.held() && !self.opts.observe {
            tracing::warn!("another supervisor is active: watching only, no automatic restarts");
        }
        if self.sup.held() && !self.opts.observe {
            self.carried = super::handover::carried(&self.ctx.settings.state, &self.ctx.spec.name);
        }
        // Adopt what is already running before deciding anything.
        let began = Instant::now();
        let st = inspect::inspect(&self.ctx).await;
        self.on_status(st, began);
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
        if self.opts.autostart && !self.opts.observe && self.core.phase == Phase::Stopped {
            self.command(Command::Start);
        }
        self.publish();
        let mut tick = tokio::time::interval(self.opts.inspect_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutting_down = false;
        loop {
            let timer_at = self.timer.map(|(at, _)| tokio::time::Instant::from_std(at));
            tokio::select! {
                cmd = cmd_rx.recv() => match cmd {
                    None => break,
                    Some(Order::StartOnce(tx)) => self.start_once(tx),
                    Some(Order::Command(Command::Shutdown { stop })) => {
                        if !stop || matches!(self.core.phase, Phase::Stopped | Phase::Failed) && self.current.is_none() {
                            break;
                        }
                        shutting_down = true;
                        self.command(Command::Stop);
                    }
                    Some(Order::Command(c)) => self.command(c),
                },
                Some(msg) = self.io_rx.recv() => match msg {
                    Internal::Core(ev) => self.event(ev),
                    Internal::Status(st, began) => {
                        self.inspecting = false;
                        self.on_status(*st, began);
                        if std::mem::take(&mut self.refresh_again) {
                            self.refresh();
                        }
                    }
                    Internal::Progress(left) => self.stopping_alive = left,
                },
                _ = async { tokio::time::sleep_until(timer_at.unwrap_or_else(tokio::time::Instant::now)).await }, if timer_at.is_some() => {
                    if let Some((_, epoch)) = self.timer.take() {
                        self.event(Event::Timer { epoch });
                    }
                }
                _ = tick.tick() => self.refresh(),
            }
            self.publish();
            if shutting_down && self.core.phase == Phase::Stopped {
                break;
            }
        }
        if self.sup.held() {
            let _ = std::fs::remove_file(&self.ctx.spec.paths.supervisor_state);
        }
    }

    fn command(&mut self, c: Command) {
        if let Command::Observe(on) = c {
            self.opts.observe = on;
            if !on {
                self.refresh(); // adopt what runs, supervise if the lock is free
            }
            return;
        }
        if self.opts.observe && !matches!(c, Command::Refresh | Command::Shutdown { .. }) {
            tracing::debug!("observing only: {c:?} ignored");
            return;
        }
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
            Command::Refresh => {
                self.refresh();
                return;
            }
            Command::Clean => {
                let ctx = self.ctx.clone();
                let tx = self.io_tx.clone();
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
                    let _ = tx.send(stamped_inspection(&ctx).await);
                });
                return;
            }
            Command::Shutdown { .. } | Command::Observe(_) => return,
        };
        self.event(ev);
    }

    /// A start tried once: what runs is reused; otherwise, after a fresh
    /// inspection (it may find it running, or leftovers to clean), spawned.
    fn start_once(&mut self, tx: oneshot::Sender<StartResult>) {
        if self.opts.observe {
            let _ = tx.send(Err(
                "this process only watches; another supervisor decides".into()
            ));
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
                self.refresh();
            }
            Phase::Stopping => self.event(Event::StartOnce),
            Phase::Starting | Phase::Running => {}
        }
    }

    /// Tells each waiter how its start ended, once it has.
    fn settle(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let c = &self.core;
        let ended = match c.phase {
            Phase::Running => Some(true),
            Phase::Starting | Phase::Stopping => None,
            _ if self.adopting || self.start_once_after.is_some() => None,
            _ => Some(false),
        };
        let name = &self.ctx.spec.name;
        let mut keep = vec![];
        for w in std::mem::take(&mut self.waiters) {
            let r = match ended {
                Some(true) => {
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
                Some(false) if w.armed => {
                    let m = c.message.clone().unwrap_or_else(|| "stopped".into());
                    let m = m.strip_prefix("did not start: ").unwrap_or(&m).to_string();
                    let died = self
                        .spawned
                        .map(|(_, off)| lifecycle::why_it_died(&self.ctx, off))
                        .unwrap_or_default();
                    Err(format!("{name} did not start: {m}{died}"))
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
            _ => {}
        }
        if matches!(ev, Event::Ready { .. })
            && before == Phase::Starting
            && self.core.phase == Phase::Running
        {
            self.note_ready();
        }
        self.record(&ev, before, gen_before, pid_before, &actions);
        if self.core.unhealthy.is_some() != unhealthy_before && self.core.gen == gen_before {
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
                        .push(name, Kind::Unhealthy, pid_before, format!("{why}{then}"));
                }
                None => self.history.push(name, Kind::Healthy, pid_before, ""),
            }
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
            self.refresh();
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

    /// What the event history keeps of a core event: only what the core
    /// took (a stale event for an older generation changes nothing).
    fn record(
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

    fn act(&mut self, action: Action) {
        match action {
            Action::Spawn { gen } => self.do_spawn(gen),
            Action::Watch { gen, pid } => self.watch_pid(gen, pid),
            Action::WatchReady { gen } => {
                let Some(rec) = self.current.clone() else {
                    return;
                };
                let ctx = self.ctx.clone();
                let tx = self.io_tx.clone();
                tokio::spawn(async move {
                    match lifecycle::wait_ready(&ctx, &rec, ctx.spec.ready_timeout).await {
                        Ok(d) => {
                            tracing::info!("ready in {} ms (PID {})", d.as_millis(), rec.pid);
                            let _ = tx.send(Internal::Core(Event::Ready { gen }));
                        }
                        Err(lifecycle::ReadyError::Exited) => {} // the exit watcher reports it
                        Err(e) => {
                            let _ = tx.send(Internal::Core(Event::NotReady {
                                gen,
                                why: e.to_string(),
                            }));
                        }
                    }
                });
            }
            Action::Probe { gen } => {
                if let Some(t) = self.probe_task.take() {
                    t.abort();
                }
                let Some(rec) = self.current.clone() else {
                    return;
                };
                let ctx = self.ctx.clone();
                let tx = self.io_tx.clone();
                let every = self.core.liveness.every;
                self.probe_task = Some(tokio::spawn(async move {
                    let mut tick = tokio::time::interval(every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    tick.tick().await; // the first tick is now: it was just ready
                    loop {
                        tick.tick().await;
                        let r = crate::probe::ready::live(&ctx.spec, &rec).await;
                        let (ok, why) = match r {
                            Ok(w) => (true, w),
                            Err(w) => (false, w),
                        };
                        if tx
                            .send(Internal::Core(Event::Probe { gen, ok, why }))
                            .is_err()
                        {
                            break;
                        }
                    }
                }));
            }
            Action::Stop { force } => {
                if let Some(t) = self.stop_task.take() {
                    t.abort();
                }
                if !self.core.restart_after_stop {
                    write_intent(&self.ctx, Want::Stopped);
                }
                let ctx = self.ctx.clone();
                let tx = self.io_tx.clone();
                let grace = ctx.spec.grace;
                self.stop_task = Some(tokio::spawn(async move {
                    let ptx = tx.clone();
                    let mut progress = move |left: &[ProcEntry]| {
                        let _ = ptx.send(Internal::Progress(left.to_vec()));
                    };
                    let rec = crate::state::pidfile::read(&ctx.spec.paths.pid)
                        .record()
                        .cloned();
                    let r = lifecycle::stop_record(&ctx, rec.as_ref(), grace, force, &mut progress)
                        .await;
                    let ev = match r {
                        Ok(rep) if !rep.was_running => Event::StopDone {
                            ok: true,
                            message: "not running".into(),
                        },
                        Ok(rep) => Event::StopDone {
                            ok: true,
                            message: format!(
                                "stopped in {} ms{}",
                                rep.took.as_millis(),
                                if rep.forced {
                                    " (forced with SIGKILL)"
                                } else {
                                    ""
                                }
                            ),
                        },
                        Err(e) => Event::StopDone {
                            ok: false,
                            message: format!("stop incomplete: {e:#}"),
                        },
                    };
                    let _ = tx.send(Internal::Progress(vec![]));
                    let _ = tx.send(Internal::Core(ev));
                }));
                self.current = None;
            }
            Action::ReapGroup => {
                let rec = self.current.take();
                let ctx = self.ctx.clone();
                // Bounded (SIGKILL then at most 2 s); normally the group is already empty.
                let killed = blocking(|| lifecycle::reap(&ctx, rec.as_ref()));
                if !killed.is_empty() {
                    tracing::warn!("killed leftover group members {killed:?}");
                }
                if rec.is_some() {
                    let _ = crate::state::pidfile::remove(&ctx.spec.paths.pid);
                }
            }
            Action::Schedule { at, epoch } => self.timer = Some((at, epoch)),
        }
    }

    fn do_spawn(&mut self, gen: u64) {
        if !self.supervising() && self.core.restarts > 0 {
            self.event(Event::SpawnFailed {
                gen,
                error: "another supervisor restarts it".into(),
                fatal: true,
            });
            return;
        }
        if lifecycle::read_intent(&self.ctx).is_some_and(|i| i.want == Want::Stopped) {
            tracing::info!("a stop was requested elsewhere; not starting");
            self.event(Event::Stop);
            return;
        }
        let start_guard = match lock::try_hold(&self.ctx.spec.paths.start_lock) {
            Ok(g) => g,
            Err(_) => {
                self.event(Event::LostRace { gen });
                self.refresh();
                return;
            }
        };
        let st = self.status.clone();
        if let Some(st) = st.filter(|s| !s.lock.held) {
            // Stale files of a dead instance go before the new one starts.
            let plan = blocking(|| lifecycle::clean_from(&self.ctx, &st, false));
            for a in plan.actions {
                tracing::info!("clean: {a}");
            }
        }
        let result = blocking(|| lifecycle::spawn(&self.ctx));
        drop(start_guard);
        match result {
            Ok(spawned) => {
                self.spawned = Some((Instant::now(), spawned.log_offset));
                self.told_started = false;
                let pid = spawned.record.pid;
                let since = spawned.record.started_at_ms;
                self.current = Some(spawned.record);
                let mut child = spawned.child;
                let tx = self.io_tx.clone();
                let ctx = self.ctx.clone();
                tokio::spawn(async move {
                    let exit = match child.wait().await {
                        Ok(st) => exit_info(st),
                        Err(_) => ExitInfo::Unknown,
                    };
                    let user_stop = lifecycle::stop_requested_since(&ctx, since);
                    tracing::info!("PID {pid} {exit}");
                    let hint = crate::state::disk_full_note(ctx.settings.state.root());
                    let _ = tx.send(Internal::Core(Event::Exited {
                        gen,
                        exit,
                        user_stop,
                        hint,
                    }));
                });
                self.event(Event::Spawned { gen, pid });
            }
            // Another starter's service holds the lock (and so maybe the
            // port): we lost a race, we did not fail. Adopt it.
            Err(SpawnError::LockHeld(_)) | Err(SpawnError::PortBusy { .. })
                if lock::is_held(&self.ctx.spec.paths.lock).unwrap_or(false) =>
            {
                self.event(Event::LostRace { gen });
                self.refresh();
            }
            Err(e) => {
                tracing::error!("{e}");
                let fatal = e.is_fatal();
                self.event(Event::SpawnFailed {
                    gen,
                    error: e.to_string(),
                    fatal,
                });
            }
        }
    }

    /// Watches a process we did not start (adopted) through a pidfd, which
    /// becomes readable the moment it exits: no polling.
    fn watch_pid(&mut self, gen: u64, pid: i32) {
        let tx = self.io_tx.clone();
        let ctx = self.ctx.clone();
        let since = self.current.as_ref().map(|r| r.started_at_ms).unwrap_or(0);
        let fd = rustix::process::Pid::from_raw(pid)
            .ok_or(rustix::io::Errno::SRCH)
            .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::NONBLOCK));
        tokio::spawn(async move {
            if let Ok(fd) = fd {
                // SAFETY: the AsyncFd owns the pidfd; nothing else can close it.
                if let Ok(afd) = unsafe { AsyncFd::register(fd) } {
                    let _ = afd.readable().await;
                }
            }
            // Not our child: the kernel tells its exit status to its parent.
            let exit = ExitInfo::Unknown;
            let user_stop = lifecycle::stop_requested_since(&ctx, since);
            tracing::info!("adopted PID {pid} exited");
            let hint = crate::state::disk_full_note(ctx.settings.state.root());
            let _ = tx.send(Internal::Core(Event::Exited {
                gen,
                exit,
                user_stop,
                hint,
            }));
        });
    }

    /// The supervisor keeps the service's log under its size limit
    /// (a `stat` a second; see `rotate`).
    fn supervising(&mut self) -> bool {
        self.sup.try_acquire()
    }

    fn refresh(&mut self) {
        if self.inspecting {
            self.refresh_again = true;
            return;
        }
        self.inspecting = true;
        let ctx = self.ctx.clone();
        let tx = self.io_tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(stamped_inspection(&ctx).await);
        });
    }

    fn on_status(&mut self, st: Status, began: Instant) {
        use crate::probe::inspect::State;
        let idle = matches!(
            self.core.phase,
            Phase::Stopped | Phase::Failed | Phase::Backoff
        );
        if idle && !self.opts.observe && matches!(st.state, State::Running | State::Starting) {
            if let Some(rec) = st.record().cloned() {
                let ready = st.state == State::Running;
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
        }
        if !self.opts.observe {
            self.supervising();
        }
        if self.adopting && !matches!(st.state, State::Running | State::Starting) {
            let start_lock = self.ctx.spec.paths.start_lock.clone();
            if lock::is_held(&start_lock).unwrap_or(false) {
                // The other starter is still at it: look again once it is done.
                let (ctx, tx) = (self.ctx.clone(), self.io_tx.clone());
                tokio::spawn(async move {
                    crate::util::wait::poll_until(
                        Duration::from_secs(120),
                        Duration::from_millis(20),
                        || !lock::is_held(&start_lock).unwrap_or(false),
                    )
                    .await;
                    let _ = tx.send(stamped_inspection(&ctx).await);
                });
            } else {
                self.adopting = false; // what the other starter started is gone
            }
        }
        if self.start_once_after.is_some_and(|t| began >= t) {
            self.start_once_after = None;
            self.event(Event::StartOnce);
        }
        self.measure_usage(&st);
        self.status = Some(Arc::new(st));
        self.status_at = Some(Instant::now());
    }

    /// CPU and memory of the processes we show, from the ticks and pages
    /// the inspection's scan read.
    fn measure_usage(&mut self, st: &Status) {
        let procs = st.members.iter().chain(&st.escaped).chain(&st.orphans);
        self.usage = self.rates.update(
            Instant::now(),
            procs,
            inspect::ticks_per_sec(),
            inspect::uptime_secs(),
        );
    }

    fn publish(&mut self) {
        self.settle();
        let c = &self.core;
        let snap = Snapshot {
            phase: c.phase,
            gen: c.gen,
            pid: c.pid,
            restarts: c.restarts,
            failures_in_window: c.failures.len(),
            start_failed: c.start_failed.clone(),
            unhealthy: c.unhealthy.clone(),
            last_exit: c.last_exit,
            backoff_until: c.backoff_until,
            message: c.message.clone(),
            supervising: self.sup.held(),
            stopping_alive: self.stopping_alive.clone(),
            status: self.status.clone(),
            usage: self.usage.clone(),
            status_at: self.status_at,
        };
        self.snap_tx.send_replace(snap);
        let key = (c.phase, c.pid, c.unhealthy.is_some());
        if self.sup.held() && self.last_published != Some(key) {
            self.last_published = Some(key);
            let info = SupervisorInfo {
                pid: std::process::id() as i32,
                phase: c.phase.name().into(),
                restarts: c.restarts,
                last_exit: c.last_exit.map(|e| e.to_string()),
                message: c.message.clone(),
                service_pid: c.pid,
                unhealthy: c.unhealthy.clone(),
            };
            if let Ok(bytes) = serde_json::to_vec(&info) {
                let _ = crate::state::write_atomic(&self.ctx.spec.paths.supervisor_state, &bytes);
            }
        }
    }
}

/// An inspection, with when it began: news older than an exit the core has
/// seen since is never acted on (see `Event::Adopt`).
async fn stamped_inspection(ctx: &Ctx) -> Internal {
    let began = Instant::now();
    let st = inspect::inspect(ctx).await;
    Internal::Status(Box::new(st), began)
}

fn exit_info(st: std::process::ExitStatus) -> ExitInfo {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => ExitInfo::Code(c),
        (None, Some(s)) => ExitInfo::Signal(s),
        _ => ExitInfo::Unknown,
    }
}
