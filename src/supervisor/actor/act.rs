//! What the actor does for the core's actions: spawn, watch (a child's
//! `wait`, or an adopted process's pidfd), readiness, liveness, stop, reap.
//! Each long wait is its own task that reports back as an event.

use std::time::Instant;

use super::{Actor, Internal};
use crate::lifecycle::{self, write_intent, SpawnError, Want};
use crate::process::scan::ProcEntry;
use crate::state::lock;
use crate::supervisor::core::{Action, Event, ExitInfo};
use crate::util::blocking::blocking;

impl Actor {
    pub(super) fn act(&mut self, action: Action) {
        match action {
            Action::Spawn { gen } => self.do_spawn(gen),
            Action::Watch { gen, pid } => self.watch_pid(gen, pid),
            Action::WatchReady { gen } => self.watch_ready(gen),
            Action::Probe { gen } => self.probe(gen),
            Action::Stop { force } => self.stop(force),
            Action::ReapGroup => {
                let rec = self.current.take();
                let ctx = self.ctx.clone();
                // Bounded (SIGKILL then at most 2 s); normally the group is already empty.
                let killed = blocking(|| lifecycle::reap(&ctx, rec.as_ref()));
                if !killed.is_empty() {
                    tracing::warn!("killed leftover group members {killed:?}");
                }
                if rec.is_some() {
                    let _ = crate::state::pidfile::remove(&ctx.spec.paths.pid);
                }
            }
            Action::Schedule { at, epoch } => self.timer = Some((at, epoch)),
        }
    }

    /// Readiness of a new process, checked by a task of its own.
    fn watch_ready(&mut self, gen: u64) {
        let Some(rec) = self.current.clone() else {
            return;
        };
        let ctx = self.ctx.clone();
        let tx = self.io_tx.clone();
        tokio::spawn(async move {
            match lifecycle::wait_ready(&ctx, &rec, ctx.spec.ready_timeout).await {
                Ok(d) => {
                    tracing::info!("ready in {} ms (PID {})", d.as_millis(), rec.pid);
                    let _ = tx.send(Internal::Core(Event::Ready { gen }));
                }
                Err(lifecycle::ReadyError::Exited) => {} // the exit watcher reports it
                Err(e) => {
                    let _ = tx.send(Internal::Core(Event::NotReady {
                        gen,
                        why: e.to_string(),
                    }));
                }
            }
        });
    }

