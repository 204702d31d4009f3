//! RELIABILITY.md's stopping and crashing scenarios, acted out by the fixture.

mod support;

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::*;

fn sig(pid: i32, s: Signal) {
    kill(Pid::from_raw(pid), s).expect("signal own test process");
}

#[test]
fn graceful_stop_ends_the_group_and_is_not_restarted() {
    let mut env = Env::fixture("f-graceful", &["--children", "2"], "");
    let sup = env.spawn_foreground();
    assert!(wait_until(Duration::from_secs(10), || env.status()
        ["state"]
        == "running"));
    let pid = env.recorded_pid().unwrap();
    assert_eq!(
        env.status()["members"].as_array().unwrap().len(),
        3,
        "leader + 2 children"
    );
    let out = env.ok(&["local", "stop"]);
    assert!(out.contains("stopped") && !out.contains("SIGKILL"), "{out}");
    assert!(group_gone(pid));
    // The foreground supervisor saw a user stop: no respawn.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(env.recorded_pid(), None, "restarted after a user stop");
    assert_eq!(env.status()["state"], "stopped");
    sig(sup as i32, Signal::SIGTERM);
    assert!(env.wait_foreground(sup, Duration::from_secs(10)).is_some());
}

#[test]
fn stop_kills_group_that_ignores_sigterm_after_the_grace() {
    let env = Env::fixture("f-ignore-term", &["--ignore-term", "--children", "2"], "");
    env.ok(&["local", "start"]);
    let pid = env.recorded_pid().unwrap();
    let t0 = Instant::now();
    let out = env.ok(&["local", "stop", "--grace", "1"]);
    let took = t0.elapsed();
    assert!(out.contains("SIGKILL"), "reported as forced: {out}");
    assert!(
        took >= Duration::from_millis(1000),
        "waited the grace: {took:?}"
    );
    assert!(group_gone(pid));
    assert_eq!(env.status()["state"], "stopped");
}

#[test]
fn a_stopped_sigstop_service_still_stops() {
    let env = Env::fixture("f-sigstop", &[], "");
    env.ok(&["local", "start"]);
    let pid = env.recorded_pid().unwrap();
    sig(pid, Signal::SIGSTOP);
    assert!(wait_until(Duration::from_secs(2), || stat_field(pid, 3)
        .as_deref()
        == Some("T")));
    let out = env.ok(&["local", "stop", "--grace", "5"]);
    assert!(
        out.contains("stopped") && !out.contains("SIGKILL"),
        "SIGCONT let it act on SIGTERM: {out}"
    );
    assert!(group_gone(pid));
}

#[test]
fn escaped_descendant_is_found_by_tag_shown_and_killed_by_stop() {
    let env = Env::fixture("f-escape", &["--escape"], "");
    env.ok(&["local", "start"]);
    let pid = env.recorded_pid().unwrap();
    assert!(wait_until(Duration::from_secs(5), || !env.status()
        ["escaped"]
        .as_array()
        .unwrap()
        .is_empty()));
    let st = env.status();
    let esc = &st["escaped"][0];
    let esc_pid = esc["pid"].as_i64().unwrap() as i32;
    assert_ne!(
        esc["pgid"].as_i64().unwrap() as i32,
        pid,
        "in another group"
    );
    assert!(alive(esc_pid));
    env.ok(&["local", "stop"]);
    assert!(!alive(esc_pid), "escapee killed by stop");
    assert!(env.tagged().is_empty());
}

