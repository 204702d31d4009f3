//! The inspector: looks at each service's world (its processes, ports,
//! lock, readiness) and samples their CPU and memory, on a schedule and
//! whenever asked, and publishes what it saw. Supervision reads it (to
//! adopt what runs, to clean before a spawn); the dashboard draws it. It
//! decides nothing. One task per service; a refresh asked for during an
//! inspection makes one more right after it (what changed meanwhile may be
//! missing from the one under way).

use std::sync::Arc;
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

/// The inspector of a stack; clones share it, the last one dropped ends it.
#[derive(Debug, Clone)]
pub struct Inspector {
    eyes: Vec<Eye>,
    _tasks: Arc<Tasks>,
}

#[derive(Debug)]
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}

impl Inspector {
    /// The eye on the `i`th service of the stack.
    pub fn eye(&self, i: usize) -> Option<&Eye> {
        self.eyes.get(i)
    }

    /// What was last seen of each service, in the stack's order.
    pub fn seen(&self) -> Vec<Seen> {
        self.eyes.iter().map(|e| e.seen.borrow().clone()).collect()
    }

    /// Every service, now.
    pub fn refresh_all(&self) {
        self.eyes.iter().for_each(Eye::refresh);
    }

    /// Resolves when any service's inspection changes.
    pub async fn changed(&mut self) {
        let waits = self.eyes.iter_mut().map(|e| Box::pin(e.seen.changed()));
        let _ = futures::future::select_all(waits).await;
    }

    /// Marks every inspection as seen (after [`Inspector::changed`]).
    pub fn mark_seen(&mut self) {
        for e in &mut self.eyes {
            e.seen.borrow_and_update();
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
    let mut eyes = vec![];
    let mut tasks = vec![];
    for ctx in &stack.services {
        let (tx, seen) = watch::channel(Seen::default());
        let (refresh, asks) = mpsc::channel(1);
        tasks.push(tokio::spawn(watch_one(
            ctx.clone(),
            every,
            asks,
            views.clone(),
            tx,
        )));
        eyes.push(Eye { seen, refresh });
    }
    Inspector {
        eyes,
        _tasks: Arc::new(Tasks(tasks)),
    }
}

async fn watch_one(
    ctx: Arc<Ctx>,
    every: Duration,
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
        let st = inspect::inspect(&ctx, view.as_ref()).await;
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
