//! One-shot operations on a stack (`local start|stop|kill|restart`): each
//! service is its own task, so independent services run in parallel, and a
//! service waits on its dependencies' progress (start) or its dependents'
//! (stop) through watch channels. The order is the graph's; the rules per
//! service are `lifecycle`'s.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::config::graph::{Condition, Unit};
use crate::config::service::{Ctx, Stack};
use crate::lifecycle::{self, StartOutcome, StopReport};

/// One service's result, reported as soon as it is known.
pub type Report<T> = (String, Result<T, String>);

/// Starts `set` (which must be closed under dependencies) in dependency
/// order; `report` sees each service's result as it comes. A service whose
/// dependency fails is not started, and its error says why.
pub async fn start(
    stack: &Stack,
    set: &BTreeSet<String>,
    report: impl FnMut(&Ctx, &Result<StartOutcome, String>),
) -> bool {
    let mut units: HashMap<String, watch::Sender<Unit>> = HashMap::new();
    for name in set {
        units.insert(name.clone(), watch::channel(Unit::Waiting).0);
    }
    let (done_tx, done_rx) = mpsc::unbounded_channel::<Report<StartOutcome>>();
    for name in set {
        let Some(ctx) = stack.get(name).cloned() else {
            continue;
        };
        let me = units[name].clone();
        let deps: Vec<(String, Condition, watch::Receiver<Unit>)> = ctx
            .spec
            .depends_on
            .iter()
            .filter_map(|(d, c)| units.get(d).map(|u| (d.clone(), *c, u.subscribe())))
            .collect();
        let done = done_tx.clone();
        tokio::spawn(async move {
            let r = start_one(&ctx, &me, deps).await;
            let _ = done.send((ctx.spec.name.clone(), r));
        });
    }
    drop(done_tx);
    collect(stack, done_rx, report).await
}

/// Hands each service's result to `report` as it arrives; all fine?
async fn collect<T>(
    stack: &Stack,
    mut done_rx: mpsc::UnboundedReceiver<Report<T>>,
    mut report: impl FnMut(&Ctx, &Result<T, String>),
) -> bool {
    let mut ok = true;
    while let Some((name, r)) = done_rx.recv().await {
        ok &= r.is_ok();
        if let Some(ctx) = stack.get(&name) {
            report(ctx, &r);
        }
    }
    ok
}

async fn start_one(
    ctx: &Arc<Ctx>,
    me: &watch::Sender<Unit>,
    deps: Vec<(String, Condition, watch::Receiver<Unit>)>,
) -> Result<StartOutcome, String> {
    for (dep, cond, mut rx) in deps {
        let failed = match rx
            .wait_for(|u| match u {
                Unit::Running { ready: true } | Unit::Failed(_) => true,
                Unit::Starting | Unit::Running { .. } => cond == Condition::Started,
                _ => false,
            })
            .await
        {
            Ok(u) => match &*u {
                Unit::Failed(why) => Some(why.clone()),
                _ => None,
            },
            Err(_) => Some("its start ended".into()),
        };
        if let Some(why) = failed {
            let why = format!("not started: {dep} did not get there ({why})");
            me.send_replace(Unit::Failed(why.clone()));
            return Err(why);
        }
    }
    let r = lifecycle::start_notify(ctx, || {
        me.send_replace(Unit::Starting);
    })
    .await
    .map_err(|e| format!("{e:#}"));
    me.send_replace(match &r {
        Ok(_) => Unit::Running { ready: true },
        Err(e) => Unit::Failed(e.lines().next().unwrap_or_default().to_string()),
    });
    r
}

/// Stops `set` (closed under dependents), dependents first, independent
/// services in parallel. A service whose dependent could not be stopped is
/// still stopped: leaving it up would not make the dependent any safer.
pub async fn stop(
    stack: &Stack,
    set: &BTreeSet<String>,
    grace: Option<Duration>,
    force: bool,
    report: impl FnMut(&Ctx, &Result<StopReport, String>),
) -> bool {
    let mut gone: HashMap<String, watch::Sender<bool>> = HashMap::new();
    for name in set {
        gone.insert(name.clone(), watch::channel(false).0);
    }
    let (done_tx, done_rx) = mpsc::unbounded_channel::<Report<StopReport>>();
    for name in set {
        let Some(ctx) = stack.get(name).cloned() else {
            continue;
        };
        let me = gone[name].clone();
        // Those in the set that depend on this one go first.
        let dependents: Vec<watch::Receiver<bool>> = stack
            .services
            .iter()
            .filter(|c| c.spec.depends_on.iter().any(|(d, _)| d == name))
            .filter_map(|c| gone.get(&c.spec.name).map(|g| g.subscribe()))
            .collect();
        let done = done_tx.clone();
        tokio::spawn(async move {
            for mut rx in dependents {
                let _ = rx.wait_for(|g| *g).await;
            }
            let grace = grace.unwrap_or(ctx.spec.grace);
            let r = lifecycle::stop(&ctx, grace, force, &mut |_| {})
                .await
                .map_err(|e| format!("{e:#}"));
            me.send_replace(true);
            let _ = done.send((ctx.spec.name.clone(), r));
        });
    }
    drop(done_tx);
    collect(stack, done_rx, report).await
}

/// The services a start of `names` covers: those named and, transitively,
/// their dependencies; every `autostart` service (and its dependencies)
/// when none is named.
pub fn start_set(stack: &Stack, names: &[String]) -> anyhow::Result<BTreeSet<String>> {
    let names: Vec<&str> = if names.is_empty() {
        stack
            .services
            .iter()
            .filter(|c| c.spec.autostart)
            .map(|c| c.spec.name.as_str())
            .collect()
    } else {
        stack.check_names(names)?;
        names.iter().map(String::as_str).collect()
    };
    Ok(stack.graph.with_dependencies(&names)?)
}

/// The services a stop of `names` covers: those named and, transitively,
/// what depends on them; all when none is named.
pub fn stop_set(stack: &Stack, names: &[String]) -> anyhow::Result<BTreeSet<String>> {
    if names.is_empty() {
        return Ok(stack.names().into_iter().map(String::from).collect());
    }
    stack.check_names(names)?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    Ok(stack.graph.with_dependents(&names)?)
}