#[test]
fn leader_exit_leaves_children_which_are_killed_before_the_restart() {
    let mut env = Env::fixture(
        "f-orphans",
        &["--children", "2", "--ignore-term", "--exit-after-ms", "700"],
        "[restart]\nmax_failures = 10\ninitial_ms = 2000\n",
    );
    env.spawn_foreground();
    assert!(wait_until(Duration::from_secs(10), || env.status()
        ["members"]
        .as_array()
        .is_some_and(|m| m.len() == 3)));
    let first = env.recorded_pid().unwrap();
    let children: Vec<i32> = env.status()["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["pid"].as_i64().unwrap() as i32)
        .filter(|p| *p != first)
        .collect();
    env.wait_new_pid(first, Duration::from_secs(10), "no restart");
    for c in children {
        assert!(
            !alive(c),
            "child {c} of the dead leader survived the restart"
        );
    }
    // They were SIGKILLed before the respawn; their new parent reaps them.
    assert!(group_gone(first));
}

#[test]
fn kill_9_is_noticed_at_once_and_respawned_with_the_signal_shown() {
    let mut env = Env::fixture("f-kill9", &[], "");
    env.spawn_foreground();
    assert!(wait_until(Duration::from_secs(10), || env.status()
        ["state"]
        == "running"));
    let pid = env.recorded_pid().unwrap();
    sig(pid, Signal::SIGKILL);
    let t0 = Instant::now();
    env.wait_new_pid(pid, Duration::from_secs(5), "respawn");
    eprintln!("crash → new PID file in {:?}", t0.elapsed());
    assert!(wait_until(Duration::from_secs(10), || env.status()
        ["state"]
        == "running"));
    let st = env.status();
    assert_eq!(st["supervisor"]["restarts"], 1);
    assert!(
        st["supervisor"]["last_exit"]
            .as_str()
            .unwrap()
            .contains("SIGKILL"),
        "{st:#}"
    );
}

#[test]
fn crash_loop_backs_off_then_fails_and_spawns_no_more() {
    let mut env = Env::fixture(
        "f-crashloop",
        &["--exit-after-ms", "50", "--exit-code", "3"],
        "[restart]\ninitial_ms = 50\nmax_ms = 200\nmax_failures = 4\nwindow_secs = 60\n",
    );
    let sup = env.spawn_foreground();
    let status = env
        .wait_foreground(sup, Duration::from_secs(20))
        .expect("supervisor gives up");
    assert!(!status.success(), "failed is an error");
    let st = env.status();
    assert!(env.tagged().is_empty(), "nothing left running: {st:#}");
    let log = env.log();
    assert_eq!(
        log.matches(" up: ").count(),
        4,
        "exactly max_failures spawns:\n{log}"
    );
    assert!(log.contains("exiting"));
}

#[test]
fn never_ready_times_out_stops_the_group_and_never_says_started() {
    let env = Env::fixture(
        "f-never-ready",
        &["--never-ready", "--children", "1"],
        "ready_timeout_secs = 1.0\n",
    );
    let out = env.run(&["local", "start"], Duration::from_secs(30));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not ready") && stderr.contains("log"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("started"));
    assert!(env.tagged().is_empty(), "group stopped");
    assert!(!port_open(env.port));
}

#[test]
fn supervisor_killed_leaves_service_running_and_the_next_start_adopts_it() {
    // About the foreground supervisor: `start` must leave none of its own.
    let mut env = Env::fixture("f-adopt", &[], "").unsupervised();
    let sup = env.spawn_foreground();
    assert!(wait_until(Duration::from_secs(10), || env.status()
        ["state"]
        == "running"));
    let pid = env.recorded_pid().unwrap();
    sig(sup as i32, Signal::SIGKILL);
    env.wait_foreground(sup, Duration::from_secs(5))
        .expect("reaped");
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(pid), "service survives its supervisor");
    assert_eq!(env.status()["lock"]["held"], true);
    let out = env.ok(&["local", "start"]);
    assert!(out.contains(&format!("PID {pid}); reused")), "{out}");
    // A new supervisor adopts it too, and notices its death through a pidfd.
    let sup2 = env.spawn_foreground();
    assert!(wait_until(Duration::from_secs(10), || env.status()
        ["supervisor"]["phase"]
        == "running"));
    assert_eq!(env.recorded_pid(), Some(pid), "adopted, not restarted");
    sig(pid, Signal::SIGKILL);
    env.wait_new_pid(pid, Duration::from_secs(10), "adopted crash not restarted");
    sig(sup2 as i32, Signal::SIGINT);
    assert!(env
        .wait_foreground(sup2, Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    assert!(env.tagged().is_empty());
}

#[test]
fn stop_during_backoff_cancels_the_pending_restart() {
    let mut env = Env::fixture(
        "f-backoff-stop",
        &["--exit-after-ms", "300"],
        "[restart]\ninitial_ms = 3000\nmax_failures = 5\n",
    );
    env.spawn_foreground();
    // First crash restarts at once; the second waits 3 s in backoff.
    assert!(wait_until(Duration::from_secs(10), || env.status()
        ["supervisor"]["phase"]
        == "backoff"));
    env.ok(&["local", "stop"]);
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(env.recorded_pid(), None, "late spawn after stop");
    assert!(env.tagged().is_empty());
}

#[test]
fn flood_of_output_never_blocks_the_service_or_the_supervisor() {
    let env = Env::fixture("f-flood", &["--flood"], "");
    env.ok(&["local", "start"]);
    let pid = env.recorded_pid().unwrap();
    let log = env.home.join("logs/temporal.log");
    let size = || std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let s0 = size();
    std::thread::sleep(Duration::from_millis(300));
    assert!(size() > s0, "still writing: never blocked on its output");
    let t0 = Instant::now();
    assert_eq!(env.status()["state"], "running");
    eprintln!("status under flood: {:?}", t0.elapsed());
    let tail = env.ok(&["local", "logs", "-n", "3"]);
    assert_eq!(tail.lines().count(), 3, "{tail}");
    assert!(tail.contains("flood line"));
    env.ok(&["local", "stop"]);
    assert!(group_gone(pid));
}

#[test]
fn reaping_a_dead_instance_never_touches_another_live_one() {
    use stigmer::config::{Overrides, Settings};
    let env = Env::fixture("f-reap-other", &[], "");
    env.ok(&["local", "start"]);
    let pid = env.recorded_pid().unwrap();
    let settings = Settings::resolve(Overrides {
        home: Some(env.home.clone()),
        port: Some(env.port),
        ..Default::default()
    })
    .unwrap();
    let ctx = stigmer::lifecycle::Ctx::new(settings);
    // No record of our own: nothing to reap.
    assert!(stigmer::lifecycle::reap(&ctx, None).is_empty());
    // A record of some other, dead instance (its group still "exists" as ours
    // only through the live service's group id here): the live one survives.
    let mut other = match stigmer::state::pidfile::read(&env.home.join("temporal.pid")) {
        stigmer::state::pidfile::PidFile::Valid(r) => *r,
        other => panic!("{other:?}"),
    };
    let dead = {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id() as i32;
        c.wait().unwrap();
        pid
    };
    other.pid = dead;
    other.start_ticks = 1;
    other.tag = format!("{}dead-instance", ctx.spec.tag_prefix);
    // Its group id still exists (it is this test's own group), untagged.
    other.pgid = nix::unistd::getpgrp().as_raw();
    assert!(stigmer::lifecycle::reap(&ctx, Some(&other)).is_empty());
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        alive(pid),
        "the live service was killed by another instance's reap"
    );
}
