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

use crate::config::service::Stack;
use crate::config::{Overrides, Settings};
use crate::logs::tail::LogTail;
use crate::supervisor::{
    self, actor::Options, stack::StackSnapshot, Phase, StackCommand, StackHandle,
};
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
    // A supervisor runs: attach to it (its history, its decisions; our
    // keys become its commands) and only observe the processes ourselves.
    let socket = stack.settings.state.socket_path();
    let attached = attach(&stack).await;
    let observe = attached.is_some();
    let handle = supervisor::stack::spawn(
        stack.clone(),
        Options {
            inspect_every: Duration::from_secs(2),
            autostart: autostart && !observe,
            observe,
        },
    );
    if let (Some(a), true) = (&attached, autostart) {
        a.command(crate::control::Verb::Start, None);
    }
    let server = if observe {
        None
    } else {
        crate::control::serve_if_supervising(&stack, &handle)
    };
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

    // Inside Temporal: refreshed every 2 s while it is ready, off this thread.
    let (temporal_tx, temporal_rx) = mpsc::channel(2);
    let external = !stack.settings.enabled && stack.settings.external.is_some();
    let temporal_task = (stack.settings.enabled || external).then(|| {
        tokio::spawn(watch_temporal(
            stack.clone(),
            handle.snapshots.clone(),
            temporal_tx,
        ))
    });
    app.has_temporal = temporal_task.is_some();
    let mut terminal = ratatui::try_init().context("cannot open the terminal (is this a TTY?)")?;
    let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture);
    let mut session = Session {
        stack: stack.clone(),
        handle,
        socket,
        attached,
        server,
        remote: None,
        stop_deadline: None,
        stop_failed: false,
    };
    app.attached_to = session.attached.as_ref().map(|a| a.supervisor.pid);
    let result = event_loop(&mut terminal, &mut app, &mut session, log_rx, temporal_rx).await;
    if let Some(t) = temporal_task {
        t.abort();
    }
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    for t in tails {
        t.abort();
    }
    let Session {
        mut handle,
        attached,
        server,
        stop_failed,
        ..
    } = session;
    let one = services.len() == 1;
    let label = |name: &str| crate::config::service::display_name(name).to_string();
    let stopped_msg = || {
        if one {
            crate::outln!("{} stopped.", label(&services[0].spec.name));
        } else {
            crate::outln!("All services stopped.");
        }
    };
    match (app.quit, &attached) {
        (Some(Quit::Stop), Some(_)) => {
            // The supervisor stopped the stack (we waited for it to say so).
            if stop_failed {
                crate::errln!("stigmer: the services did not stop in time; run `stigmer local status`, then `stigmer local kill`");
                return Ok(ExitCode::FAILURE);
            }
            stopped_msg();
        }
        (Some(Quit::Stop), None) => {
            // The supervisor stops the stack, dependents first, then ends;
            // bounded by the longest grace along the way.
            let grace: Duration = services.iter().map(|c| c.spec.grace).sum();
            let bound = grace + Duration::from_secs(15);
            if tokio::time::timeout(bound, &mut handle.join).await.is_err() {
                crate::errln!(
                    "stigmer: the services did not stop within {bound:?}; run `stigmer local kill`"
                );
                return Ok(ExitCode::FAILURE);
            }
            handle.hand_over(&stack);
            stopped_msg();
        }
        _ => {
            let supervising = handle.sup.held();
            let _ = handle
                .commands
                .send(StackCommand::Shutdown { stop: false })
                .await;
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut handle.join).await;
            drop(server);
            // What our supervision ended with (the screen may be a refresh behind).
            let running: Vec<(String, i32)> = handle
                .snapshots
                .borrow()
                .services
                .iter()
                .filter_map(|v| {
                    // Ours: the core's PID (none once stopped, whatever the
                    // last inspection saw); watched: what was seen running.
                    let pid = if supervising {
                        v.snap.pid?
                    } else {
                        v.snap.status.as_ref()?.pid?
                    };
                    Some((v.name.clone(), pid))
                })
                .collect();
            // A restart we owe (backoff) goes to the next supervisor too.
            let owed = handle.snapshots.borrow().services.iter().any(|v| {
                v.snap.pid.is_none() && matches!(v.snap.phase, Phase::Backoff | Phase::Starting)
            });
            if let Some(a) = &attached {
                crate::outln!(
                    "Detached; the supervisor (PID {}) goes on supervising.",
                    a.supervisor.pid
                );
            } else if supervising
                && (!running.is_empty() || owed)
                && !crate::control::unsupervised_by_env()
            {
                // Supervision never silently ends. The hand-over is ordered:
                // our history is saved and our lock let go first, then the
                // detached supervisor starts, takes the lock, loads the
                // history and adopts the services; we check it has the same
                // PIDs before saying so.
                handle.hand_over(&stack);
                crate::outln!("Handing supervision over to a detached supervisor…");
                match hand_to_detached(&stack, port, &running).await {
                    Ok(pid) => crate::outln!(
                        "Supervision handed to a detached supervisor (PID {pid}), same PIDs; `stigmer local events` shows the history."
                    ),
                    Err(why) => {
                        crate::errln!("stigmer: nobody supervises now: {why}");
                        let list = running
                            .iter()
                            .map(|(n, p)| format!("{} (PID {p})", label(n)))
                            .collect::<Vec<_>>()
                            .join(", ");
                        crate::errln!(
                            "stigmer: running unsupervised (not restarted if they crash): {list}; `stigmer local start` supervises them again"
                        );
                    }
                }
            } else {
                handle.hand_over(&stack);
            }
            for (name, pid) in &running {
                crate::outln!(
                    "{} left running (PID {pid}); `stigmer local stop{}` stops it.",
                    label(name),
                    if one {
                        String::new()
                    } else {
                        format!(" {name}")
                    }
                );
            }
        }
    }
    result.map(|_| ExitCode::SUCCESS)
}

