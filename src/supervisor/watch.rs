//! Restart on change (`watch = { paths, ignore, debounce_ms,
//! restart_dependents }`): one task per watching service, while the
//! supervisor runs. The kernel's events (inotify, through notify: nothing
//! wakes while nothing changes) of a burst (a save of many files, a
//! checkout) are gathered until it has been quiet for the debounce, so it
//! makes one restart; a change its new process already saw makes none.
//! What each watched
//! directory's `.gitignore` or the service's `ignore` globs match, the state
//! directory (logs, PID files) and `.git/` never count. The restart itself
//! is the actor's: a change during a restart makes exactly one more.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::actor::Command;
use super::history::{History, Kind};
use super::StackCommand;
use crate::config::service::{Ctx, WatchSpec};
use crate::view::{Phase, ServiceView};

/// One service's watcher: dropping it ends the watching.
pub struct Watching {
    task: JoinHandle<()>,
    /// Changes restart it (a key turns it off and on).
    pub on: Arc<AtomicBool>,
    /// The spec it watches for (a reload that changes it makes a new one).
    pub spec: WatchSpec,
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a watcher needs of the supervisor around it.
#[derive(Clone)]
pub struct Around {
    pub commands: mpsc::WeakSender<StackCommand>,
    pub history: Arc<History>,
    pub views: watch::Receiver<Vec<ServiceView>>,
}

/// Watches `ctx`'s paths (it has `watch`); `dependents` are restarted too
/// when it says `restart_dependents`.
pub fn spawn(ctx: Arc<Ctx>, spec: WatchSpec, dependents: Vec<String>, around: Around) -> Watching {
    let on = Arc::new(AtomicBool::new(true));
    let task = tokio::spawn(run(ctx, spec.clone(), dependents, around, on.clone()));
    Watching { task, on, spec }
}

/// A watched root: a directory (with its `.gitignore` and the globs), or
/// one file.
struct Root {
    path: PathBuf,
    dir: bool,
    ignore: Gitignore,
}

impl Root {
    fn new(path: &Path, globs: &[String]) -> Self {
        let dir = path.is_dir();
        let base = if dir {
            path
        } else {
            path.parent().unwrap_or(path)
        };
        let mut b = GitignoreBuilder::new(base);
        if dir {
            // A .gitignore that does not parse ignores nothing: say so.
            if let Some(e) = b.add(base.join(".gitignore")) {
                if !matches!(&e, ignore::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound)
                {
                    tracing::warn!("{}: {e}", base.join(".gitignore").display());
                }
            }
        }
        for g in globs.iter().map(String::as_str).chain([".git/"]) {
            let _ = b.add_line(None, g); // checked when the config was read
        }
        let ignore = b.build().unwrap_or_else(|_| Gitignore::empty());
        Self {
            path: path.to_path_buf(),
            dir,
            ignore,
        }
    }

