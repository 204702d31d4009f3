//! `local why NAME`: why a service is not running, or why it started when
//! it did — its dependency chain with each condition and when it was met,
//! its readiness attempts, its last exits, who asked, and what it waits for
//! now. Read from the supervisor's view and history; `explain` is pure.

use serde::Serialize;

use super::*;
use crate::config::graph::Condition;
use crate::supervisor::history::{HistoryEvent, Kind};

/// What `why` says of one service.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(super) struct Why {
    pub service: String,
    /// Where it is now, in a few words.
    pub now: String,
    /// The supervisor deciding, if any.
    pub supervisor: Option<i32>,
    /// Every dependency it has, however indirect, in start order.
    pub chain: Vec<Link>,
    /// Its spawns, adoptions and readiness results, oldest first.
    pub readiness: Vec<Line>,
    pub exits: Vec<Line>,
    /// Who asked for what.
    pub requested: Vec<Line>,
    /// What it waits for now, if it waits.
    pub waits_for: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(super) struct Link {
    pub service: String,
    pub needed_by: String,
    pub condition: &'static str,
    /// Where the dependency is now.
    pub state: String,
    /// When the condition was last met (the event that met it).
    pub met: Option<Line>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(super) struct Line {
    pub at: String,
    pub text: String,
}

impl Line {
    fn of(e: &HistoryEvent) -> Self {
        Self {
            at: e.at.clone(),
            text: e.text(),
        }
    }
}

fn condition_word(c: Condition) -> &'static str {
    match c {
        Condition::Started => "started",
        Condition::Ready => "ready",
        Condition::Completed => "completed",
    }
}

/// A service's state in a few words, from the supervisor's view.
fn state_words(v: Option<&ServiceView>) -> String {
    let Some(v) = v else {
        return "not supervised (no supervisor runs)".into();
    };
    if let Some(run) = v.completed.filter(|_| v.done()) {
        return run.words();
    }
    let mut s = v.phase.name().to_string();
    if let Some(pid) = v.pid {
        s.push_str(&format!(" (PID {pid})"));
    }
    if let Some(u) = &v.unhealthy {
        s.push_str(&format!(", unhealthy: {u}"));
    }
    if let Some(m) = v.start_failed.as_ref().or(v.message.as_ref()) {
        if !v.phase.idle() || v.phase == Phase::Failed || v.start_failed.is_some() {
            s.push_str(&format!(": {m}"));
        }
    }
    s
}

/// Why `name` is where it is. `events` is the supervisor's history.
pub(super) fn explain(
    stack: &Stack,
    name: &str,
    views: &[ServiceView],
    events: &[HistoryEvent],
) -> Why {
    let view = crate::view::find(views, name);
    let of = |svc: &str, kinds: &[Kind]| -> Vec<&HistoryEvent> {
        events
            .iter()
            .filter(|e| e.service == svc && kinds.contains(&e.kind))
            .collect()
    };
    // Its latest spawn: the conditions that let it start were met before.
    let spawned_at = of(name, &[Kind::Spawned])
        .last()
        .map(|e| e.at_ms)
        .unwrap_or(u64::MAX);
    let chain = chain(stack, name, views, events, spawned_at);
    let last = |kinds: &[Kind], n: usize| -> Vec<Line> {
        let all = of(name, kinds);
        all[all.len().saturating_sub(n)..]
            .iter()
            .map(|e| Line::of(e))
            .collect()
    };
    let waits_for = view.and_then(|v| v.note.clone()).or_else(|| {
        view.and_then(|v| v.backoff_until_ms)
            .map(|ms| format!("a restart at {}", crate::util::clock::rfc3339_ms(ms)))
    });
    Why {
        service: name.to_string(),
        now: state_words(view),
        supervisor: view.and_then(|v| v.supervisor),
        chain,
        readiness: last(
            &[
                Kind::Spawned,
                Kind::Adopted,
                Kind::Ready,
                Kind::NotReady,
                Kind::Unhealthy,
                Kind::Healthy,
            ],
            8,
        ),
        exits: last(&[Kind::Exited, Kind::CrashLoop, Kind::Failed], 5),
        // Who asked (a command, a key), or a watched file that changed.
        requested: last(&[Kind::Requested, Kind::Changed], 5),
        waits_for,
    }
}

