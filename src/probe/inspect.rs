//! What is true right now: lock, PID file, identity, processes, ports and
//! health, gathered in one pass. `status --json` prints it; the dashboard
//! renders it; `start`, `stop` and `clean` decide from it.

use std::time::{Duration, Instant};

use crate::config::service::Ctx;
use crate::config::service::Readiness;
use crate::process::scan::{ProcEntry, Scan};
use crate::process::Verdict;
use crate::state::pidfile::{PidFile, PidRecord};
use crate::util::blocking::blocking;
use crate::view::ServiceView;

pub use super::assemble::LockCheck;
use super::assemble::{
    gather, health_layers, holders_of, pid_file_status, ports_of, said_by, Gathered,
};
pub use super::status::*;

pub use crate::util::clock::{now_ms, rfc3339_ms};

/// Split tagged processes outside the live group into escaped (their own
/// group leader is alive: they left with setsid) and orphans (their group's
/// leader is gone).
pub fn classify(
    scan: &Scan,
    live_pgid: Option<i32>,
) -> (Vec<ProcEntry>, Vec<ProcEntry>, Vec<ProcEntry>) {
    let mut members = Vec::new();
    let mut escaped = Vec::new();
    let mut orphans = Vec::new();
    for p in &scan.procs {
        if Some(p.pgid) == live_pgid {
            members.push(p.clone());
        } else if p.tag.is_some() && !matches!(p.state, 'Z' | 'X') {
            let leader_alive = scan
                .procs
                .iter()
                .any(|l| l.pid == p.pgid && l.tag.is_some() && !matches!(l.state, 'Z' | 'X'));
            if leader_alive {
                escaped.push(p.clone());
            } else {
                orphans.push(p.clone());
            }
        }
    }
    (members, escaped, orphans)
}

/// The facts a service's state is decided from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    /// Its lock is held (by anyone).
    pub held: bool,
    /// The recorded leader is alive and proven ours.
    pub leader_alive: bool,
    /// Its readiness check passes now.
    pub ready: bool,
    /// It was ready once (recorded in the PID file).
    pub ever_ready: bool,
    /// Its start began less than its ready timeout ago.
    pub within_ready_timeout: bool,
    /// The supervisor gave up on it (crash loop).
    pub supervisor_failed: bool,
    /// The supervisor's liveness view of the leader (see
    /// `SupervisorInfo::health_of`): it outweighs a single check of ours.
    pub supervisor_health: Option<bool>,
    /// Anything left behind: a PID file, an unusable state file, escaped or
    /// orphaned processes.
    pub leftovers: bool,
}

/// The state, from the facts alone.
pub(crate) fn decide(f: Facts) -> State {
    let vouched = f.ever_ready && f.supervisor_health == Some(true);
    if f.held && f.leader_alive && f.supervisor_health == Some(false) {
        State::Unhealthy
    } else if f.held && f.leader_alive && (f.ready || vouched) {
        State::Running
    } else if f.held && f.leader_alive && !f.ever_ready && f.within_ready_timeout {
        // Never ready yet, and still within its time to get there.
        State::Starting
    } else if f.held {
        State::Unhealthy
    } else if f.supervisor_failed {
        State::Failed
    } else if f.leftovers || f.leader_alive {
        State::Stale
    } else {
        State::Stopped
    }
}

/// What to do about a state, in words.
fn advice(
    state: State,
    f: Facts,
    problems: &[String],
    pid: Option<i32>,
    leader_stopped: bool,
    holders: &[Holder],
    supervisor_says: Option<String>,
) -> Option<String> {
    match state {
        _ if !problems.is_empty() => Some(problems.join("; ")),
        State::Unhealthy if supervisor_says.is_some() => Some(format!(
            "PID {} is unhealthy: {}{}",
            pid.unwrap_or_default(),
            supervisor_says.unwrap_or_default(),
            if leader_stopped { " (it is stopped: SIGSTOP?)" } else { "" }
        )),
        State::Unhealthy if f.leader_alive && f.ever_ready => Some(format!(
            "PID {} was ready but does not answer its readiness check now{}; `stigmer local restart` restarts it",
            pid.unwrap_or_default(),
            if leader_stopped { " (it is stopped: SIGSTOP?)" } else { " (hung or overloaded?)" }
        )),
        State::Unhealthy => Some(format!(
            "the lock is held by {} but the service is not healthy; run `stigmer local stop` (or `clean`) to clear it",
            if holders.is_empty() {
                "an unknown process".to_string()
            } else {
                holders.iter().map(|h| format!("PID {} ({})", h.pid, h.cmd)).collect::<Vec<_>>().join(", ")
            }
        )),
        State::Stale => Some("stale state left behind; `stigmer local clean` removes it (start does too)".into()),
        State::Failed => Some("crash loop: the supervisor gave up; see the log, then start again".into()),
        _ => None,
    }
}

