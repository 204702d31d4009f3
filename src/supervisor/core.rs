//! The supervisor's decisions, with no I/O and no clock of its own:
//! `(state, event, now) -> actions`. Timers come back as events carrying the
//! epoch they were set in, so a cancelled timer is simply ignored; every
//! spawn has a generation, so news about an old process is ignored too.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::{Liveness, RestartMode, RestartPolicy};

pub use crate::view::{ExitInfo, Phase};

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Start,
    /// A start that is tried once (`local start`): a failure before the
    /// service is ready ends it `Stopped` with the reason, not restarted.
    StartOnce,
    Stop,
    Kill,
    Restart,
    Spawned {
        gen: u64,
        pid: i32,
    },
    SpawnFailed {
        gen: u64,
        error: String,
        fatal: bool,
    },
    /// Another starter won the race for the lock; adopt what it started.
    LostRace {
        gen: u64,
    },
    Ready {
        gen: u64,
    },
    NotReady {
        gen: u64,
        why: String,
    },
    Exited {
        gen: u64,
        exit: ExitInfo,
        user_stop: bool,
        /// Why it probably died, when the world says (a full disk).
        hint: Option<String>,
    },
    StopDone {
        ok: bool,
        message: String,
    },
    Timer {
        epoch: u64,
    },
    /// One liveness check of a ready service.
    Probe {
        gen: u64,
        ok: bool,
        why: String,
    },
    /// A healthy (or starting) service found running that we did not start.
    Adopt {
        pid: i32,
        ready: bool,
        /// When the inspection that found it began: news older than our
        /// last exit is about a process that has since died.
        seen_at: Instant,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Spawn {
        gen: u64,
    },
    /// Watch an adopted process for its exit.
    Watch {
        gen: u64,
        pid: i32,
    },
    WatchReady {
        gen: u64,
    },
    /// Keep checking a ready service's readiness (liveness) until its
    /// generation changes.
    Probe {
        gen: u64,
    },
    /// Stop everything of ours, gracefully unless `force`.
    Stop {
        force: bool,
    },
    /// The leader is gone: kill what is left of its group before anything else.
    ReapGroup,
    Schedule {
        at: Instant,
        epoch: u64,
    },
}

#[derive(Debug, Clone)]
pub struct Core {
    pub policy: RestartPolicy,
    pub phase: Phase,
    pub gen: u64,
    pub epoch: u64,
    pub pid: Option<i32>,
    pub restarts: u32,
    pub failures: VecDeque<Instant>,
    /// Failures since the service was last ready and stable: drives backoff.
    pub unstable_failures: usize,
    pub ready_at: Option<Instant>,
    pub last_exit: Option<ExitInfo>,
    /// When the last process of ours exited (or was stopped).
    pub last_exit_at: Option<Instant>,
    pub backoff_until: Option<Instant>,
    pub restart_after_stop: bool,
    pub forced: bool,
    pub message: Option<String>,
    pub liveness: Liveness,
    /// Liveness checks failed in a row since the last one that passed.
    pub probe_failures: u32,
    /// Why it is unhealthy (ready once, then `liveness.failures` checks
    /// failed in a row); cleared by a passing check or a new process.
    pub unhealthy: Option<String>,
    /// The stop under way is a restart because it was unhealthy.
    health_restart: bool,
    /// The stop under way ends in `Failed` with this message: unhealthy
    /// restarts, like crashes, count toward the crash-loop limit.
    give_up: Option<String>,
    /// The process starting now was started once (`Event::StartOnce`).
    pub once: bool,
    /// Why the last start tried once failed (until the next process).
    pub start_failed: Option<String>,
    /// A task (runs to completion): the exit codes that count as success.
    pub task: Option<Vec<i32>>,
    /// When the current process was spawned (a task's run is timed).
    pub spawned_at: Option<Instant>,
    /// The task ran to completion: how, and how long it took (until the
    /// next run).
    pub completed: Option<crate::view::TaskRun>,
}

