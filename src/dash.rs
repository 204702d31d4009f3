//! `stigmer dash`: the I/O around the UI model. The supervisor runs as a
//! background task (the same actor as `start --foreground`); the log is
//! tailed by another task and handed over in bounded batches; this loop
//! drains what is ready, then draws once.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream};
use futures::StreamExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::config::{Overrides, Settings};
use crate::logtail::LogTail;
use crate::service::Stack;
use crate::supervisor::{self, actor::Options, Phase, StackCommand, StackHandle};
use crate::ui::{App, Info, Quit};

fn init_tracing() {
    use tracing_subscriber::prelude::*;
    let _ = tui_logger::init_logger(tui_logger::LevelFilter::Info);
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
    let services = stack.services.clone();
    let handle = supervisor::stack::spawn(
        stack.clone(),
        Options {
            inspect_every: Duration::from_secs(2),
            autostart,
        },
    );
    let supervising = handle.supervising;
    let server = crate::commands::serve_if_supervising(&stack, &handle);
    let infos = services.iter().map(|c| Info::of(c)).collect();
    let mut app = App::for_stack(infos, handle.snapshots.borrow().clone());
    let (log_tx, log_rx) = mpsc::channel::<(usize, Vec<String>)>(16);
    let mut tails = Vec::new();
    for (i, c) in services.iter().enumerate() {
        let path = c.spec.paths.log.clone();
        app.push_log_of(i, LogTail::last_lines(&path, 500));
        tails.push(tokio::spawn(tail_log(
            i,
            LogTail::at_end(&path),
            log_tx.clone(),
        )));
    }
    drop(log_tx);

    let mut terminal = ratatui::try_init().context("cannot open the terminal (is this a TTY?)")?;
    let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture);
    let result = event_loop(&mut terminal, &mut app, &handle, log_rx).await;
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    for t in tails {
        t.abort();
    }
    let one = services.len() == 1;
    let label = |name: &str| {
        if name == crate::service::TEMPORAL {
            "Temporal".to_string()
        } else {
            name.to_string()
        }
    };
    match app.quit {
        Some(Quit::Stop) => {
            // The supervisor stops the stack, dependents first, then ends;
            // bounded by the longest grace along the way.
            let grace: Duration = services.iter().map(|c| c.spec.grace).sum();
            let bound = grace + Duration::from_secs(15);
            if tokio::time::timeout(bound, handle.join).await.is_err() {
                crate::errln!(
                    "stigmer: the services did not stop within {bound:?}; run `stigmer local kill`"
                );
                return Ok(ExitCode::FAILURE);
            }
            if one {
                crate::outln!("{} stopped.", label(&services[0].spec.name));
            } else {
                crate::outln!("All services stopped.");
            }
        }
        _ => {
            let _ = handle
                .commands
                .send(StackCommand::Shutdown { stop: false })
                .await;
            let _ = tokio::time::timeout(Duration::from_secs(2), handle.join).await;
            drop(server);
            let running = app
                .stack
                .services
                .iter()
                .any(|v| v.snap.status.as_ref().is_some_and(|s| s.pid.is_some()));
            if supervising && running && !crate::control::unsupervised_by_env() {
                // Supervision never silently ends: a detached supervisor
                // adopts the services (same PIDs) once our lock is gone.
                match crate::control::spawn_supervisor(&stack, port).await {
                    Ok(mut c) => {
                        let pid = c.hello().await.map(|s| s.pid).unwrap_or_default();
                        crate::outln!("Supervision handed to a detached supervisor (PID {pid}); `stigmer local events` shows what it sees.");
                    }
                    Err(why) => crate::errln!("stigmer: nobody supervises now: {why}"),
                }
            }
            for v in &app.stack.services {
                if let Some(pid) = v.snap.status.as_ref().and_then(|s| s.pid) {
                    crate::outln!(
                        "{} left running (PID {pid}); `stigmer local stop{}` stops it.",
                        label(&v.name),
                        if one {
                            String::new()
                        } else {
                            format!(" {}", v.name)
                        }
                    );
                }
            }
        }
    }
    result.map(|_| ExitCode::SUCCESS)
}