    /// Whether a change of `p` counts for this root.
    fn counts(&self, p: &Path) -> bool {
        if !self.dir {
            return p == self.path;
        }
        p.starts_with(&self.path)
            && !self
                .ignore
                .matched_path_or_any_parents(p, p.is_dir())
                .is_ignore()
    }
}

/// stigmer's own files in the state directory `state`: its top-level
/// files (locks, PID files, the history), logs, services' state, Temporal's
/// data and binaries. They change all the time and are never code.
fn ours(state: &Path, p: &Path) -> bool {
    p.parent() == Some(state)
        || ["logs", "services", "temporal-data", "bin"]
            .iter()
            .any(|d| p.starts_with(state.join(d)))
}

/// The paths among `changed` that count, for the service's roots.
fn counting(roots: &[Root], state: &Path, changed: Vec<PathBuf>) -> Vec<PathBuf> {
    changed
        .into_iter()
        .filter(|p| !ours(state, p) && roots.iter().any(|r| r.counts(p)))
        .collect()
}

/// `worker.py changed`, or `src/a.py and 3 more changed` (relative to the
/// config's directory when under it).
fn what_changed(changed: &[PathBuf], base: &Path) -> String {
    let mut uniq: Vec<&PathBuf> = changed.iter().collect();
    uniq.sort();
    uniq.dedup();
    let first = uniq
        .first()
        .map(|p| p.strip_prefix(base).unwrap_or(p).display().to_string())
        .unwrap_or_default();
    match uniq.len() {
        0 | 1 => format!("{first} changed"),
        n => format!("{first} and {} more changed", n - 1),
    }
}

/// A batch of changed paths, and when the newest change happened.
type Batch = (Vec<PathBuf>, std::time::Instant);

/// The kernel's events for `roots`, as batches of paths on `tx` with the
/// time they came (for as long as the watcher lives; `run` gathers a
/// burst). A thread blocked on inotify: idle, nothing wakes.
fn watch_roots(
    roots: &[Root],
    tx: mpsc::Sender<Batch>,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut watcher = notify::recommended_watcher(move |r: notify::Result<notify::Event>| {
        let Ok(e) = r else { return };
        if !e.kind.is_access() && !e.paths.is_empty() {
            // Full: a burst, gathered anyway (its newest event comes later).
            let _ = tx.try_send((e.paths, std::time::Instant::now()));
        }
    })?;
    for r in roots {
        // A file is watched through its directory: editors replace it.
        let (path, mode) = if r.dir {
            (r.path.as_path(), notify::RecursiveMode::Recursive)
        } else {
            (
                r.path.parent().unwrap_or(&r.path),
                notify::RecursiveMode::NonRecursive,
            )
        };
        if let Err(e) = watcher.watch(path, mode) {
            tracing::warn!("cannot watch {} ({e})", path.display());
        }
    }
    Ok(watcher)
}

async fn run(
    ctx: Arc<Ctx>,
    spec: WatchSpec,
    dependents: Vec<String>,
    around: Around,
    on: Arc<AtomicBool>,
) {
    let name = ctx.spec.name.clone();
    let roots: Vec<Root> = spec
        .paths
        .iter()
        .map(|p| Root::new(p, &spec.ignore))
        .collect();
    let (tx, mut rx) = mpsc::channel::<Batch>(64);
    let _watcher = match watch_roots(&roots, tx) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!("{name}: cannot watch its files ({e}); restart it by hand");
            return;
        }
    };
    let state = ctx.settings.state.root().to_path_buf();
    let base = ctx.settings.config_dir.clone();
    // When the last restart's new process was seen: a change made before
    // it started is one it already sees (a slow burst that the debounce
    // split in two is one restart, not two).
    let mut spawned: Option<std::time::Instant> = None;
    let newer = |at: std::time::Instant, spawned: Option<std::time::Instant>| {
        spawned.is_none_or(|s| at > s)
    };
    while let Some((first, at)) = rx.recv().await {
        if !newer(at, spawned) {
            continue;
        }
        let mut changed = counting(&roots, &state, first);
        if changed.is_empty() {
            continue;
        }
        // Gathered until quiet for the debounce: one restart a burst.
        loop {
            match tokio::time::timeout(spec.debounce, rx.recv()).await {
                Ok(Some((more, _))) => changed.extend(counting(&roots, &state, more)),
                Ok(None) => return,
                Err(_) => break,
            }
        }
        let pid_of = |views: &watch::Receiver<Vec<ServiceView>>| {
            crate::view::find(&views.borrow(), &name).and_then(|v| v.pid)
        };
        let stopped = crate::view::find(&around.views.borrow(), &name)
            .is_none_or(|v| v.phase == Phase::Stopped);
        if !on.load(Ordering::Relaxed) || stopped {
            continue; // off, or stopped by someone: a change starts nothing
        }
        let what = what_changed(&changed, &base);
        tracing::info!("{name}: restart: {what}");
        around
            .history
            .push(&name, Kind::Changed, None, format!("restart: {what}"));
        let Some(commands) = around.commands.upgrade() else {
            return;
        };
        let before = pid_of(&around.views);
        let targets =
            std::iter::once(&name).chain(dependents.iter().filter(|_| spec.restart_dependents));
        for t in targets {
            let _ = commands
                .send(StackCommand::Service(t.clone(), Command::Restart))
                .await;
        }
        drop(commands);
        // Until its new process is there, or the restart came to nothing
        // (it failed, or backs off); bounded either way (stopped by someone).
        let mut views = around.views.clone();
        let settled = views.wait_for(|v| {
            crate::view::find(v, &name).is_none_or(|v| {
                (v.pid.is_some() && v.pid != before)
                    || matches!(v.phase, Phase::Backoff | Phase::Failed)
            })
        });
        let respawned = matches!(
            tokio::time::timeout(RESPAWN_WAIT, settled).await,
            Ok(Ok(v)) if crate::view::find(&v, &name).is_some_and(|v| v.pid.is_some() && v.pid != before)
        );
        // Only a new process has seen the files as they are now.
        spawned = respawned.then(std::time::Instant::now).or(spawned);
    }
}

/// The longest a watch waits for the restart it asked for to spawn.
const RESPAWN_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_globs_the_state_dir_and_git_do_not_count() {
        let dir = std::env::temp_dir().join(format!("stigmer-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src/build")).unwrap();
        std::fs::write(dir.join(".gitignore"), "build/\n*.log\n").unwrap();
        let state = dir.join("home");
        let roots = [Root::new(&dir, &["*.tmp".into()])];
        let changed = [
            "src/a.py",
            "src/build/x.o",
            "debug.log",
            "b.tmp",
            ".git/index",
            "home/logs/api.log",
            "home/history.json",
            "home/services/api/pid",
        ]
        .iter()
        .map(|p| dir.join(p))
        .collect();
        assert_eq!(
            counting(&roots, &state, changed),
            vec![dir.join("src/a.py")]
        );
        // Code kept beside the state (an example in the home) still counts.
        let beside = vec![state.join("example/worker.py")];
        assert_eq!(
            counting(&[Root::new(&dir, &[])], &state, beside.clone()),
            beside
        );
        // A file root: only that file.
        let file = [Root::new(&dir.join(".gitignore"), &[])];
        let changed = vec![dir.join(".gitignore"), dir.join("src/a.py")];
        assert_eq!(
            counting(&file, &state, changed),
            vec![dir.join(".gitignore")]
        );
        let many = vec![
            dir.join("src/b.py"),
            dir.join("src/a.py"),
            dir.join("src/a.py"),
        ];
        assert_eq!(what_changed(&many, &dir), "src/a.py and 1 more changed");
        assert_eq!(what_changed(&many[..1], &dir), "src/b.py changed");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