/// Everything at once: the network probes, the facts from files and `/proc`
/// (off the runtime's threads), then the pure decision. `view` is the
/// supervisor's, when one supervises: its word on the process it watches
/// weighs more than one check of ours.
pub async fn inspect(ctx: &Ctx, view: Option<&ServiceView>) -> Status {
    inspect_with(ctx, LockCheck::Observe, view).await
}

/// [`inspect`], asking about the lock the given way.
pub async fn inspect_with(ctx: &Ctx, how: LockCheck, view: Option<&ServiceView>) -> Status {
    let view = view.filter(|v| v.supervisor.is_some());
    let t0 = Instant::now();
    let spec = &ctx.spec;

    let g = blocking(|| gather(ctx, how));
    let rec = g.pf.record().cloned();
    let leader_alive = matches!(g.verdict, Some(Verdict::Match(_)));

    let t = Instant::now();
    let supervisor_health = rec
        .as_ref()
        .filter(|_| leader_alive)
        .and_then(|r| view?.health_of(r.pid));
    let ever_ready = rec.as_ref().is_some_and(|r| r.ready_at_ms.is_some());
    let live = rec.as_ref().filter(|_| leader_alive);
    let r = check(spec, live, ever_ready, supervisor_health, view).await;
    let ready_time = t.elapsed();

    let mut st = assemble(spec, g, view, supervisor_health, (r, ready_time));
    st.inspect_ms = ms(t0.elapsed());
    st
}

/// An inspection's status from what was gathered and how the check went:
/// pure (no I/O), the decision in `decide`, the advice in `advice`.
fn assemble(
    spec: &crate::config::service::ServiceSpec,
    g: Gathered,
    view: Option<&ServiceView>,
    supervisor_health: Option<bool>,
    (r, ready_time): (Result<String, super::CheckFailed>, Duration),
) -> Status {
    let rec = g.pf.record().cloned();
    let leader_alive = matches!(g.verdict, Some(Verdict::Match(_)));
    let held = matches!(g.held, Ok(true));
    let ever_ready = rec.as_ref().is_some_and(|r| r.ready_at_ms.is_some());
    let live = rec.as_ref().filter(|_| leader_alive);
    let ready = r.is_ok() && leader_alive;
    let live_pgid = live.map(|r| r.pgid);
    let (members, escaped, orphans) = classify(&g.scan, live_pgid);
    let holders = holders_of(&g);
    let port_status = ports_of(spec, &g, live_pgid);
    let (Ok(detail) | Err(super::CheckFailed(detail))) = r;
    let check = HealthLayer {
        layer: spec.readiness.layer(),
        ok: ready,
        latency_ms: ms(ready_time),
        detail,
    };
    let health = health_layers(&g, rec.as_ref(), &port_status, check);
    let started_ms = rec.as_ref().map(|r| r.started_at_ms);
    let age = started_ms.map(|s| Duration::from_millis(now_ms().saturating_sub(s)));
    let leftovers = !matches!(g.pf, PidFile::Missing)
        || !g.problems.is_empty()
        || !escaped.is_empty()
        || !orphans.is_empty();
    let facts = Facts {
        held,
        leader_alive,
        ready,
        ever_ready,
        within_ready_timeout: age.is_some_and(|a| a < spec.ready_timeout),
        supervisor_failed: view.is_some_and(|s| s.failed()),
        supervisor_health,
        leftovers,
    };
    let state = decide(facts);
    let leader_stopped = matches!(&g.verdict, Some(Verdict::Match(st)) if st.state == 'T');
    let pid = live.map(|r| r.pid);
    let said = said_by(view).filter(|_| supervisor_health == Some(false));
    let advice = advice(
        state,
        facts,
        &g.problems,
        pid,
        leader_stopped,
        &holders,
        said,
    );
    Status {
        state,
        pid,
        pgid: live_pgid,
        started_at: started_ms.filter(|_| leader_alive).map(rfc3339_ms),
        uptime_secs: age.filter(|_| leader_alive).map(|a| a.as_secs()),
        lock: LockStatus {
            path: spec.paths.lock.display().to_string(),
            held,
            holders,
        },
        pid_file: pid_file_status(spec, &g, rec),
        ports: port_status,
        health,
        members,
        escaped,
        orphans,
        processes_scanned: g.scan.total,
        problems: g.problems,
        stale_temp_files: g.stale_temp_files,
        advice,
        inspect_ms: 0.0,
    }
}

