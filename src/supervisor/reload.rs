//! Reloading a running stack (docs/stack.md, "Reloading"): the coordinator
//! compares the stack loaded now with the one it runs (`config::diff`),
//! stops what was removed or changed (among those, dependents first; a
//! dependent that did not change keeps running, as it does when a
//! dependency crashes), then swaps in the new stack: unchanged services
//! keep their actor, PID and counts; new and changed ones get a new actor
//! (which adopts nothing, as nothing of theirs runs); then what is new
//! (if `autostart`) and what changed and was up start, in dependency order.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::actor::{self, Command, Handle, Order};
use super::coordinator::Coordinator;
use super::history::Kind;
use crate::config::diff::Diff;
use crate::config::service::Stack;
use crate::lifecycle::Failure;

type Reply = mpsc::UnboundedSender<Result<Diff, String>>;

/// A reload asked for: the stack as loaded now, and who hears how it went.
#[derive(Debug, Clone)]
pub struct Reload {
    pub stack: Arc<Stack>,
    pub reply: Option<Reply>,
}

impl PartialEq for Reload {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.stack, &other.stack)
    }
}
impl Eq for Reload {}

/// A reload under way: waiting for what it retires to stop.
pub(super) struct Pending {
    stack: Stack,
    diff: Diff,
    /// Stopping for the reload (removed and changed).
    retiring: BTreeSet<String>,
    /// Told to stop already.
    told: BTreeSet<String>,
    /// Started again once the new stack runs: changed ones that were up.
    restart: BTreeSet<String>,
    replies: Vec<Reply>,
}

impl Coordinator {
    pub(super) fn reload(&mut self, r: Reload) {
        let new = Stack::clone(&r.stack);
        let replies: Vec<Reply> = r.reply.into_iter().collect();
        if new.settings.state.root() != self.stack.settings.state.root() {
            let why = format!(
                "the state directory changed ({} → {}); stop the stack and start it again",
                self.stack.settings.state.root().display(),
                new.settings.state.root().display()
            );
            replies.iter().for_each(|r| {
                let _ = r.send(Err(why.clone()));
            });
            return;
        }
        let diff = Diff::of(&self.stack, &new);
        // A newer file wins over a reload still stopping things: what the
        // older one meant to start again is started by this one.
        let (mut restart, mut replies) = (BTreeSet::new(), replies);
        if let Some(p) = self.pending.take() {
            restart = p.restart;
            replies.extend(p.replies);
        }
        for s in diff.retiring() {
            let up = !self.phase(&s).idle() || self.wanted.contains(&s);
            if up && !diff.removed.contains(&s) {
                restart.insert(s.clone());
            }
            self.unwant(&s);
            self.stopping.remove(&s);
            if diff.removed.contains(&s) {
                self.settle(
                    &s,
                    Err(Failure(format!(
                        "{s}: removed from the config before it started"
                    ))),
                );
            }
        }
        restart.retain(|s| new.get(s).is_some());
        tracing::info!("reload: {}", diff.summary());
        self.pending = Some(Pending {
            stack: new,
            retiring: diff.retiring(),
            told: BTreeSet::new(),
            restart,
            diff,
            replies,
        });
    }

    /// A reload under way: stop what it retires (dependents first among
    /// them), and once all of it is down, swap in the new stack.
    pub(super) async fn step_reload(&mut self) {
        let Some(p) = self.pending.as_ref() else {
            return;
        };
        let (retiring, told) = (p.retiring.clone(), p.told.clone());
        let mut now_told = vec![];
        for s in retiring.iter().filter(|s| !told.contains(*s)) {
            let clear = self
                .stack
                .graph
                .may_stop(s, |d| !retiring.contains(d) || self.phase(d).idle());
            if clear {
                self.send(s, Command::Stop).await;
                now_told.push(s.clone());
            }
        }
        for s in &retiring {
            self.notes.insert(s.clone(), "stopping for a reload".into());
        }
        if let Some(p) = self.pending.as_mut() {
            p.told.extend(now_told);
        }
        let down = retiring
            .iter()
            .all(|s| self.phase(s).idle() && !self.handed.contains_key(s));
        if down && retiring.iter().all(|s| told.contains(s)) {
            if let Some(p) = self.pending.take() {
                self.apply(p);
            }
        }
    }