    /// Liveness: the check again every `liveness.every`, each result an event.
    fn probe(&mut self, gen: u64) {
        if let Some(t) = self.probe_task.take() {
            t.abort();
        }
        let Some(rec) = self.current.clone() else {
            return;
        };
        let ctx = self.ctx.clone();
        let tx = self.io_tx.clone();
        let every = self.core.liveness.every;
        self.probe_task = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await; // the first tick is now: it was just ready
            loop {
                tick.tick().await;
                let (ok, why) = match crate::probe::ready::live(&ctx.spec, &rec).await {
                    Ok(w) => (true, w),
                    Err(w) => (false, w.0),
                };
                let ev = Internal::Core(Event::Probe { gen, ok, why });
                if tx.send(ev).is_err() {
                    break;
                }
            }
        }));
    }

    /// A stop, by a task of its own that reports the processes still alive
    /// as it waits, then `StopDone`.
    fn stop(&mut self, force: bool) {
        if let Some(t) = self.stop_task.take() {
            t.abort();
        }
        if !self.core.restart_after_stop {
            write_intent(&self.ctx, Want::Stopped);
        }
        let ctx = self.ctx.clone();
        let tx = self.io_tx.clone();
        let grace = ctx.spec.grace;
        self.stop_task = Some(tokio::spawn(async move {
            let ptx = tx.clone();
            let mut progress = move |left: &[ProcEntry]| {
                let _ = ptx.send(Internal::Progress(left.to_vec()));
            };
            let rec = crate::state::pidfile::read(&ctx.spec.paths.pid)
                .record()
                .cloned();
            let r = lifecycle::stop_record(&ctx, rec.as_ref(), grace, force, &mut progress).await;
            let ev = match r {
                Ok(rep) if !rep.was_running => Event::StopDone {
                    ok: true,
                    message: "not running".into(),
                },
                Ok(rep) => Event::StopDone {
                    ok: true,
                    message: format!(
                        "stopped in {} ms{}",
                        rep.took.as_millis(),
                        if rep.forced {
                            " (forced with SIGKILL)"
                        } else {
                            ""
                        }
                    ),
                },
                Err(e) => Event::StopDone {
                    ok: false,
                    message: format!("stop incomplete: {e:#}"),
                },
            };
            let _ = tx.send(Internal::Progress(vec![]));
            let _ = tx.send(Internal::Core(ev));
        }));
        self.current = None;
    }

    pub(super) fn do_spawn(&mut self, gen: u64) {
        if lifecycle::read_intent(&self.ctx).is_some_and(|i| i.want == Want::Stopped) {
            tracing::info!("a stop was requested elsewhere; not starting");
            self.event(Event::Stop);
            return;
        }
        let start_guard = match hold_start_lock(&self.ctx.spec.paths.start_lock) {
            Ok(g) => g,
            Err(_) => {
                self.event(Event::LostRace { gen });
                self.eye.refresh();
                return;
            }
        };
        let st = self.status.clone();
        if let Some(st) = st.filter(|s| !s.lock.held) {
            // Stale files of a dead instance go before the new one starts.
            let plan = blocking(|| lifecycle::clean_from(&self.ctx, &st, false));
            for a in plan.actions {
                tracing::info!("clean: {a}");
            }
        }
        let result = blocking(|| lifecycle::spawn(&self.ctx));
        drop(start_guard);
        match result {
            Ok(spawned) => {
                self.spawned = Some((Instant::now(), spawned.log_offset));
                self.told_started = false;
                let pid = spawned.record.pid;
                let since = spawned.record.started_at_ms;
                self.current = Some(spawned.record);
                let mut child = spawned.child;
                let tx = self.io_tx.clone();
                let ctx = self.ctx.clone();
                tokio::spawn(async move {
                    let exit = match child.wait().await {
                        Ok(st) => exit_info(st),
                        Err(_) => ExitInfo::Unknown,
                    };
                    tracing::info!("PID {pid} {exit}");
                    let _ = tx.send(exited(&ctx, since, gen, exit));
                });
                self.event(Event::Spawned { gen, pid });
            }
            // Another starter's service holds the lock (and so maybe the
            // port): we lost a race, we did not fail. Adopt it.
            Err(SpawnError::LockHeld(_)) | Err(SpawnError::PortBusy { .. })
                if lock::is_held(&self.ctx.spec.paths.lock).unwrap_or(false) =>
            {
                self.event(Event::LostRace { gen });
                self.eye.refresh();
            }
            Err(e) => {
                tracing::error!("{e}");
                let fatal = e.is_fatal();
                self.event(Event::SpawnFailed {
                    gen,
                    error: e.to_string(),
                    fatal,
                });
            }
        }
    }

    /// Watches a process we did not start (adopted) through a pidfd, which
    /// becomes readable the moment it exits: no polling.
    pub(super) fn watch_pid(&mut self, gen: u64, pid: i32) {
        let tx = self.io_tx.clone();
        let ctx = self.ctx.clone();
        let since = self.current.as_ref().map(|r| r.started_at_ms).unwrap_or(0);
        // Pinned now: a PID reused later is not the process watched.
        let pinned = crate::platform::ProcHandle::watch(pid);
        tokio::spawn(async move {
            if let Ok(h) = pinned {
                h.exited().await;
            }
            tracing::info!("adopted PID {pid} exited");
            // Not our child: the kernel tells its exit status to its parent.
            let _ = tx.send(exited(&ctx, since, gen, ExitInfo::Unknown));
        });
    }
}

/// The start lock, tried every 100 µs for 3 ms: this supervisor's own
/// inspector holds it for microseconds when it asks about the service's
/// lock (`LockCheck::Auto`); another starter holds it far longer.
fn hold_start_lock(path: &std::path::Path) -> Result<lock::HeldLock, lock::LockError> {
    let mut tries = 0;
    loop {
        match lock::try_hold(path) {
            Err(lock::LockError::Busy(_)) if tries < 30 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
            r => return r,
        }
    }
}

/// The exit of generation `gen`'s process, with whether a stop was asked
/// for since it started and what the world says about why (a full disk).
fn exited(ctx: &lifecycle::Ctx, since: u64, gen: u64, exit: ExitInfo) -> Internal {
    Internal::Core(Event::Exited {
        gen,
        exit,
        user_stop: lifecycle::stop_requested_since(ctx, since),
        hint: crate::state::disk_full_note(ctx.settings.state.root()),
    })
}

fn exit_info(st: std::process::ExitStatus) -> ExitInfo {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => ExitInfo::Code(c),
        (None, Some(s)) => ExitInfo::Signal(s),
        _ => ExitInfo::Unknown,
    }
}
