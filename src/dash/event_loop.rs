//! The dashboard's loop: drains what is ready (keys, the supervisor's
//! feed, views, inspections, Temporal, log lines, timers), then draws once.

use std::time::{Duration, Instant};

use anyhow::Result;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use super::session::Session;
use super::tasks::{open_in_browser, show_event};
use crate::control::Feed;
use crate::supervisor::{Phase, StackCommand};
use crate::ui::{App, Quit};

/// Where the loop's inputs come from besides the session.
pub(super) struct Inputs {
    pub logs: mpsc::Receiver<(String, Vec<String>)>,
    pub temporal: mpsc::Receiver<super::tasks::Refresh>,
    pub tails: super::tasks::Tails,
    /// What Temporal is asked for (see `Want`).
    pub temporal_wanted: tokio::sync::watch::Sender<super::tasks::Want>,
    /// What a cancel, terminate or reset did.
    pub acted: mpsc::Receiver<String>,
    pub acted_tx: mpsc::Sender<String>,
}

impl Inputs {
    /// Temporal is asked for what the screen shows now (at once when that
    /// changed); `again`: ask at once even if not (an action was done).
    fn want(&self, app: &App, again: bool) {
        let panel = app.show_temporal || app.workflows.is_some();
        let detail = app.wanted_detail();
        self.temporal_wanted.send_if_modified(|w| {
            let changed = w.panel != panel || w.detail != detail || again;
            if changed {
                w.panel = panel;
                w.detail = detail;
                w.nudge += u64::from(again);
            }
            changed
        });
    }
}

/// The signals that end the dashboard.
struct Signals([tokio::signal::unix::Signal; 3]);

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self([
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
            signal(SignalKind::interrupt())?,
        ]))
    }

    async fn recv(&mut self) {
        let [a, b, c] = &mut self.0;
        tokio::select! { _ = a.recv() => {}, _ = b.recv() => {}, _ = c.recv() => {} }
    }
}

fn moving(app: &App) -> bool {
    app.stack.iter().any(|v| {
        matches!(
            v.view.phase,
            Phase::Backoff | Phase::Stopping | Phase::Starting
        )
    })
}

/// Draws when something changed; hands the clipboard to the terminal.
fn draw(terminal: &mut ratatui::DefaultTerminal, app: &mut App) -> Result<()> {
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
    Ok(())
}

/// `Q` while attached: done once the supervisor says all stopped (then it
/// is asked to exit), or at the deadline. True when the loop should end.
async fn stop_done(session: &mut Session) -> bool {
    let Some(deadline) = session.stop_deadline else {
        return false;
    };
    if session.all_stopped() || session.attached.is_none() {
        if let Some(a) = &session.attached {
            a.shutdown();
            tokio::time::sleep(Duration::from_millis(50)).await; // let it go out
        }
        return true;
    }
    if Instant::now() >= deadline {
        session.stop_failed = true;
        return true;
    }
    false
}

fn on_key(app: &mut App, session: &mut Session, inputs: &Inputs, k: crossterm::event::KeyEvent) {
    let cmd = app.on_key(k);
    if let Some(act) = app.workflow_act.take() {
        super::tasks::act_on_workflow(&session.stack, act, inputs.acted_tx.clone());
    }
    if let Some(url) = app.open_url.take() {
        app.notice = Some(open_in_browser(&url));
    }
    if std::mem::take(&mut app.reload_asked) {
        session.reload(app);
    }
    let Some(cmd) = cmd else { return };
    let stop_all = cmd == StackCommand::Shutdown { stop: true };
    session.command(app, cmd);
    if stop_all && session.attached.is_some() {
        let grace: Duration = session.stack.services.iter().map(|c| c.spec.grace).sum();
        session.stop_deadline = Some(Instant::now() + grace + Duration::from_secs(15));
    }
}

fn on_feed(app: &mut App, session: &mut Session, item: Feed, attached_at_ms: u64) {
    match item {
        Feed::Event(ev) => {
            use crate::supervisor::history::Kind;
            if matches!(ev.kind, Kind::Reloaded | Kind::ConfigError) {
                // Its file or its trouble changed: ask it, read ours again.
                session.stale = ev.kind == Kind::Reloaded;
                app.recheck = true;
            }
            show_event(&ev, attached_at_ms);
            tui_logger::move_events();
            app.dirty = true;
        }
        Feed::Snapshot(views) => {
            session.views.send_replace(views);
        }
        Feed::Closed => session.detach(app),
    }
}

/// `q`, a stop of the stack done (`Q` attached), or our own supervision
/// ended (`Q` stopped the stack).
async fn ended(app: &App, session: &mut Session) -> bool {
    if app.quit == Some(Quit::Leave) || stop_done(session).await {
        return true;
    }
    session
        .ours
        .as_ref()
        .is_some_and(|o| o.handle.join.is_finished())
}

