//! The dashboard's helper tasks: following a log file, asking Temporal,
//! opening a browser, showing the supervisor's events.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::service::Stack;
use crate::logs::tail::LogTail;
use crate::supervisor::inspector::Eye;

/// A supervisor event in the events panel, as the supervisor logged it;
/// one from before we attached says when it happened.
pub(super) fn show_event(ev: &crate::supervisor::history::HistoryEvent, attached_at_ms: u64) {
    if ev.at_ms + 1000 < attached_at_ms {
        let time = ev.at.get(11..19).unwrap_or(&ev.at);
        tracing::info!("{}: {} (at {time} UTC)", ev.service, ev.text());
    } else {
        tracing::info!("{}: {}", ev.service, ev.text());
    }
}

/// What the dash wants of Temporal now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Want {
    /// A panel shows what is inside (the Temporal panel or the workflows
    /// screen); nothing is asked otherwise.
    pub panel: bool,
    /// The workflow run looked at closely, and whether a worker polls its
    /// queue (its stack trace can be asked for then).
    pub detail: Option<(crate::temporal::Target, bool)>,
    /// Bumped to ask again now (an action changed a workflow).
    pub nudge: u64,
}

/// One refresh: what is inside, and the workflow looked at closely.
pub(super) type Refresh = (
    crate::temporal::TemporalInfo,
    Option<crate::temporal::Detail>,
);

/// Asks Temporal what is inside every 2 s while it is ready and wanted
/// (see [`Want`]), each call bounded, on a blocking thread — at once when
/// what is wanted changes; says why not otherwise. `eye` is the
/// inspector's on the built-in Temporal (none for an external one).
pub(super) async fn watch_temporal(
    stack: Stack,
    eye: Option<Eye>,
    tx: mpsc::Sender<Refresh>,
    mut wanted: tokio::sync::watch::Receiver<Want>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first look is always taken (the web UI's address, for `o`).
    let mut first = true;
    // What earlier looks found (what need not be asked again each time).
    let mut memory = Some(crate::temporal::Memory::default());
    loop {
        if !std::mem::take(&mut first) && !wanted.borrow_and_update().panel {
            if wanted.changed().await.is_err() {
                return;
            }
            tick.reset_immediately();
            continue;
        }
        tokio::select! {
            _ = tick.tick() => {}
            changed = wanted.changed() => {
                if changed.is_err() { return; }
                tick.reset_immediately();
                continue;
            }
        }
        let state = eye.as_ref().and_then(|e| {
            let seen = e.seen.borrow();
            seen.status.as_ref().map(|s| (s.state, s.ready()))
        });
        let detail = wanted.borrow().detail.clone();
        let cx = crate::temporal::Context::of(&stack);
        let mut kept = memory.take().unwrap_or_default();
        let Ok((refresh, kept)) = tokio::task::spawn_blocking(move || {
            let info = crate::temporal::look_again(&cx, state, &mut kept);
            let detail = detail
                .filter(|_| info.version.is_some())
                .map(|(target, polled)| crate::temporal::detail(&cx, &target, polled));
            ((info, detail), kept)
        })
        .await
        else {
            continue;
        };
        memory = Some(kept);
        if tx.send(refresh).await.is_err() {
            return;
        }
    }
}

/// A confirmed cancel, terminate or reset, off the UI thread; what was
/// done (or why not) comes back as a notice.
pub(super) fn act_on_workflow(
    stack: &Stack,
    (target, what): (crate::temporal::Target, crate::temporal::Act),
    done: mpsc::Sender<String>,
) {
    let cx = crate::temporal::Context::of(stack);
    tokio::task::spawn_blocking(move || {
        let said = match crate::temporal::act(&cx, &target, what) {
            Ok(s) => s,
            Err(e) => format!("could not {} {}: {e}", what.verb(), target.workflow_id),
        };
        tracing::info!("temporal: {said}");
        let _ = done.blocking_send(said);
    });
}

/// `o`: a browser when this session can show one, else the URL to open.
pub(super) fn open_in_browser(url: &str) -> String {
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
async fn tail_log(name: String, mut tail: LogTail, tx: mpsc::Sender<(String, Vec<String>)>) {
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
        if !batch.is_empty() && tx.send((name.clone(), batch)).await.is_err() {
            return;
        }
        tokio::select! {
            _ = wake_rx.recv() => {}
            _ = tokio::time::sleep(fallback) => {}
        }
    }
}

/// Every service's log, followed: lines come in by service name.
pub(super) struct Tails {
    tx: mpsc::Sender<(String, Vec<String>)>,
    following: Vec<(String, tokio::task::JoinHandle<()>)>,
}

impl Tails {
    pub fn new(tx: mpsc::Sender<(String, Vec<String>)>) -> Self {
        Self {
            tx,
            following: vec![],
        }
    }

    /// Follows the log of each service of `stack` (a new one from its last
    /// 500 lines), and no longer those gone from it.
    pub fn follow(&mut self, stack: &Stack, app: &mut crate::ui::App) {
        self.following.retain(|(name, task)| {
            let keep = stack.get(name).is_some();
            if !keep {
                task.abort();
            }
            keep
        });
        for c in &stack.services {
            let name = &c.spec.name;
            if self.following.iter().any(|(n, _)| n == name) {
                continue;
            }
            let path = c.spec.paths.log.clone();
            app.push_log_named(name, LogTail::last_lines(&path, 500));
            let task = tokio::spawn(tail_log(
                name.clone(),
                LogTail::at_end(&path),
                self.tx.clone(),
            ));
            self.following.push((name.clone(), task));
        }
    }
}

impl Drop for Tails {
    fn drop(&mut self) {
        self.following.iter().for_each(|(_, t)| t.abort());
    }
}
