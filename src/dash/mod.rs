//! `stigmer dash`: the I/O around the UI model. One inspector looks at the
//! services for the life of the dashboard; the supervision is ours (the
//! same stack as `start --foreground`) or that of the supervisor we attach
//! to (`session`); the logs are tailed by tasks and handed over in bounded
//! batches (`tasks`); the loop drains what is ready, then draws once
//! (`event_loop`); `q` hands our supervision over (`handover`).

mod event_loop;
mod handover;
mod session;
mod tasks;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use tokio::sync::{mpsc, watch};

use crate::config::service::{Stack, TEMPORAL};
use crate::config::{Overrides, Settings};
use crate::supervisor::stack::unsupervised_views;
use crate::supervisor::{Phase, StackCommand};
use crate::ui::{App, Info, Quit};
use session::Session;

fn init_tracing() {
    use tracing_subscriber::prelude::*;
    // Not `init_logger`: its thread wakes every 10 ms to move events (the
    // dash's idle wake-ups, most of them); the loop moves them itself, on
    // each event and tick (the hot buffer holds 1 000 in between).
    tui_logger::set_default_level(tui_logger::LevelFilter::Info);
    let filter = tracing_subscriber::EnvFilter::try_from_env("STIGMER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("stigmer=info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tui_logger::TuiTracingSubscriberLayer)
        .try_init();
}

pub async fn run(ov: Overrides, autostart: bool) -> Result<ExitCode> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "`stigmer dash` draws on a terminal, and its output is not one (redirected to a file or a pipe?); \
             run it without redirecting stdout, or use `stigmer local status` for text"
        );
    }
    init_tracing();
    let port = ov.port;
    let stack = Stack::new(Settings::resolve(ov)?)?;
    for c in &stack.services {
        if let Err(why) = &c.spec.program {
            tracing::error!("{why}");
        }
    }
    let (views, views_rx) = watch::channel(unsupervised_views(&stack));
    let inspector = crate::supervisor::inspector::spawn(&stack, Duration::from_secs(2), views_rx);
    let mut session = Session::new(stack.clone(), inspector, views);
    // A supervisor runs: attach to it (its history, its decisions; our
    // keys become its commands) and only look at the processes ourselves.
    session.attached = handover::attach(&stack).await;
    match &session.attached {
        Some(a) if autostart => {
            a.command(crate::control::Verb::Start, None);
        }
        Some(_) => {}
        None => {
            session.supervise(autostart);
        }
    }
    let infos = stack.services.iter().map(|c| Info::of(c)).collect();
    let mut app = App::for_stack(infos, session.entries());
    app.attached_to = session.attached.as_ref().map(|a| a.supervisor.pid);
    let (log_tx, logs) = mpsc::channel::<(String, Vec<String>)>(16);
    let mut tails = tasks::Tails::new(log_tx);
    tails.follow(&stack, &mut app);
    // Inside Temporal: refreshed every 2 s while it is ready, off this thread.
    let (temporal_tx, temporal) = mpsc::channel(2);
    // Asked only while the Temporal panel or the workflows screen is open.
    let (temporal_wanted, wanted_rx) = watch::channel(tasks::Want::default());
    let (acted_tx, acted) = mpsc::channel(4);
    let external = !stack.settings.enabled && stack.settings.external.is_some();
    let temporal_task = (stack.settings.enabled || external).then(|| {
        let eye = session.inspector.eye(TEMPORAL);
        tokio::spawn(tasks::watch_temporal(
            stack.clone(),
            eye,
            temporal_tx,
            wanted_rx,
        ))
    });
    app.has_temporal = temporal_task.is_some();
    let mut terminal = ratatui::try_init().context("cannot open the terminal (is this a TTY?)")?;
    let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture);
    let inputs = event_loop::Inputs {
        temporal_wanted,
        logs,
        temporal,
        tails,
        acted,
        acted_tx,
    };
    let result = event_loop::event_loop(&mut terminal, &mut app, &mut session, inputs).await;
    if let Some(t) = temporal_task {
        t.abort();
    }
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    let code = finish(&stack, session, app.quit, port).await;
    result.map(|_| code)
}