/// Starts a detached supervisor (our lock already let go) and waits,
/// bounded, until it supervises each of `running` with the same PID; its
/// PID, or why not.
async fn hand_to_detached(
    stack: &Stack,
    port: Option<u16>,
    running: &[(String, i32)],
) -> Result<i32, String> {
    let c = crate::control::spawn_supervisor(stack, port).await?;
    drop(c);
    let socket = stack.settings.state.socket_path();
    let mut a = crate::control::attach(&socket, Duration::from_secs(2))
        .await
        .ok_or("the new supervisor does not answer on its socket")?;
    let pid = a.supervisor.pid;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut last = String::from("no view of the services yet");
    loop {
        let feed = tokio::time::timeout_at(deadline, a.feed.recv()).await;
        match feed {
            Err(_) => {
                return Err(format!(
                    "supervisor PID {pid} did not adopt the services within 10 s ({last})"
                ))
            }
            Ok(None | Some(crate::control::Feed::Closed)) => {
                return Err(format!("supervisor PID {pid} went away"))
            }
            Ok(Some(crate::control::Feed::Snapshot(view))) => {
                let missing: Vec<String> = running
                    .iter()
                    .filter(|(n, p)| {
                        !view
                            .iter()
                            .any(|s| &s.name == n && s.pid == Some(*p) && s.phase != Phase::Stopped)
                    })
                    .map(|(n, p)| format!("{n} PID {p}"))
                    .collect();
                if missing.is_empty() {
                    return Ok(pid);
                }
                last = format!("not adopted yet: {}", missing.join(", "));
            }
            Ok(Some(_)) => {}
        }
    }
}

