//! The inspector: looks at each service's world (its processes, ports,
//! lock, readiness) and samples their CPU and memory, on a schedule and
//! whenever asked, and publishes what it saw. Supervision reads it (to
//! adopt what runs, to clean before a spawn); the dashboard draws it. It
//! decides nothing. One task per service; a refresh asked for during an
//! inspection makes one more right after it (what changed meanwhile may be
//! missing from the one under way).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::service::{Ctx, Stack};
use crate::probe::inspect::{self, Status};
use crate::process::usage::{Rates, Usage};
use crate::view::ServiceView;

/// One inspection of a service, with its processes' usage.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub status: Option<Arc<Status>>,
    /// CPU % and resident bytes of the processes shown (members, escaped, orphans).
    pub usage: Usage,
    /// When the inspection began: news older than an exit the core has
    /// seen since is never acted on (see `Event::Adopt`).
    pub began: Option<Instant>,
    /// When it ended (to extrapolate uptime between inspections).
    pub at: Option<Instant>,
}

impl Seen {
    /// CPU % and resident bytes of all the processes shown, summed.
    pub fn usage_total(&self) -> (f32, u64) {
        self.usage
            .values()
            .fold((0.0, 0), |(c, m), (c2, m2)| (c + c2, m + m2))
    }
}

/// One service's inspections, and the way to ask for one now.
#[derive(Debug, Clone)]
pub struct Eye {
    pub seen: watch::Receiver<Seen>,
    refresh: mpsc::Sender<()>,
}

impl Eye {
    /// Inspect now rather than at the next tick (one pending ask is enough).
    pub fn refresh(&self) {
        let _ = self.refresh.try_send(());
    }
}

/// The inspector of a stack; clones share it, the last one dropped ends
/// it. Its roster follows the stack: a reload adds, drops and replaces
/// services ([`Inspector::follow`]).
#[derive(Debug, Clone)]
pub struct Inspector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    every: Duration,
    /// How each inspection asks about the service's lock.
    lock_check: inspect::LockCheck,
    views: watch::Receiver<Vec<ServiceView>>,
    members: Mutex<Vec<Member>>,
    /// Bumped whenever the roster changes.
    roster: watch::Sender<u64>,
}

#[derive(Debug)]
struct Member {
    ctx: Arc<Ctx>,
    eye: Eye,
    task: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(m) = self.members.get_mut() {
            m.iter().for_each(|m| m.task.abort());
        }
    }
}

impl Inspector {
    fn members(&self) -> std::sync::MutexGuard<'_, Vec<Member>> {
        // A panic while holding it cannot leave the list half-changed.
        self.inner.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The eye on the service called `name`.
    pub fn eye(&self, name: &str) -> Option<Eye> {
        self.members()
            .iter()
            .find(|m| m.ctx.spec.name == name)
            .map(|m| m.eye.clone())
    }

    /// What was last seen of `name` (nothing yet for an unknown one).
    pub fn seen_of(&self, name: &str) -> Seen {
        self.eye(name)
            .map(|e| e.seen.borrow().clone())
            .unwrap_or_default()
    }

    /// Every service, now.
    pub fn refresh_all(&self) {
        self.members().iter().for_each(|m| m.eye.refresh());
    }

    /// The inspector now looks at the services of `stack`: a new service
    /// gets an eye, a gone one loses it, and one whose spec changed gets a
    /// new eye (what it saw of the old spec no longer holds).
    pub fn follow(&self, stack: &Stack) {
        let mut members = self.members();
        let mut old: Vec<Member> = std::mem::take(&mut *members);
        for ctx in &stack.services {
            let kept = old
                .iter()
                .position(|m| m.ctx.spec.runs_same(&ctx.spec))
                .map(|i| old.swap_remove(i));
            members.push(kept.unwrap_or_else(|| self.inner.member(ctx.clone())));
        }
        old.iter().for_each(|m| m.task.abort());
        drop(members);
        self.inner.roster.send_modify(|n| *n += 1);
    }