/// New log lines, and whatever else came meanwhile.
fn on_logs(
    app: &mut App,
    first: (String, Vec<String>),
    rx: &mut mpsc::Receiver<(String, Vec<String>)>,
) {
    app.push_log_named(&first.0, first.1);
    while let Ok((name, more)) = rx.try_recv() {
        app.push_log_named(&name, more);
    }
}

/// The stack changed (a reload): its services, their logs.
fn take_stack(app: &mut App, session: &Session, inputs: &mut Inputs) {
    app.set_services(session.infos());
    inputs.tails.follow(&session.stack, app);
}

/// What the header and footer say of the config, kept current; after a
/// supervisor's reload, who it is and what it runs now. True when it
/// asked the supervisor (look at everything again before drawing).
async fn follow_config(app: &mut App, session: &mut Session, inputs: &mut Inputs) -> bool {
    let watch_only = session.other_config().is_some();
    if app.watch_only != watch_only {
        app.watch_only = watch_only;
        app.dirty = true;
    }
    let words = session.config_words();
    if (app.config.as_ref(), app.config_trouble.as_ref()) != (words.0.as_ref(), words.1.as_ref()) {
        (app.config, app.config_trouble) = words;
        app.dirty = true;
    }
    if !std::mem::take(&mut app.recheck) {
        return false;
    }
    session.recheck().await;
    if session.follow_stack() {
        take_stack(app, session, inputs);
        app.set_stack(session.entries());
    }
    app.dirty = true;
    true
}

pub(super) async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    session: &mut Session,
    mut inputs: Inputs,
) -> Result<()> {
    let mut events = EventStream::new();
    let mut views = session.views.subscribe();
    let mut eyes = session.inspector.changes();
    let mut signals = Signals::new()?;
    let mut last_periodic = Instant::now();
    // When the timer last fired: its next time does not move when other
    // inputs come first (a fresh sleep each turn would never fire while
    // inspections or log lines arrive more often than it).
    let mut last_tick = Instant::now();
    let mut attached_at_ms = crate::util::clock::now_ms();
    loop {
        if follow_config(app, session, &mut inputs).await {
            continue;
        }
        // What was logged meanwhile (the supervisor's events when it runs
        // here), into the events panel before drawing.
        tui_logger::move_events();
        draw(terminal, app)?;
        if ended(app, session).await {
            return Ok(());
        }
        let feed = async {
            match session.attached.as_mut() {
                Some(a) => a.feed.recv().await.unwrap_or(Feed::Closed),
                None => std::future::pending().await,
            }
        };
        let tick = if moving(app) {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        };
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => {
                    on_key(app, session, &inputs, k);
                    inputs.want(app, false);
                }
                Some(Ok(Event::Mouse(m))) => app.on_mouse(m),
                Some(Ok(Event::Resize(..))) => app.dirty = true,
                Some(Ok(_)) => {}
                // The terminal went away.
                Some(Err(_)) | None => { app.quit.get_or_insert(Quit::Leave); return Ok(()); }
            },
            item = feed => on_feed(app, session, item, attached_at_ms),
            _ = views.changed() => {
                views.borrow_and_update();
                if session.follow_stack() {
                    take_stack(app, session, &mut inputs);
                }
                app.set_stack(session.entries());
            }
            _ = eyes.changed() => {
                eyes.mark_seen();
                app.set_stack(session.entries());
            }
            Some((info, detail)) = inputs.temporal.recv() => {
                app.temporal = Some(info);
                if detail.is_some() {
                    app.detail = detail;
                }
                inputs.want(app, false);
                app.dirty = true;
            }
            Some(said) = inputs.acted.recv() => {
                app.notice = Some(said);
                inputs.want(app, true);
                app.dirty = true;
            }
            Some((name, batch)) = inputs.logs.recv() => on_logs(app, (name, batch), &mut inputs.logs),
            // Countdowns and progress move every 250 ms; otherwise once a second.
            _ = tokio::time::sleep_until((last_tick + tick).into()) => {
                last_tick = Instant::now();
                app.dirty = true; // the events moved above are drawn
                if moving(app) || last_periodic.elapsed() >= Duration::from_millis(990) {
                    last_periodic = Instant::now();
                    app.dirty = true;
                    if session.housekeeping(app).await {
                        attached_at_ms = crate::util::clock::now_ms();
                    }
                }
            }
            // SIGTERM, SIGHUP (the terminal closed), SIGINT: leave as `q` does.
            _ = signals.recv() => { app.quit.get_or_insert(Quit::Leave); return Ok(()); }
        }
    }
}