/// The readiness (or liveness) check, as fits the moment: `live` is the
/// recorded process when it is alive and ours.
async fn check(
    spec: &crate::config::service::ServiceSpec,
    live: Option<&PidRecord>,
    ever_ready: bool,
    supervisor_health: Option<bool>,
    view: Option<&ServiceView>,
) -> Result<String, super::CheckFailed> {
    match live {
        // One failed check never flips a ready service: with no supervisor
        // checking it over time, check up to three times (the default
        // liveness threshold) before calling it unhealthy.
        Some(r) if ever_ready && supervisor_health.is_none() => {
            let mut r1 = crate::probe::ready::live(spec, r).await;
            for _ in 1..3 {
                if r1.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
                r1 = crate::probe::ready::live(spec, r).await;
            }
            r1
        }
        // The supervisor checks this very process every few seconds: its
        // word stands, and the service is not asked twice (an HTTP check
        // is a line in the service's own log).
        Some(_) if ever_ready => match (supervisor_health, view) {
            (Some(true), Some(s)) => Ok(format!(
                "{} (checked every {} s by the supervisor, PID {})",
                crate::probe::ready::passing(spec),
                spec.liveness.every.as_secs_f64(),
                s.supervisor.unwrap_or_default()
            )),
            (_, Some(s)) => super::fail(s.unhealthy.clone().unwrap_or_else(|| "unhealthy".into())),
            _ => super::fail("unhealthy".into()),
        },
        // Still starting: the check ends by the start's own readiness
        // deadline (a hung `exec` check must not outlive the start), and
        // within a second in any case.
        Some(r) => {
            let left_ms = (r.started_at_ms + spec.ready_timeout.as_millis() as u64)
                .saturating_sub(now_ms())
                .min(1000);
            let deadline = Instant::now() + Duration::from_millis(left_ms);
            crate::probe::ready::probe_until(spec, r, deadline).await
        }
        // Nothing of ours runs: a network check still says who answers.
        None if matches!(spec.readiness, Readiness::Http { .. } | Readiness::Tcp(_)) => {
            crate::probe::ready::probe(spec, &PidRecord::placeholder()).await
        }
        None => super::fail("not running".into()),
    }
}

pub use crate::platform::{ticks_per_sec, uptime_secs};

#[cfg(test)]
mod tests {
    use super::*;

    /// A service that is up: its lock held, its leader ours and ready.
    fn up() -> Facts {
        Facts {
            held: true,
            leader_alive: true,
            ready: true,
            ever_ready: true,
            within_ready_timeout: false,
            supervisor_failed: false,
            supervisor_health: None,
            leftovers: true,
        }
    }

    #[test]
    fn running_needs_the_lock_the_leader_and_readiness() {
        assert_eq!(decide(up()), State::Running);
        for f in [
            Facts {
                held: false,
                ..up()
            },
            Facts {
                leader_alive: false,
                ..up()
            },
            Facts {
                ready: false,
                ..up()
            },
        ] {
            assert_ne!(decide(f), State::Running, "{f:?}");
        }
    }

