//! One-shot operations on a stack (`local start|stop|kill|restart` with no
//! supervisor): each service is its own task, so independent services run
//! in parallel. The order is the graph's (`Graph::decide` for starts,
//! `Graph::may_stop` for stops: the same rules the supervisor's coordinator
//! follows); the rules per service are `lifecycle`'s.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::graph::{Decision, Unit};
use crate::config::service::{Ctx, Stack};
use crate::lifecycle::{self, Failure, StartOutcome, StopReport};

/// What a start task says about its service.
enum Progress {
    /// A process of it runs (what a `started` dependency waits for).
    Running,
    Done(Result<StartOutcome, Failure>),
}

/// Starts `set` (which must be closed under dependencies) in dependency
/// order; `report` sees each service's result as it comes. A service whose
/// dependency fails is not started, and its error says why.
pub async fn start(
    stack: &Stack,
    set: &BTreeSet<String>,
    mut report: impl FnMut(&Ctx, &Result<StartOutcome, Failure>),
) -> bool {
    let mut units: HashMap<String, Unit> = set.iter().map(|n| (n.clone(), Unit::Waiting)).collect();
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, Progress)>();
    let (mut ok, mut left) = (true, set.len());
    let mut say = |name: &str, r: &Result<StartOutcome, Failure>| {
        if let Some(ctx) = stack.get(name) {
            report(ctx, r);
        }
    };
    while left > 0 {
        for (name, d) in stack.graph.decide(&units) {
            match d {
                Decision::Spawn => {
                    let Some(ctx) = stack.get(&name).cloned() else {
                        continue;
                    };
                    if ctx.spec.task.is_some() {
                        // Done is an exit code, which only its parent learns.
                        let why = format!("{name} is a task (it runs to completion): only a supervisor runs it; start without --unsupervised (or STIGMER_UNSUPERVISED)");
                        units.insert(name.clone(), Unit::Failed(why.clone()));
                        say(&name, &Err(Failure(why)));
                        (ok, left) = (false, left - 1);
                        continue;
                    }
                    units.insert(name.clone(), Unit::Starting);
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let running = || {
                            let _ = tx.send((name.clone(), Progress::Running));
                        };
                        let r = lifecycle::start_notify(&ctx, running)
                            .await
                            .map_err(|e| Failure(format!("{e:#}")));
                        let _ = tx.send((name, Progress::Done(r)));
                    });
                }
                Decision::Blocked(why) => {
                    units.insert(name.clone(), Unit::Failed(why.clone()));
                    say(&name, &Err(Failure(why)));
                    (ok, left) = (false, left - 1);
                }
                Decision::Wait(_) => {}
            }
        }
        if left == 0 {
            break;
        }
        let Some((name, p)) = rx.recv().await else {
            return false;
        };
        match p {
            Progress::Running => {
                units.insert(name, Unit::Running { ready: false });
            }
            Progress::Done(r) => {
                let unit = match &r {
                    Ok(_) => Unit::Running { ready: true },
                    Err(e) => Unit::Failed(e.0.lines().next().unwrap_or_default().to_string()),
                };
                units.insert(name.clone(), unit);
                say(&name, &r);
                (ok, left) = (ok && r.is_ok(), left - 1);
            }
        }
    }
    ok
}

/// Stops `set` (closed under dependents), dependents first, independent
/// services in parallel. A service whose dependent could not be stopped is
/// still stopped: leaving it up would not make the dependent any safer.
pub async fn stop(
    stack: &Stack,
    set: &BTreeSet<String>,
    grace: Option<Duration>,
    force: bool,
    mut report: impl FnMut(&Ctx, &Result<StopReport, Failure>),
) -> bool {
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, Result<StopReport, Failure>)>();
    let mut begun: BTreeSet<String> = BTreeSet::new();
    let mut gone: BTreeSet<String> = BTreeSet::new();
    let mut ok = true;
    while gone.len() < set.len() {
        let down = |d: &str| !set.contains(d) || gone.contains(d);
        let now: Vec<&String> = set
            .iter()
            .filter(|n| !begun.contains(*n) && stack.graph.may_stop(n, down))
            .collect();
        for name in now {
            let Some(ctx) = stack.get(name).cloned() else {
                gone.insert(name.clone());
                continue;
            };
            begun.insert(name.clone());
            let tx = tx.clone();
            tokio::spawn(async move {
                let grace = grace.unwrap_or(ctx.spec.grace);
                let r = lifecycle::stop(&ctx, grace, force, &mut |_| {})
                    .await
                    .map_err(|e| Failure(format!("{e:#}")));
                let _ = tx.send((ctx.spec.name.clone(), r));
            });
        }
        if gone.len() >= set.len() {
            break;
        }
        let Some((name, r)) = rx.recv().await else {
            return false;
        };
        ok &= r.is_ok();
        if let Some(ctx) = stack.get(&name) {
            report(ctx, &r);
        }
        gone.insert(name);
    }
    ok
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
        let names = stack.expand(names);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        return Ok(stack.graph.with_dependencies(&names)?);
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
    let names = stack.expand(names);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    Ok(stack.graph.with_dependents(&names)?)
}