/// Attaches to the supervisor of this state dir when one answers. When its
/// lock is held but the socket does not answer yet (it is starting), tries
/// again for up to 2 s.
async fn attach(stack: &Stack) -> Option<crate::control::Attached> {
    let socket = stack.settings.state.socket_path();
    let lock = stack.settings.state.supervisor_lock_path();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if std::fs::symlink_metadata(&socket).is_ok() {
            if let Some(a) = crate::control::attach(&socket, Duration::from_millis(500)).await {
                return Some(a);
            }
        }
        let held = crate::state::lock::is_held(&lock).unwrap_or(false);
        if !held || Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the event loop works with besides the UI model.
struct Session {
    stack: Stack,
    handle: StackHandle,
    socket: std::path::PathBuf,
    /// Attached to another process's supervisor: its view and history.
    attached: Option<crate::control::Attached>,
    /// Our socket, while we supervise.
    server: Option<crate::control::Served>,
    /// The supervisor's latest view of the services.
    remote: Option<Vec<crate::supervisor::stack::ServiceSummary>>,
    /// `Q` while attached: the stop of the stack asked for, until when.
    stop_deadline: Option<Instant>,
    stop_failed: bool,
}

impl Session {
    /// A key's command: to the supervisor we are attached to, or to ours.
    fn command(&self, app: &mut App, cmd: StackCommand) {
        let Some(a) = &self.attached else {
            if self.handle.commands.try_send(cmd).is_err() {
                app.notice = Some("supervisor busy; try again".into());
            }
            return;
        };
        use crate::control::Verb;
        let sent = match &cmd {
            StackCommand::Service(name, c) => match Verb::of(*c) {
                Some(v) => a.command(v, Some(name)),
                None => self.handle.commands.try_send(cmd.clone()).is_ok(),
            },
            StackCommand::StartAll => a.command(Verb::Start, None),
            StackCommand::StopAll | StackCommand::Shutdown { stop: true } => {
                a.command(Verb::Stop, None)
            }
            _ => self.handle.commands.try_send(cmd.clone()).is_ok(),
        };
        if !sent {
            app.notice = Some("the supervisor does not take commands now; try again".into());
        }
    }

    /// The services as shown: what we see, with the supervisor's decisions.
    fn view(&self) -> StackSnapshot {
        let mut snap = self.handle.snapshots.borrow().clone();
        if let (Some(remote), Some(_)) = (&self.remote, &self.attached) {
            snap.overlay(remote, Instant::now());
        }
        snap
    }

    /// The supervisor went away: observe no more; our actors adopt what
    /// runs and supervise once the lock is free (then we serve the socket).
    async fn detach(&mut self, app: &mut App) {
        if let Some(a) = self.attached.take() {
            tracing::warn!(
                "the supervisor (PID {}) left; this dashboard supervises if nobody else does",
                a.supervisor.pid
            );
        }
        self.remote = None;
        app.attached_to = None;
        let _ = self
            .handle
            .commands
            .send(StackCommand::Observe(false))
            .await;
    }

    /// Once a second: serve the socket if we became the supervisor; attach
    /// if another supervisor appeared while we only watched.
    async fn housekeeping(&mut self, app: &mut App) {
        if self.attached.is_some() {
            return;
        }
        if self.server.is_none() && self.handle.sup.try_acquire() {
            self.server = crate::control::serve(self.stack.clone(), &self.handle, false).ok();
        }
        if self.server.is_none()
            && !self.handle.sup.held()
            && std::fs::symlink_metadata(&self.socket).is_ok()
        {
            if let Some(a) = crate::control::attach(&self.socket, Duration::from_millis(200)).await
            {
                let _ = self.handle.commands.send(StackCommand::Observe(true)).await;
                app.attached_to = Some(a.supervisor.pid);
                self.attached = Some(a);
            }
        }
    }
}

/// A supervisor event in the events panel, as the supervisor logged it;
/// one from before we attached says when it happened.
fn show_event(ev: &crate::supervisor::history::HistoryEvent, attached_at_ms: u64) {
    if ev.at_ms + 1000 < attached_at_ms {
        let time = ev.at.get(11..19).unwrap_or(&ev.at);
        tracing::info!("{}: {} (at {time} UTC)", ev.service, ev.text());
    } else {
        tracing::info!("{}: {}", ev.service, ev.text());
    }
}

/// Asks Temporal what is inside every 2 s while it is ready (each call
/// bounded, on a blocking thread); says why not otherwise.
async fn watch_temporal(
    stack: Stack,
    snaps: tokio::sync::watch::Receiver<StackSnapshot>,
    tx: mpsc::Sender<crate::temporal::TemporalInfo>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let state = snaps
            .borrow()
            .get(crate::config::service::TEMPORAL)
            .and_then(|v| v.snap.status.as_ref().map(|s| (s.state, s.ready())));
        let cx = crate::temporal::Context::of(&stack);
        let Ok(info) = tokio::task::spawn_blocking(move || crate::temporal::look(&cx, state)).await
        else {
            continue;
        };
        if tx.send(info).await.is_err() {
            return;
        }
    }
}