    #[test]
    fn starting_only_before_the_first_ready_and_within_the_timeout() {
        let fresh = Facts {
            ready: false,
            ever_ready: false,
            within_ready_timeout: true,
            ..up()
        };
        assert_eq!(decide(fresh), State::Starting);
        // Too late: it should have answered by now.
        let late = Facts {
            within_ready_timeout: false,
            ..fresh
        };
        assert_eq!(decide(late), State::Unhealthy);
        // It answered once and stopped answering: never "starting" again.
        let hung = Facts {
            ever_ready: true,
            ..fresh
        };
        assert_eq!(decide(hung), State::Unhealthy);
    }

    #[test]
    fn the_supervisors_liveness_view_outweighs_one_check() {
        // One failed check of ours, but the supervisor's checks pass: running.
        let busy = Facts {
            ready: false,
            supervisor_health: Some(true),
            ..up()
        };
        assert_eq!(decide(busy), State::Running);
        // Its checks failed `failures` times in a row: unhealthy, even if
        // ours passes right now.
        let hung = Facts {
            supervisor_health: Some(false),
            ..up()
        };
        assert_eq!(decide(hung), State::Unhealthy);
        // Its word never makes a never-ready or dead leader running.
        let never = Facts {
            ready: false,
            ever_ready: false,
            supervisor_health: Some(true),
            ..up()
        };
        assert_ne!(decide(never), State::Running);
        let dead = Facts {
            leader_alive: false,
            supervisor_health: Some(true),
            ..up()
        };
        assert_ne!(decide(dead), State::Running);
    }

    #[test]
    fn a_held_lock_without_our_leader_is_unhealthy_not_stale() {
        let f = Facts {
            leader_alive: false,
            ready: false,
            ..up()
        };
        assert_eq!(decide(f), State::Unhealthy);
        let f = Facts {
            supervisor_failed: true,
            ..f
        };
        assert_eq!(decide(f), State::Unhealthy, "the lock's holder wins");
    }

    #[test]
    fn without_the_lock_failed_then_stale_then_stopped() {
        let down = Facts::default();
        assert_eq!(decide(down), State::Stopped);
        assert_eq!(
            decide(Facts {
                leftovers: true,
                ..down
            }),
            State::Stale
        );
        // Our leader alive without its lock is not a service: stale.
        assert_eq!(
            decide(Facts {
                leader_alive: true,
                ..down
            }),
            State::Stale
        );
        let gave_up = Facts {
            supervisor_failed: true,
            leftovers: true,
            ..down
        };
        assert_eq!(decide(gave_up), State::Failed);
    }

    #[test]
    fn advice_names_problems_first_and_a_stopped_process() {
        let problems = vec!["logs/temporal.log is a symlink".to_string()];
        let a = advice(State::Running, up(), &problems, Some(7), false, &[], None);
        assert_eq!(a.as_deref(), Some("logs/temporal.log is a symlink"));
        let hung = Facts {
            ready: false,
            ..up()
        };
        let a = advice(State::Unhealthy, hung, &[], Some(7), true, &[], None).unwrap();
        assert!(a.contains("PID 7") && a.contains("SIGSTOP"), "{a}");
        let holder = Holder {
            pid: 9,
            cmd: "sleep 100".into(),
            age_secs: None,
        };
        let foreign = Facts {
            leader_alive: false,
            ready: false,
            ..up()
        };
        let a = advice(State::Unhealthy, foreign, &[], None, false, &[holder], None).unwrap();
        assert!(a.contains("PID 9 (sleep 100)"), "{a}");
        assert_eq!(
            advice(
                State::Stopped,
                Facts::default(),
                &[],
                None,
                false,
                &[],
                None
            ),
            None
        );
    }

    #[test]
    fn identity_prints_and_serialises_as_before() {
        let id = IdentityState::Mismatch("PID 4 was reused".into());
        assert_eq!(id.to_string(), "mismatch: PID 4 was reused");
        assert_eq!(
            serde_json::to_string(&IdentityState::Match).unwrap(),
            "\"match\""
        );
        assert_eq!(
            serde_json::to_string(&PidFileState::Corrupt).unwrap(),
            "\"corrupt\""
        );
    }
}