/// Every dependency of `name`, however indirect, in start order: the
/// condition each must meet for whom, and when it was last met before
/// `name` was spawned (`spawned_at`).
fn chain(
    stack: &Stack,
    name: &str,
    views: &[ServiceView],
    events: &[HistoryEvent],
    spawned_at: u64,
) -> Vec<Link> {
    let of = |svc: &str, kinds: &[Kind]| -> Vec<&HistoryEvent> {
        events
            .iter()
            .filter(|e| e.service == svc && kinds.contains(&e.kind))
            .collect()
    };
    let set = stack.graph.with_dependencies(&[name]).unwrap_or_default();
    let order: Vec<&str> = stack
        .graph
        .levels()
        .into_iter()
        .flatten()
        .filter(|n| set.contains(*n))
        .collect();
    let mut chain = vec![];
    for needer in &order {
        let Some(ctx) = stack.get(needer) else {
            continue;
        };
        for (dep, cond) in &ctx.spec.depends_on {
            // A task: its last run to completion (its own record, kept
            // across supervisors); otherwise the event that met it.
            let met = match cond {
                Condition::Completed => crate::view::find(views, dep)
                    .and_then(|v| v.completed)
                    .map(|run| Line {
                        at: crate::util::clock::rfc3339_ms(run.at_ms),
                        text: run.words(),
                    }),
                _ => {
                    let kinds: &[Kind] = match cond {
                        Condition::Started => &[Kind::Spawned, Kind::Adopted],
                        _ => &[Kind::Ready, Kind::Adopted],
                    };
                    of(dep, kinds)
                        .into_iter()
                        .rfind(|e| e.at_ms <= spawned_at)
                        .map(Line::of)
                }
            };
            chain.push(Link {
                service: dep.clone(),
                needed_by: needer.to_string(),
                condition: condition_word(*cond),
                state: state_words(crate::view::find(views, dep)),
                met,
            });
        }
    }
    chain
}

/// The time of day of an RFC 3339 stamp (UTC, as precise as written).
fn clock(at: &str) -> &str {
    at.get(11..).map(|t| t.trim_end_matches('Z')).unwrap_or(at)
}

pub(super) fn human_why(w: &Why) -> String {
    let mut out = format!("{}: {}", w.service, w.now);
    match w.supervisor {
        Some(p) => out.push_str(&format!("  (supervisor PID {p})\n")),
        None => out.push('\n'),
    }
    if w.chain.is_empty() {
        out.push_str("It depends on nothing.\n");
    } else {
        out.push_str("Dependencies, in start order (needed by → condition → when met):\n");
        for l in &w.chain {
            let met = l
                .met
                .as_ref()
                .map(|m| format!("met {} ({})", clock(&m.at), m.text))
                .unwrap_or_else(|| "not met".into());
            out.push_str(&format!(
                "  {:<14} {} needs it {:<10} {met}; now {}\n",
                l.service,
                l.needed_by,
                format!("{:?}", l.condition),
                l.state
            ));
        }
    }
    for (title, lines) in [
        ("Readiness", &w.readiness),
        ("Last exits", &w.exits),
        ("Asked for", &w.requested),
    ] {
        if lines.is_empty() {
            continue;
        }
        out.push_str(&format!("{title}:\n"));
        for l in lines {
            out.push_str(&format!("  {} {}\n", clock(&l.at), l.text));
        }
    }
    if let Some(wf) = &w.waits_for {
        out.push_str(&format!(
            "Now: waiting for {}\n",
            wf.trim_start_matches("waiting for ")
        ));
    }
    out
}

/// `local why NAME [--json]`.
pub(super) async fn why(stack: &Stack, name: &str, json: bool) -> Result<ExitCode> {
    stack.check_names(&[name.to_string()])?;
    let socket = stack.settings.state.socket_path();
    let Some(mut c) = control::Client::connect(&socket, Duration::from_secs(1)).await else {
        bail!(
            "no supervisor runs for {}: the reasons live in its history (`stigmer local start` starts one; `stigmer local status {name}` says what runs)",
            stack.settings.state.root().display()
        );
    };
    let views = c.view().await.unwrap_or_default();
    c.send(&control::Request::Events).await?;
    let mut events = vec![];
    while let Ok(Some(reply)) = tokio::time::timeout(Duration::from_secs(5), c.next()).await {
        match reply {
            control::Reply::Event { event } => events.push(event),
            control::Reply::Done { .. } => break,
            control::Reply::Error { error, .. } => bail!("the supervisor says: {error}"),
            _ => {}
        }
    }
    let w = explain(stack, name, &views, &events);
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&w)?);
    } else {
        crate::out!("{}", human_why(&w));
    }
    Ok(ExitCode::SUCCESS)
}