/// `o`: a browser when this session can show one, else the URL to open.
fn open_in_browser(url: &str) -> String {
    let graphical =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let opener = ["xdg-open", "open"]
        .into_iter()
        .find_map(|p| crate::config::find_on_path(p, None));
    match (graphical, opener) {
        (true, Some(prog)) => {
            let spawned = std::process::Command::new(prog)
                .arg(url)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            match spawned {
                Ok(mut c) => {
                    // Reaped off the UI thread; the opener exits at once.
                    std::thread::spawn(move || c.wait());
                    format!("opening {url}")
                }
                Err(e) => format!("cannot open a browser ({e}): {url}"),
            }
        }
        _ => format!("no browser from this terminal; open {url}"),
    }
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
    session: &mut Session,
    mut log_rx: mpsc::Receiver<(usize, Vec<String>)>,
    mut temporal_rx: mpsc::Receiver<crate::temporal::TemporalInfo>,
) -> Result<()> {
    use crate::control::Feed;
    let mut events = EventStream::new();
    let mut snaps = session.handle.snapshots.clone();
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut last_periodic = Instant::now();
    let mut attached_at_ms = crate::util::clock::now_ms();
    loop {
        if app.dirty {
            terminal.draw(|f| app.draw(f, Instant::now()))?;
            app.dirty = false;
        }
        if let Some(text) = app.clipboard.take() {
            // OSC 52: the terminal (over ssh and tmux too) sets its clipboard.
            use std::io::Write;
            let seq = crate::ui::osc52(&text, std::env::var_os("TMUX").is_some());
            let mut out = std::io::stdout();
            let _ = out.write_all(seq.as_bytes()).and_then(|_| out.flush());
        }
        if app.quit == Some(Quit::Leave) {
            return Ok(());
        }
        // `Q` while attached: done once the supervisor says all stopped.
        if let Some(deadline) = session.stop_deadline {
            let all_down = session.remote.as_ref().is_some_and(|r| {
                r.iter()
                    .all(|s| matches!(s.phase, Phase::Stopped | Phase::Failed))
            });
            if all_down || session.attached.is_none() {
                if let Some(a) = &session.attached {
                    a.shutdown();
                    tokio::time::sleep(Duration::from_millis(50)).await; // let it go out
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                session.stop_failed = true;
                return Ok(());
            }
        }
        let feed = async {
            match session.attached.as_mut() {
                Some(a) => a.feed.recv().await.unwrap_or(Feed::Closed),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => {
                    let cmd = app.on_key(k);
                    if let Some(url) = app.open_url.take() {
                        app.notice = Some(open_in_browser(&url));
                    }
                    if let Some(cmd) = cmd {
                        let stop_all = cmd == StackCommand::Shutdown { stop: true };
                        session.command(app, cmd);
                        if stop_all && session.attached.is_some() {
                            let grace: Duration = session.stack.services.iter().map(|c| c.spec.grace).sum();
                            session.stop_deadline = Some(Instant::now() + grace + Duration::from_secs(15));
                        }
                    }
                }
                Some(Ok(Event::Mouse(m))) => app.on_mouse(m),
                Some(Ok(Event::Resize(..))) => app.dirty = true,
                Some(Ok(_)) => {}
                // The terminal went away.
                Some(Err(_)) | None => { app.quit.get_or_insert(Quit::Leave); return Ok(()); }
            },
            item = feed => match item {
                Feed::Event(ev) => {
                    show_event(&ev, attached_at_ms);
                    tui_logger::move_events();
                    app.dirty = true;
                }
                Feed::Snapshot(s) => {
                    session.remote = Some(s);
                    app.set_stack(session.view());
                }
                Feed::Closed => {
                    session.detach(app).await;
                    app.set_stack(session.view());
                }
            },
            changed = snaps.changed() => {
                if changed.is_err() {
                    return Ok(()); // the actor ended (quit-and-stop finished)
                }
                snaps.borrow_and_update();
                app.set_stack(session.view());
            }
            Some(info) = temporal_rx.recv() => {
                app.temporal = Some(info);
                app.dirty = true;
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
                    let was = session.attached.is_some();
                    session.housekeeping(app).await;
                    if !was && session.attached.is_some() {
                        attached_at_ms = crate::util::clock::now_ms();
                    }
                }
            }
            _ = term.recv() => { app.quit.get_or_insert(Quit::Leave); return Ok(()); }
            _ = hup.recv() => { app.quit.get_or_insert(Quit::Leave); return Ok(()); }
            _ = int.recv() => { app.quit.get_or_insert(Quit::Leave); return Ok(()); }
        }
    }
}