    /// Someone to tell when any inspection changes (each has its own
    /// "seen so far").
    pub fn changes(&self) -> Changes {
        let mut c = Changes {
            inspector: self.clone(),
            roster: self.inner.roster.subscribe(),
            seen: vec![],
        };
        c.resync();
        c
    }
}

impl Inner {
    fn member(&self, ctx: Arc<Ctx>) -> Member {
        let (tx, seen) = watch::channel(Seen::default());
        let (refresh, asks) = mpsc::channel(1);
        let task = tokio::spawn(watch_one(
            ctx.clone(),
            (self.every, self.lock_check),
            asks,
            self.views.clone(),
            tx,
        ));
        Member {
            ctx,
            eye: Eye { seen, refresh },
            task,
        }
    }
}

/// Follows every inspection of an inspector (see [`Inspector::changes`]).
pub struct Changes {
    inspector: Inspector,
    roster: watch::Receiver<u64>,
    seen: Vec<watch::Receiver<Seen>>,
}

impl Changes {
    fn resync(&mut self) {
        self.roster.borrow_and_update();
        self.seen = self
            .inspector
            .members()
            .iter()
            .map(|m| m.eye.seen.clone())
            .collect();
    }

    /// Resolves when any service's inspection (or the roster) changes.
    pub async fn changed(&mut self) {
        if self.seen.is_empty() {
            let _ = self.roster.changed().await;
            return;
        }
        // (select_all wants at least one future.)
        let waits = self.seen.iter_mut().map(|r| Box::pin(r.changed()));
        tokio::select! {
            _ = self.roster.changed() => {}
            _ = futures::future::select_all(waits) => {}
        }
    }

    /// Marks every inspection as seen (after [`Changes::changed`]).
    pub fn mark_seen(&mut self) {
        if self.roster.has_changed().unwrap_or(false) {
            return self.resync();
        }
        for r in &mut self.seen {
            r.borrow_and_update();
        }
    }
}

/// Inspects each service of `stack` every `every` and when asked; `views`
/// is the supervisor's word on each (see `inspect::inspect`).
pub fn spawn(
    stack: &Stack,
    every: Duration,
    views: watch::Receiver<Vec<ServiceView>>,
) -> Inspector {
    spawn_with(stack, every, views, inspect::LockCheck::Observe)
}

/// [`spawn`], asking about each lock the given way (`Auto` for a process
/// that only ever supervises: see `LockCheck::Auto`).
pub fn spawn_with(
    stack: &Stack,
    every: Duration,
    views: watch::Receiver<Vec<ServiceView>>,
    lock_check: inspect::LockCheck,
) -> Inspector {
    let inner = Inner {
        every,
        lock_check,
        views,
        members: Mutex::new(vec![]),
        roster: watch::channel(0).0,
    };
    let members = stack
        .services
        .iter()
        .map(|c| inner.member(c.clone()))
        .collect();
    *inner.members.lock().unwrap_or_else(|e| e.into_inner()) = members;
    Inspector {
        inner: Arc::new(inner),
    }
}

async fn watch_one(
    ctx: Arc<Ctx>,
    (every, lock_check): (Duration, inspect::LockCheck),
    mut asks: mpsc::Receiver<()>,
    views: watch::Receiver<Vec<ServiceView>>,
    tx: watch::Sender<Seen>,
) {
    let mut rates = Rates::default();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            ask = asks.recv() => if ask.is_none() { return },
        }
        let began = Instant::now();
        let view = crate::view::find(&views.borrow(), &ctx.spec.name).cloned();
        let st = inspect::inspect_with(&ctx, lock_check, view.as_ref()).await;
        let procs = st.members.iter().chain(&st.escaped).chain(&st.orphans);
        let usage = rates.update(
            Instant::now(),
            procs,
            inspect::ticks_per_sec(),
            inspect::uptime_secs(),
        );
        tx.send_replace(Seen {
            status: Some(Arc::new(st)),
            usage,
            began: Some(began),
            at: Some(Instant::now()),
        });
        // The next scheduled look is a full period after this one.
        tick.reset();
    }
}