/// What the quit leaves behind: the stack stopped (`Q`), or left running,
/// supervised (attached, or ours handed over to a detached supervisor).
async fn finish(
    stack: &Stack,
    session: Session,
    quit: Option<Quit>,
    port: Option<u16>,
) -> ExitCode {
    let services = &stack.services;
    let one = services.len() == 1;
    let stopped_msg = || {
        if one {
            crate::outln!("{} stopped.", display_name(&services[0].spec.name));
        } else {
            crate::outln!("All services stopped.");
        }
    };
    let Session {
        attached,
        ours,
        stop_failed,
        inspector,
        views,
        ..
    } = session;
    match (quit, &attached, ours) {
        (Some(Quit::Stop), Some(_), _) => {
            // The supervisor stopped the stack (we waited for it to say so).
            if stop_failed {
                crate::errln!("stigmer: the services did not stop in time; run `stigmer local status`, then `stigmer local kill`");
                return ExitCode::FAILURE;
            }
            stopped_msg();
        }
        (Some(Quit::Stop), None, Some(mut ours)) => {
            // The supervisor stops the stack, dependents first, then ends;
            // bounded by the longest grace along the way.
            let grace: Duration = services.iter().map(|c| c.spec.grace).sum();
            let bound = grace + Duration::from_secs(15);
            if tokio::time::timeout(bound, &mut ours.handle.join)
                .await
                .is_err()
            {
                crate::errln!(
                    "stigmer: the services did not stop within {bound:?}; run `stigmer local kill`"
                );
                return ExitCode::FAILURE;
            }
            ours.handle.hand_over(stack);
            stopped_msg();
        }
        (_, _, Some(ours)) => return leave_ours(stack, ours, port).await,
        (_, attached, None) => {
            // Watched only: what was seen running goes on as it was.
            let running: Vec<(String, i32)> = services
                .iter()
                .filter_map(|c| {
                    let s = inspector.seen_of(&c.spec.name);
                    Some((c.spec.name.clone(), s.status.as_ref()?.pid?))
                })
                .collect();
            if let Some(a) = attached {
                crate::outln!(
                    "Detached; the supervisor (PID {}) goes on supervising.",
                    a.supervisor.pid
                );
            } else if quit == Some(Quit::Stop) {
                crate::errln!("stigmer: nobody supervises now, so nothing stopped; `stigmer local stop` stops the services");
            }
            drop(views);
            left_running(stack, &running);
        }
    }
    ExitCode::SUCCESS
}

fn display_name(name: &str) -> String {
    crate::config::service::display_name(name).to_string()
}

/// `q` while we supervise: our supervision ends, and never silently. The
/// hand-over is ordered: our history is saved and our lock let go first,
/// then the detached supervisor starts, takes the lock, loads the history
/// and adopts the services; we check it has the same PIDs before saying so.
async fn leave_ours(stack: &Stack, ours: session::Supervising, port: Option<u16>) -> ExitCode {
    let session::Supervising { mut handle, server } = ours;
    let _ = handle
        .commands
        .send(StackCommand::Shutdown { stop: false })
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(2), &mut handle.join).await;
    drop(server);
    // What our supervision ended with: the core's PIDs (none once stopped,
    // whatever the last inspection saw).
    let views = handle.views.borrow().clone();
    let running: Vec<(String, i32)> = views
        .iter()
        .filter_map(|v| Some((v.name.clone(), v.pid?)))
        .collect();
    // A restart we owe (backoff) goes to the next supervisor too.
    let owed = views
        .iter()
        .any(|v| v.pid.is_none() && matches!(v.phase, Phase::Backoff | Phase::Starting));
    handle.hand_over(stack);
    if (!running.is_empty() || owed) && !crate::control::unsupervised_by_env() {
        crate::outln!("Handing supervision over to a detached supervisor…");
        match handover::hand_to_detached(stack, port, &running).await {
            Ok(pid) => crate::outln!(
                "Supervision handed to a detached supervisor (PID {pid}), same PIDs; `stigmer local events` shows the history."
            ),
            Err(why) => {
                crate::errln!("stigmer: nobody supervises now: {why}");
                let list = running
                    .iter()
                    .map(|(n, p)| format!("{} (PID {p})", display_name(n)))
                    .collect::<Vec<_>>()
                    .join(", ");
                crate::errln!(
                    "stigmer: running unsupervised (not restarted if they crash): {list}; `stigmer local start` supervises them again"
                );
            }
        }
    }
    left_running(stack, &running);
    ExitCode::SUCCESS
}

fn left_running(stack: &Stack, running: &[(String, i32)]) {
    let one = stack.services.len() == 1;
    for (name, pid) in running {
        crate::outln!(
            "{} left running (PID {pid}); `stigmer local stop{}` stops it.",
            display_name(name),
            if one {
                String::new()
            } else {
                format!(" {name}")
            }
        );
    }
}