    /// Everything retired is down: run the new stack.
    fn apply(&mut self, p: Pending) {
        let Pending {
            mut stack,
            diff,
            retiring,
            restart,
            replies,
            ..
        } = p;
        // An unchanged service keeps the very context its actor runs.
        for c in &mut stack.services {
            if let Some(old) = self.stack.get(&c.spec.name).filter(|o| o.spec == c.spec) {
                *c = old.clone();
            }
        }
        self.inspector.follow(&stack);
        self.swap_actors(&stack, &retiring);
        let gone = |n: &String| stack.get(n).is_none();
        self.wanted.retain(|n| !gone(n));
        self.stopping.retain(|n| !gone(n));
        self.handed.retain(|n, _| !gone(n));
        self.notes.retain(|n, _| !gone(n) && !retiring.contains(n));
        for n in self
            .tickets
            .keys()
            .filter(|n| gone(n))
            .cloned()
            .collect::<Vec<_>>()
        {
            self.settle(&n, Err(Failure(format!("{n}: removed from the config"))));
        }
        self.stack = stack;
        self.current.send_replace(self.stack.clone());
        self.sync_watchers();
        let mut start: Vec<&str> = restart.iter().map(String::as_str).collect();
        start.extend(
            diff.added
                .iter()
                .filter(|n| self.stack.get(n).is_some_and(|c| c.spec.autostart))
                .map(String::as_str),
        );
        let set = self
            .stack
            .graph
            .with_dependencies(&start)
            .unwrap_or_default();
        self.want(set);
        for r in replies {
            let _ = r.send(Ok(diff.clone()));
        }
    }

    /// The actors of `stack`: an unchanged service keeps its own; a retired
    /// one's actor ends; a new or changed one gets a new actor.
    fn swap_actors(&mut self, stack: &Stack, retiring: &BTreeSet<String>) {
        let mut old: Vec<(String, Handle)> = self
            .stack
            .names()
            .into_iter()
            .map(String::from)
            .zip(std::mem::take(&mut self.actors))
            .collect();
        for (name, h) in old.iter().filter(|(n, _)| retiring.contains(n)) {
            tracing::debug!("{name}: its actor ends (reload)");
            let _ = h
                .commands
                .try_send(Order::Command(Command::Shutdown { stop: false }));
        }
        old.retain(|(n, _)| !retiring.contains(n));
        let mut actors = Vec::with_capacity(stack.services.len());
        for ctx in &stack.services {
            let name = &ctx.spec.name;
            match old.iter().position(|(n, _)| n == name) {
                Some(i) => actors.push(old.swap_remove(i).1),
                None => {
                    let Some(eye) = self.inspector.eye(name) else {
                        continue; // follow() gave every service an eye
                    };
                    let h = actor::spawn(ctx.clone(), eye, self.history.clone(), None);
                    self.watch_actor(&h);
                    actors.push(h);
                }
            }
        }
        self.actors = actors;
    }

    /// The supervisor is leaving with a reload under way.
    pub(super) fn abandon_reload(&mut self) {
        if let Some(p) = self.pending.take() {
            for r in p.replies {
                let _ = r.send(Err("the supervisor is exiting; nothing was reloaded".into()));
            }
        }
    }
}

/// The file the supervisor runs, and why the last try to reload it failed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConfigStatus {
    /// None: no config file (Temporal alone, from the defaults).
    pub path: Option<std::path::PathBuf>,
    #[serde(default)]
    pub profiles: Vec<String>,
    /// The last reload refused the file: why (it runs the one before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `local scale` overrides of `replicas` it runs with.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub scale: std::collections::BTreeMap<String, u32>,
}

impl ConfigStatus {
    pub fn of(stack: &Stack) -> Self {
        Self {
            path: stack.settings.config_path.clone(),
            profiles: stack.settings.profiles.clone(),
            error: None,
            scale: stack.settings.scale.clone(),
        }
    }
}

/// Reloads the supervised stack from its file (or another): loads it on a
/// blocking thread, hands it to the coordinator and waits, bounded, for
/// the outcome. A file that does not load changes nothing: its error is
/// kept (and recorded), and the stack runs on as it was.
#[derive(Clone)]
pub struct Reloader {
    /// Weak: a reloader keeps no supervisor alive.
    pub commands: mpsc::WeakSender<super::StackCommand>,
    pub current: tokio::sync::watch::Receiver<Stack>,
    pub status: Arc<tokio::sync::watch::Sender<ConfigStatus>>,
    pub history: Arc<super::history::History>,
}

impl Reloader {
    /// With `config`/`profiles`: run that file, those profiles from now on.
    pub async fn reload(
        &self,
        config: Option<std::path::PathBuf>,
        profiles: Option<Vec<String>>,
    ) -> Result<Diff, String> {
        self.reload_with(|origin| {
            if let Some(c) = config {
                origin.config = Some(c);
            }
            if let Some(p) = profiles {
                origin.profiles = p;
            }
        })
        .await
    }

    /// `local scale NAME N`: NAME runs N replicas from now on (over the
    /// file's `replicas`, until the supervisor exits).
    pub async fn scale(&self, name: String, replicas: u32) -> Result<Diff, String> {
        self.reload_with(|origin| {
            origin.scale.insert(name, replicas);
        })
        .await
    }