impl Core {
    pub fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            phase: Phase::Stopped,
            gen: 0,
            epoch: 0,
            pid: None,
            restarts: 0,
            failures: VecDeque::new(),
            unstable_failures: 0,
            ready_at: None,
            last_exit: None,
            last_exit_at: None,
            backoff_until: None,
            restart_after_stop: false,
            forced: false,
            message: None,
            liveness: Liveness::default(),
            probe_failures: 0,
            unhealthy: None,
            health_restart: false,
            give_up: None,
            once: false,
            start_failed: None,
            task: None,
            spawned_at: None,
            completed: None,
        }
    }

    /// A task: runs to completion; `success` are the exit codes that count.
    pub fn with_task(mut self, success: Option<Vec<i32>>) -> Self {
        self.task = success;
        self
    }

    pub fn with_liveness(mut self, liveness: Liveness) -> Self {
        self.liveness = liveness;
        self
    }

    /// A new process (spawned or adopted) starts healthy.
    fn fresh_health(&mut self) {
        self.probe_failures = 0;
        self.unhealthy = None;
        self.health_restart = false;
    }

    /// One liveness check of the running process. One failure changes
    /// nothing: only `liveness.failures` in a row make it unhealthy.
    fn probe(&mut self, now: Instant, ok: bool, why: String) -> Vec<Action> {
        if ok {
            self.probe_failures = 0;
            if self.unhealthy.take().is_some() {
                self.message = Some(format!("healthy again: {why}"));
            }
            return vec![];
        }
        self.probe_failures = self.probe_failures.saturating_add(1);
        if self.probe_failures < self.liveness.failures || self.unhealthy.is_some() {
            return vec![];
        }
        let reason = format!(
            "{} liveness checks failed in a row, every {} ms (last: {why})",
            self.probe_failures,
            self.liveness.every.as_millis()
        );
        self.unhealthy = Some(reason.clone());
        if !self.liveness.restart {
            self.message = Some(format!(
                "unhealthy: {reason}; not restarted (liveness.restart = false)"
            ));
            return vec![];
        }
        let n = self.count_failure(now);
        if n >= self.policy.max_failures as usize {
            let m = format!(
                "crash loop: {n} failures within {}s, last: unhealthy: {reason}; not restarting (start again to retry)",
                self.policy.window.as_secs()
            );
            self.message = Some(m.clone());
            self.give_up = Some(m);
            self.restart_after_stop = false;
            return self.begin_stop(false);
        }
        self.message = Some(format!("unhealthy: {reason}; restarting"));
        self.restarts += 1;
        self.restart_after_stop = true;
        self.health_restart = true;
        self.begin_stop(false)
    }

    /// Records a failure now; how many fall within the window.
    fn count_failure(&mut self, now: Instant) -> usize {
        self.failures.push_back(now);
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.policy.window)
        {
            self.failures.pop_front();
        }
        self.failures.len()
    }

    /// A service that stayed ready this long and then crashed is restarted at
    /// once: backoff is for failures that never got stable.
    pub const STABLE: Duration = Duration::from_secs(1);

    /// Delay before the restart that follows the `n`th unstable failure:
    /// the first is immediate, then `initial`, doubling, capped at `max`.
    pub fn backoff(&self, n: usize) -> Duration {
        if n <= 1 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl((n - 2).min(20) as u32).unwrap_or(u32::MAX);
        self.policy
            .initial
            .saturating_mul(factor)
            .min(self.policy.max)
    }

    fn spawn(&mut self) -> Action {
        self.once = false;
        self.start_failed = None;
        self.completed = None;
        self.fresh_health();
        self.gen += 1;
        self.epoch += 1;
        self.phase = Phase::Starting;
        self.pid = None;
        self.backoff_until = None;
        Action::Spawn { gen: self.gen }
    }

    /// A task ran to completion: done, not restarted.
    fn complete(&mut self, now: Instant, exit: ExitInfo) -> Vec<Action> {
        let took = self
            .spawned_at
            .map(|t| now.saturating_duration_since(t))
            .unwrap_or_default();
        let code = match exit {
            ExitInfo::Code(c) => c,
            _ => 0,
        };
        self.completed = Some(crate::view::TaskRun {
            pid: self.pid,
            code,
            took_ms: took.as_millis() as u64,
            at_ms: crate::util::clock::wall_ms(now),
        });
        self.once = false;
        self.pid = None;
        self.epoch += 1;
        self.phase = Phase::Stopped;
        self.message = Some(format!(
            "completed in {} ms (exit code {code})",
            took.as_millis()
        ));
        vec![Action::ReapGroup]
    }

    /// A task's exit with one of its success codes.
    fn task_done(&self, exit: ExitInfo) -> bool {
        matches!((&self.task, exit), (Some(ok), ExitInfo::Code(c)) if ok.contains(&c))
    }

    fn begin_stop(&mut self, force: bool) -> Vec<Action> {
        self.once = false;
        self.epoch += 1; // cancels a pending restart
        self.backoff_until = None;
        self.phase = Phase::Stopping;
        self.forced = force;
        vec![Action::Stop { force }]
    }

    fn failure(&mut self, now: Instant, why: String) -> Vec<Action> {
        if std::mem::take(&mut self.once) {
            // Tried once: the one who asked hears why; nothing retries.
            self.phase = Phase::Stopped;
            self.pid = None;
            self.epoch += 1;
            self.message = Some(format!("did not start: {why}"));
            self.start_failed = Some(why);
            return vec![Action::ReapGroup];
        }
        let n = self.count_failure(now);
        if self
            .ready_at
            .take()
            .is_some_and(|t| now.duration_since(t) >= Self::STABLE)
        {
            self.unstable_failures = 0;
        }
        self.unstable_failures += 1;
        self.pid = None;
        if n >= self.policy.max_failures as usize {
            self.phase = Phase::Failed;
            self.epoch += 1;
            self.message = Some(format!(
                "crash loop: {n} failures within {}s, last: {why}; not restarting (start again to retry)",
                self.policy.window.as_secs()
            ));
            return vec![Action::ReapGroup];
        }
        let delay = self.backoff(self.unstable_failures);
        self.message = Some(format!("{why}; restarting in {} ms", delay.as_millis()));
        self.restarts += 1;
        if delay.is_zero() {
            vec![Action::ReapGroup, self.spawn()]
        } else {
            self.phase = Phase::Backoff;
            self.epoch += 1;
            self.backoff_until = Some(now + delay);
            vec![
                Action::ReapGroup,
                Action::Schedule {
                    at: now + delay,
                    epoch: self.epoch,
                },
            ]
        }
    }

    pub fn handle(&mut self, now: Instant, ev: Event) -> Vec<Action> {
        use Phase::*;
        match ev {
            Event::StartOnce => {
                let gen = self.gen;
                let acts = self.handle(now, Event::Start);
                self.once = self.gen != gen;
                acts
            }
            Event::Start => match self.phase {
                Stopped | Failed | Backoff => {
                    if self.phase == Failed {
                        self.failures.clear();
                        self.unstable_failures = 0;
                    }
                    self.message = None;
                    vec![self.spawn()]
                }
                Stopping => {
                    self.restart_after_stop = true;
                    vec![]
                }
                Starting | Running => vec![],
            },
            Event::Stop | Event::Kill => {
                let force = ev == Event::Kill;
                self.restart_after_stop = false;
                // A task stopped is no longer done: the next start runs it.
                self.completed = None;
                match self.phase {
                    Stopping if !force => vec![],
                    _ => self.begin_stop(force),
                }
            }
            Event::Restart => match self.phase {
                Running | Starting | Stopping => {
                    self.restart_after_stop = true;
                    if self.phase == Stopping {
                        vec![]
                    } else {
                        self.begin_stop(false)
                    }
                }
                Stopped | Failed | Backoff => {
                    self.failures.clear();
                    vec![self.spawn()]
                }
            },
            Event::Spawned { gen, pid } if gen == self.gen && self.phase == Starting => {
                self.pid = Some(pid);
                self.spawned_at = Some(now);
                vec![Action::WatchReady { gen }]
            }
            Event::SpawnFailed { gen, error, fatal }
                if gen == self.gen && self.phase == Starting =>
            {
                if fatal {
                    self.once = false;
                    self.phase = Failed;
                    self.message = Some(error);
                    vec![]
                } else {
                    self.failure(now, error)
                }
            }
            Event::LostRace { gen } if gen == self.gen && self.phase == Starting => {
                self.phase = Stopped;
                self.message = Some("another starter holds the lock; adopting it".into());
                vec![]
            }
            Event::Ready { gen } if gen == self.gen && self.phase == Starting => {
                self.once = false;
                self.ready_at = Some(now);
                self.phase = Running;
                self.message = None;
                vec![Action::Probe { gen }]
            }
            Event::Probe { gen, ok, why } if gen == self.gen && self.phase == Running => {
                self.probe(now, ok, why)
            }
            Event::NotReady { gen, why } if gen == self.gen && self.phase == Starting => {
                let why = if self.once {
                    why
                } else {
                    format!("not ready: {why}")
                };
                self.failure(now, why)
            }
            Event::Exited {
                gen,
                exit,
                user_stop,
                hint,
            } if gen == self.gen => {
                self.last_exit = Some(exit);
                self.last_exit_at = Some(now);
                match self.phase {
                    Starting | Running if user_stop => {
                        self.phase = Stopped;
                        self.pid = None;
                        self.message = Some("stopped by request".into());
                        vec![Action::ReapGroup]
                    }
                    Starting | Running if self.task_done(exit) => self.complete(now, exit),
                    Starting | Running => {
                        let why = match hint {
                            Some(h) => format!("{exit} ({h})"),
                            None => exit.to_string(),
                        };
                        let clean = exit == ExitInfo::Code(0);
                        match self.policy.mode {
                            RestartMode::Always => self.failure(now, why),
                            RestartMode::OnFailure if !clean => self.failure(now, why),
                            // A clean exit under on-failure, or any exit under never.
                            mode => {
                                self.pid = None;
                                self.epoch += 1;
                                self.phase = if clean { Stopped } else { Failed };
                                self.message = Some(format!(
                                    "{why}; not restarted (restart = {})",
                                    if mode == RestartMode::Never {
                                        "never"
                                    } else {
                                        "on-failure"
                                    }
                                ));
                                vec![Action::ReapGroup]
                            }
                        }
                    }
                    _ => vec![],
                }
            }
            Event::StopDone { ok, message } if self.phase == Stopping => {
                self.pid = None;
                self.last_exit_at = Some(now);
                if let Some(m) = self.give_up.take() {
                    self.phase = Failed;
                    self.message = Some(format!("{m} ({message})"));
                    return vec![];
                }
                self.message = Some(message);
                if ok && self.restart_after_stop {
                    self.restart_after_stop = false;
                    // A user's restart forgets the failures; a restart for
                    // health does not (it is one of them).
                    if !self.health_restart {
                        self.failures.clear();
                    }
                    vec![self.spawn()]
                } else {
                    self.phase = Stopped;
                    vec![]
                }
            }
            Event::Timer { epoch } if epoch == self.epoch && self.phase == Backoff => {
                vec![self.spawn()]
            }
            // Never adopt on news older than our last exit: that "running"
            // service may be the very process we just saw die. Adoption
            // keeps the failure count (only a user's start resets it).
            Event::Adopt { seen_at, .. } if self.last_exit_at.is_some_and(|t| seen_at <= t) => {
                vec![]
            }
            Event::Adopt { pid, ready, .. } if matches!(self.phase, Stopped | Failed | Backoff) => {
                self.gen += 1;
                self.epoch += 1;
                self.pid = Some(pid);
                self.backoff_until = None;
                self.fresh_health();
                self.start_failed = None;
                self.message = Some(format!("adopted running service (PID {pid})"));
                let mut acts = vec![Action::Watch { gen: self.gen, pid }];
                if ready {
                    self.phase = Running;
                    acts.push(Action::Probe { gen: self.gen });
                } else {
                    self.phase = Starting;
                    acts.push(Action::WatchReady { gen: self.gen });
                }
                acts
            }
            // Anything else is news about an older process or a cancelled timer.
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            mode: crate::config::RestartMode::Always,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(400),
            max_failures: 4,
            window: Duration::from_secs(10),
        }
    }

    fn running(core: &mut Core, t: Instant) -> u64 {
        core.handle(t, Event::Start);
        let gen = core.gen;
        core.handle(
            t,
            Event::Spawned {
                gen,
                pid: 100 + gen as i32,
            },
        );
        core.handle(t, Event::Ready { gen });
        assert_eq!(core.phase, Phase::Running);
        gen
    }

    fn crash(gen: u64) -> Event {
        Event::Exited {
            gen,
            exit: ExitInfo::Signal(9),
            user_stop: false,
            hint: None,
        }
    }

    #[test]
    fn a_start_tried_once_that_fails_before_ready_stops_with_the_reason() {
        let t = Instant::now();
        let mut c = Core::new(policy());
        assert_eq!(
            c.handle(t, Event::StartOnce),
            vec![Action::Spawn { gen: 1 }]
        );
        c.handle(t, Event::Spawned { gen: 1, pid: 7 });
        let acts = c.handle(
            t,
            Event::Exited {
                gen: 1,
                exit: ExitInfo::Code(3),
                user_stop: false,
                hint: None,
            },
        );
        assert_eq!(acts, vec![Action::ReapGroup], "reaped, not respawned");
        assert_eq!((c.phase, c.restarts, c.pid), (Phase::Stopped, 0, None));
        assert_eq!(c.message.as_deref(), Some("did not start: exit code 3"));
        // Not ready in time: the reason as the check gave it.
        c.handle(t, Event::StartOnce);
        let gen = c.gen;
        c.handle(t, Event::Spawned { gen, pid: 8 });
        let why = "not ready after 2s: refused".to_string();
        assert_eq!(
            c.handle(t, Event::NotReady { gen, why }),
            vec![Action::ReapGroup]
        );
        assert_eq!(
            c.message.as_deref(),
            Some("did not start: not ready after 2s: refused")
        );
        // Once it was ready, a crash is supervised as always.
        c.handle(t, Event::StartOnce);
        let gen = c.gen;
        c.handle(t, Event::Spawned { gen, pid: 9 });
        c.handle(t, Event::Ready { gen });
        assert!(!c.once);
        assert_eq!(
            c.handle(t, crash(gen)),
            vec![Action::ReapGroup, Action::Spawn { gen: gen + 1 }]
        );
        // A start of what already runs changes nothing.
        let gen = c.gen;
        c.handle(t, Event::Spawned { gen, pid: 10 });
        c.handle(t, Event::Ready { gen });
        assert_eq!(c.handle(t, Event::StartOnce), vec![]);
        assert!(!c.once);
    }

    #[test]
    fn first_crash_restarts_at_once_after_reaping_the_group() {
        let t = Instant::now();
        let mut c = Core::new(policy());
        let gen = running(&mut c, t);
        let acts = c.handle(t, crash(gen));
        assert_eq!(
            acts,
            vec![Action::ReapGroup, Action::Spawn { gen: gen + 1 }]
        );
        assert_eq!((c.phase, c.restarts), (Phase::Starting, 1));
        assert_eq!(c.last_exit, Some(ExitInfo::Signal(9)));
    }

    #[test]
    fn crash_loop_backs_off_doubling_capped_then_fails() {
        let t = Instant::now();
        let mut c = Core::new(policy());
        let mut gen = running(&mut c, t);
        let mut delays = vec![];
        for i in 0..3 {
            let now = t + Duration::from_millis(i * 10);
            let acts = c.handle(now, crash(gen));
            match acts.as_slice() {
                [Action::ReapGroup, Action::Spawn { gen: g }] => {
                    delays.push(0);
                    gen = *g;
                }
                [Action::ReapGroup, Action::Schedule { at, epoch }] => {
                    delays.push(at.duration_since(now).as_millis());
                    assert_eq!(c.phase, Phase::Backoff);
                    let acts = c.handle(*at, Event::Timer { epoch: *epoch });
                    let [Action::Spawn { gen: g }] = acts.as_slice() else {
                        panic!("{acts:?}")
                    };
                    gen = *g;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(delays, vec![0, 100, 200]);
        assert_eq!(c.backoff(5), Duration::from_millis(400), "capped");
        assert_eq!(c.handle(t, crash(gen)), vec![Action::ReapGroup]);
        assert_eq!(c.phase, Phase::Failed);
        assert!(c.message.as_deref().unwrap().contains("crash loop"));
        // No more spawns, whatever arrives late.
        assert!(c.handle(t, Event::Timer { epoch: c.epoch }).is_empty());
        // A manual start resets it.
        assert_eq!(
            c.handle(t, Event::Start),
            vec![Action::Spawn { gen: gen + 1 }]
        );
        assert!(c.failures.is_empty());
    }

    #[test]
    fn failures_outside_the_window_are_forgotten() {
        let t = Instant::now();
        let mut c = Core::new(policy());
        let mut gen = running(&mut c, t);
        for i in 0..10u64 {
            let now = t + Duration::from_secs(11 * i);
            let acts = c.handle(now, crash(gen));
            assert_eq!(
                acts.len(),
                2,
                "each crash is the first in its window: immediate restart"
            );
            gen = c.gen;
            c.handle(now, Event::Spawned { gen, pid: 1 });
            c.handle(now, Event::Ready { gen });
        }
        assert_eq!(c.restarts, 10);
    }

    #[test]
    fn a_crash_after_stable_uptime_restarts_at_once_but_still_counts_toward_the_limit() {
        let t = Instant::now();
        let mut c = Core::new(policy());
        let mut gen = running(&mut c, t);
        for i in 1..=3u64 {
            let now = t + Duration::from_secs(2 * i);
            let acts = c.handle(now, crash(gen));
            assert!(
                matches!(acts.as_slice(), [Action::ReapGroup, Action::Spawn { .. }]),
                "crash {i}: {acts:?}"
            );
            gen = c.gen;
            c.handle(now, Event::Spawned { gen, pid: 1 });
            c.handle(now, Event::Ready { gen });
        }
        assert_eq!(
            c.handle(t + Duration::from_secs(8), crash(gen)),
            vec![Action::ReapGroup]
        );
        assert_eq!(
            c.phase,
            Phase::Failed,
            "4 crashes in the window, however fast each restart was"
        );
    }

    #[test]
    fn stop_during_backoff_cancels_the_restart() {
        let t = Instant::now();
        let mut c = Core::new(policy());
        let gen = running(&mut c, t);
        c.handle(t, crash(gen));
        let gen = c.gen;
        let acts = c.handle(t, crash(gen));
        let [_, Action::Schedule { epoch, .. }] = acts.as_slice() else {
            panic!("{acts:?}")
        };
        let epoch = *epoch;
        assert_eq!(
            c.handle(t, Event::Stop),
            vec![Action::Stop { force: false }]
        );
        assert!(
            c.handle(t + Duration::from_secs(1), Event::Timer { epoch })
                .is_empty(),
            "no late spawn"
        );
        c.handle(
            t,
            Event::StopDone {
                ok: true,
                message: "stopped".into(),
            },
        );
        assert_eq!(c.phase, Phase::Stopped);
    }

    #[test]
    fn stop_during_startup_ignores_late_readiness_and_exit() {
        let t = Instant::now();
        let mut c = Core::new(policy());
        c.handle(t, Event::Start);
        let gen = c.gen;
        c.handle(t, Event::Spawned { gen, pid: 5 });
        assert_eq!(
            c.handle(t, Event::Stop),
            vec![Action::Stop { force: false }]
        );
        assert!(c.handle(t, Event::Ready { gen }).is_empty());
        assert!(
            c.handle(t, crash(gen)).is_empty(),
            "a user stop is never restarted"
        );
        c.handle(
            t,
            Event::StopDone {
                ok: true,
                message: "stopped".into(),
            },
        );
        assert_eq!((c.phase, c.restarts), (Phase::Stopped, 0));
    }

    #[test]
    fn exit_after_an_outside_stop_is_not_restarted() {
        let t = Instant::now();
        let mut c = Core::new(policy());
        let gen = running(&mut c, t);
        let acts = c.handle(
            t,
            Event::Exited {
                gen,
                exit: ExitInfo::Code(0),
                user_stop: true,
                hint: None,
            },
        );
        assert_eq!(acts, vec![Action::ReapGroup]);
        assert_eq!((c.phase, c.restarts), (Phase::Stopped, 0));
    }

    #[test]
    fn kill_escalates_a_graceful_stop() {
        let t = Instant::now();
        let mut c = Core::new(policy());
        running(&mut c, t);
        assert_eq!(
            c.handle(t, Event::Stop),
            vec![Action::Stop { force: false }]
        );
        assert!(
            c.handle(t, Event::Stop).is_empty(),
            "a second stop changes nothing"
        );
        assert_eq!(c.handle(t, Event::Kill), vec![Action::Stop { force: true }]);
    }

    #[test]
    fn restart_stops_then_spawns() {
        let t = Instant::now();
        let mut c = Core::new(policy());
        let gen = running(&mut c, t);
        assert_eq!(
            c.handle(t, Event::Restart),
            vec![Action::Stop { force: false }]
        );
        assert_eq!(
            c.handle(
                t,
                Event::StopDone {
                    ok: true,
                    message: String::new()
                }
            ),
            vec![Action::Spawn { gen: gen + 1 }]
        );
    }

    #[test]
    fn readiness_timeout_counts_as_a_failure() {
        let t = Instant::now();
        let mut c = Core::new(policy());
        c.handle(t, Event::Start);
        let gen = c.gen;
        c.handle(t, Event::Spawned { gen, pid: 5 });
        let acts = c.handle(
            t,
            Event::NotReady {
                gen,
                why: "timeout".into(),
            },
        );
        assert_eq!(
            acts,
            vec![Action::ReapGroup, Action::Spawn { gen: gen + 1 }]
        );
        assert_eq!(c.failures.len(), 1);
    }

    #[test]
    fn missing_binary_fails_at_once_and_adoption_replaces_failure() {
        let t = Instant::now();
        let mut c = Core::new(policy());
        c.handle(t, Event::Start);
        let gen = c.gen;
        assert!(c
            .handle(
                t,
                Event::SpawnFailed {
                    gen,
                    error: "no temporal".into(),
                    fatal: true
                }
            )
            .is_empty());
        assert_eq!(c.phase, Phase::Failed);
        let acts = c.handle(
            t,
            Event::Adopt {
                pid: 77,
                ready: true,
                seen_at: t,
            },
        );
        assert_eq!(
            acts,
            vec![
                Action::Watch {
                    gen: gen + 1,
                    pid: 77
                },
                Action::Probe { gen: gen + 1 }
            ]
        );
        assert_eq!((c.phase, c.pid), (Phase::Running, Some(77)));
        assert!(
            c.handle(
                t,
                Event::Adopt {
                    pid: 78,
                    ready: true,
                    seen_at: t,
                }
            )
            .is_empty(),
            "never adopts twice"
        );
    }

    #[test]
    fn a_stale_inspection_never_adopts_the_process_that_just_exited_nor_resets_failures() {
        let t = Instant::now();
        let mut c = Core::new(policy());
        let gen = running(&mut c, t);
        let pid = c.pid.unwrap();
        // An inspection begins while the service still runs...
        let seen_at = t + Duration::from_millis(5);
        // ...it crashes, twice (the second restart waits in backoff)...
        c.handle(t + Duration::from_millis(10), crash(gen));
        let gen = c.gen;
        c.handle(
            t + Duration::from_millis(11),
            Event::Spawned { gen, pid: pid + 1 },
        );
        c.handle(t + Duration::from_millis(12), crash(gen));
        assert_eq!(c.phase, Phase::Backoff);
        let failures = c.failures.len();
        // ...and the inspection, finished late, still says "running".
        let acts = c.handle(
            t + Duration::from_millis(13),
            Event::Adopt {
                pid,
                ready: true,
                seen_at,
            },
        );
        assert!(acts.is_empty(), "{acts:?}");
        assert_eq!(c.phase, Phase::Backoff);
        // Fresh news of a live service is adopted, and the count stays.
        let acts = c.handle(
            t + Duration::from_millis(20),
            Event::Adopt {
                pid: 900,
                ready: true,
                seen_at: t + Duration::from_millis(15),
            },
        );
        assert_eq!(
            acts,
            vec![
                Action::Watch {
                    gen: c.gen,
                    pid: 900
                },
                Action::Probe { gen: c.gen }
            ]
        );
        assert_eq!(
            c.failures.len(),
            failures,
            "adoption never resets the count"
        );
    }

    fn exit(core: &mut Core, t: Instant, code: i32) -> Vec<Action> {
        let gen = core.gen;
        core.handle(
            t,
            Event::Exited {
                gen,
                exit: ExitInfo::Code(code),
                user_stop: false,
                hint: None,
            },
        )
    }

    #[test]
    fn restart_modes_decide_what_an_unrequested_exit_leads_to() {
        let t = Instant::now();
        for (mode, code, phase, respawns) in [
            (RestartMode::Always, 0, Phase::Starting, true),
            (RestartMode::Always, 3, Phase::Starting, true),
            (RestartMode::OnFailure, 3, Phase::Starting, true),
            (RestartMode::OnFailure, 0, Phase::Stopped, false),
            (RestartMode::Never, 3, Phase::Failed, false),
            (RestartMode::Never, 0, Phase::Stopped, false),
        ] {
            let mut core = Core::new(RestartPolicy { mode, ..policy() });
            running(&mut core, t);
            let acts = exit(&mut core, t + Duration::from_secs(5), code);
            assert_eq!(core.phase, phase, "{mode:?} exit {code}");
            assert_eq!(
                acts.iter().any(|a| matches!(a, Action::Spawn { .. })),
                respawns,
                "{mode:?} exit {code}: {acts:?}"
            );
            // The group is always reaped, restarted or not.
            assert!(acts.contains(&Action::ReapGroup), "{acts:?}");
            if !respawns {
                assert!(core
                    .message
                    .as_deref()
                    .unwrap_or_default()
                    .contains("not restarted"));
                // A user's start still starts it.
                let acts = core.handle(t + Duration::from_secs(6), Event::Start);
                assert!(matches!(acts[..], [Action::Spawn { .. }]));
            }
        }
    }
}

#[cfg(test)]
mod liveness_tests {
    use super::*;

    fn running(liveness: Liveness) -> (Core, u64, Instant) {
        let t = Instant::now();
        let mut c = Core::new(RestartPolicy::default()).with_liveness(liveness);
        c.handle(t, Event::Start);
        let gen = c.gen;
        c.handle(t, Event::Spawned { gen, pid: 42 });
        assert_eq!(
            c.handle(t, Event::Ready { gen }),
            vec![Action::Probe { gen }],
            "probing begins once ready"
        );
        (c, gen, t)
    }

    fn probe(gen: u64, ok: bool) -> Event {
        Event::Probe {
            gen,
            ok,
            why: if ok { "GET / → 200" } else { "timed out" }.into(),
        }
    }

    #[test]
    fn failed_checks_below_the_threshold_change_nothing() {
        let (mut c, gen, t) = running(Liveness::default());
        for _ in 0..5 {
            assert!(c.handle(t, probe(gen, false)).is_empty());
            assert!(c.handle(t, probe(gen, false)).is_empty());
            assert!(c.handle(t, probe(gen, true)).is_empty(), "a pass resets");
            assert_eq!((c.phase, c.probe_failures), (Phase::Running, 0));
            assert!(c.unhealthy.is_none());
        }
    }

    #[test]
    fn the_threshold_makes_it_unhealthy_and_restarts_it_gracefully() {
        let (mut c, gen, t) = running(Liveness::default());
        c.handle(t, probe(gen, false));
        c.handle(t, probe(gen, false));
        let acts = c.handle(t, probe(gen, false));
        assert_eq!(acts, vec![Action::Stop { force: false }]);
        assert_eq!(c.phase, Phase::Stopping);
        assert!(c
            .unhealthy
            .as_deref()
            .unwrap()
            .contains("3 liveness checks"));
        assert_eq!(c.restarts, 1);
        // The stop escalates by itself (SIGTERM + SIGCONT, then SIGKILL);
        // when it is done the service starts again, healthy.
        let acts = c.handle(
            t,
            Event::StopDone {
                ok: true,
                message: "stopped".into(),
            },
        );
        assert_eq!(acts, vec![Action::Spawn { gen: gen + 1 }]);
        assert!(c.unhealthy.is_none());
        assert_eq!(c.probe_failures, 0);
        // Checks of the old process are news about the past.
        assert!(c.handle(t, probe(gen, false)).is_empty());
    }

    #[test]
    fn without_restart_it_stays_unhealthy_until_a_check_passes() {
        let (mut c, gen, t) = running(Liveness {
            restart: false,
            failures: 2,
            ..Liveness::default()
        });
        c.handle(t, probe(gen, false));
        assert!(c.handle(t, probe(gen, false)).is_empty());
        assert_eq!(c.phase, Phase::Running);
        assert!(c.unhealthy.is_some());
        assert!(c.message.as_deref().unwrap().contains("not restarted"));
        // More failures do not repeat it; a pass clears it.
        assert!(c.handle(t, probe(gen, false)).is_empty());
        c.handle(t, probe(gen, true));
        assert!(c.unhealthy.is_none());
        assert!(c.message.as_deref().unwrap().starts_with("healthy again"));
    }

    #[test]
    fn unhealthy_restarts_count_toward_the_crash_loop_limit() {
        let (mut c, mut gen, t) = running(Liveness::default());
        let limit = c.policy.max_failures;
        for round in 1..=limit {
            for _ in 0..3 {
                c.handle(t, probe(gen, false));
            }
            assert_eq!(c.phase, Phase::Stopping, "round {round}");
            let acts = c.handle(
                t,
                Event::StopDone {
                    ok: true,
                    message: "stopped".into(),
                },
            );
            if round < limit {
                assert_eq!(acts, vec![Action::Spawn { gen: gen + 1 }]);
                gen = c.gen;
                c.handle(
                    t,
                    Event::Spawned {
                        gen,
                        pid: 50 + round as i32,
                    },
                );
                c.handle(t, Event::Ready { gen });
            } else {
                assert!(acts.is_empty(), "no more spawns: {acts:?}");
            }
        }
        assert_eq!(c.phase, Phase::Failed);
        let m = c.message.clone().unwrap();
        assert!(
            m.starts_with("crash loop:") && m.contains("unhealthy"),
            "{m}"
        );
        // A user's start tries again.
        assert!(matches!(
            c.handle(t, Event::Start)[..],
            [Action::Spawn { .. }]
        ));
    }

    #[test]
    fn checks_count_only_while_running() {
        let t = Instant::now();
        let mut c = Core::new(RestartPolicy::default());
        c.handle(t, Event::Start);
        let gen = c.gen;
        c.handle(t, Event::Spawned { gen, pid: 42 });
        for _ in 0..5 {
            assert!(c.handle(t, probe(gen, false)).is_empty());
        }
        assert_eq!((c.phase, c.probe_failures), (Phase::Starting, 0));
    }
}