/// Follows the log file; sends new lines in batches over a bounded channel.
/// Woken by inotify on the log directory (a write, a truncation, a rotation),
/// with a 1 s safety poll; 25 ms polling only if inotify is unavailable.
async fn tail_log(i: usize, mut tail: LogTail, tx: mpsc::Sender<(usize, Vec<String>)>) {
    use notify::Watcher;
    let (wake_tx, mut wake_rx) = mpsc::channel::<()>(1);
    let dir = tail
        .path()
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let watcher = notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
        let _ = wake_tx.try_send(()); // coalesce: one pending wake is enough
    })
    .and_then(|mut w| {
        w.watch(&dir, notify::RecursiveMode::NonRecursive)
            .map(|_| w)
    });
    let fallback = match &watcher {
        Ok(_) => Duration::from_secs(1),
        Err(e) => {
            tracing::warn!("inotify unavailable ({e}); polling the log");
            Duration::from_millis(25)
        }
    };
    loop {
        let batch = tail.poll();
        if !batch.is_empty() && tx.send((i, batch)).await.is_err() {
            return;
        }
        tokio::select! {
            _ = wake_rx.recv() => {}
            _ = tokio::time::sleep(fallback) => {}
        }
    }
}

fn moving(app: &App) -> bool {
    app.stack.services.iter().any(|v| {
        matches!(
            v.snap.phase,
            Phase::Backoff | Phase::Stopping | Phase::Starting
        )
    })
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    handle: &StackHandle,
    mut log_rx: mpsc::Receiver<(usize, Vec<String>)>,
) -> Result<()> {
    let mut events = EventStream::new();
    let mut snaps = handle.snapshots.clone();
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut last_periodic = Instant::now();
    loop {
        if app.dirty {
            terminal.draw(|f| app.draw(f, Instant::now()))?;
            app.dirty = false;
        }
        if app.quit == Some(Quit::Leave) {
            return Ok(());
        }
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => {
                    if let Some(cmd) = app.on_key(k) {
                        if handle.commands.try_send(cmd).is_err() {
                            app.notice = Some("supervisor busy; try again".into());
                        }
                    }
                }
                Some(Ok(Event::Mouse(m))) => app.on_mouse(m),
                Some(Ok(Event::Resize(..))) => app.dirty = true,
                Some(Ok(_)) => {}
                // The terminal went away.
                Some(Err(_)) | None => { app.quit.get_or_insert(Quit::Leave); return Ok(()); }
            },
            changed = snaps.changed() => {
                if changed.is_err() {
                    return Ok(()); // the actor ended (quit-and-stop finished)
                }
                let snap = snaps.borrow_and_update().clone();
                app.set_stack(snap);
            }
            Some((i, batch)) = log_rx.recv() => {
                app.push_log_of(i, batch);
                while let Ok((i, more)) = log_rx.try_recv() {
                    app.push_log_of(i, more);
                }
            }
            // Countdowns and progress move every 250 ms; otherwise once a second.
            _ = tokio::time::sleep(if moving(app) { Duration::from_millis(250) } else { Duration::from_secs(1) }) => {
                tui_logger::move_events();
                if moving(app) || last_periodic.elapsed() >= Duration::from_millis(990) {
                    last_periodic = Instant::now();
                    app.dirty = true;
                }
            }
            _ = term.recv() => { app.quit.get_or_insert(Quit::Leave); return Ok(()); }
            _ = hup.recv() => { app.quit.get_or_insert(Quit::Leave); return Ok(()); }
            _ = int.recv() => { app.quit.get_or_insert(Quit::Leave); return Ok(()); }
        }
    }
}