    async fn reload_with(
        &self,
        edit: impl FnOnce(&mut crate::config::Overrides),
    ) -> Result<Diff, String> {
        let (mut origin, grace) = {
            let s = self.current.borrow();
            let grace: std::time::Duration = s.services.iter().map(|c| c.spec.grace).sum();
            (s.settings.origin.clone(), grace)
        };
        edit(&mut origin);
        let named = origin.config.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            crate::config::Settings::resolve(origin).and_then(Stack::new)
        })
        .await
        .map_err(|e| format!("loading the config panicked: {e}"))
        .and_then(|r| r.map_err(|e| format!("{e:#}")));
        let stack = match loaded {
            Ok(s) => Arc::new(s),
            Err(e) => {
                let file = named
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "the config".into());
                let why = format!("{file} not reloaded, the stack runs as before: {e}");
                tracing::warn!("{why}");
                self.history
                    .push("stigmer", Kind::ConfigError, None, why.clone());
                self.status.send_modify(|s| s.error = Some(why.clone()));
                return Err(why);
            }
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let status = ConfigStatus::of(&stack);
        let r = Reload {
            stack,
            reply: Some(tx),
        };
        let exiting = || "the supervisor is exiting".to_string();
        let commands = self.commands.upgrade().ok_or_else(exiting)?;
        commands
            .send(super::StackCommand::Reload(r))
            .await
            .map_err(|_| exiting())?;
        drop(commands);
        // Stops escalate to a kill after each one's grace: bounded.
        let limit = grace + std::time::Duration::from_secs(60);
        let outcome = match tokio::time::timeout(limit, rx.recv()).await {
            Ok(Some(r)) => r,
            Ok(None) => Err("the supervisor is exiting".into()),
            Err(_) => Err(format!(
                "the reload did not finish in {} s",
                limit.as_secs()
            )),
        };
        if let Ok(diff) = &outcome {
            // The file it runs first, then the event: whoever the event
            // makes ask (an attached dash) hears the new file.
            let was_refused = self.status.send_replace(status).error.is_some();
            // A save or a start that changes nothing is no event, unless
            // it ends a refusal (an attached dash then clears its banner).
            let text = match (diff.is_empty(), was_refused) {
                (false, _) => Some(diff.summary()),
                (true, true) => Some("the config loads again; nothing changed".into()),
                (true, false) => None,
            };
            if let Some(text) = text {
                self.history.push("stigmer", Kind::Reloaded, None, text);
            }
        }
        outcome
    }
}

/// How long a burst of saves is gathered into one reload.
pub const CONFIG_DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(300);

/// Reloads whenever the config file (or one of its env files) is saved:
/// watches their directories (editors replace a file by renaming another
/// onto it), a burst of events gathered until quiet for
/// [`CONFIG_DEBOUNCE`] into one reload. Idle, it never wakes.
pub fn watch_config(reloader: Reloader) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut current = reloader.current.clone();
        loop {
            let files = watched_files(&current.borrow_and_update());
            let (tx, mut rx) = mpsc::channel::<()>(1);
            let watcher = watch_files(&files, tx);
            if let Err(e) = &watcher {
                tracing::warn!(
                    "cannot watch the config file ({e}); `stigmer local reload` applies it"
                );
            }
            loop {
                tokio::select! {
                    changed = current.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        break; // another file, maybe: watch anew
                    }
                    got = rx.recv() => {
                        if got.is_none() {
                            return;
                        }
                        // The rest of the burst (an editor's several writes).
                        while let Ok(Some(())) =
                            tokio::time::timeout(CONFIG_DEBOUNCE, rx.recv()).await
                        {}
                        let _ = reloader.reload(None, None).await;
                    }
                }
            }
        }
    })
}

/// The config file and every env file a service reads.
fn watched_files(stack: &Stack) -> Vec<std::path::PathBuf> {
    let mut files: Vec<std::path::PathBuf> = stack.settings.config_path.iter().cloned().collect();
    for c in &stack.services {
        files.extend(c.spec.env_files.iter().cloned());
    }
    files.sort();
    files.dedup();
    files
}

/// The kernel's events on the directories of `files`: a signal on `tx` for
/// each write to one of them (a thread blocked on inotify; no timer).
fn watch_files(
    files: &[std::path::PathBuf],
    tx: mpsc::Sender<()>,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    let wanted: Vec<std::path::PathBuf> = files.to_vec();
    let mut d = notify::recommended_watcher(move |r: notify::Result<notify::Event>| {
        let Ok(e) = r else { return };
        if !e.kind.is_access() && e.paths.iter().any(|p| wanted.contains(p)) {
            let _ = tx.try_send(()); // one pending is enough
        }
    })?;
    let mut dirs: Vec<&std::path::Path> = files.iter().filter_map(|f| f.parent()).collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        d.watch(dir, notify::RecursiveMode::NonRecursive)?;
    }
    Ok(d)
}
