//! The detached supervisor: `local start` leaves one behind that restarts
//! what crashes, knows exit statuses, keeps the event history and answers
//! on its control socket — and survives what clients throw at it.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::*;

/// The one detached supervisor of this test's home.
fn the_supervisor(env: &Env) -> i32 {
    let mut found = vec![];
    assert!(
        wait_until(Duration::from_secs(10), || {
            found = env.supervisors();
            found.len() == 1
        }),
        "one supervisor expected, found {found:?}"
    );
    found[0]
}

fn events(env: &Env) -> Vec<serde_json::Value> {
    env.ok(&["local", "events", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect()
}

/// Every process (zombies included) whose group is `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| stat_field(*pid, 5).and_then(|g| g.parse::<i32>().ok()) == Some(pgid))
        .collect()
}

fn request(env: &Env, line: &[u8]) -> String {
    let mut s = UnixStream::connect(env.home.join("stigmer.sock")).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(line);
    // End of our input: the server answers what it got, then closes.
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn hello(env: &Env) -> serde_json::Value {
    let mut s = UnixStream::connect(env.home.join("stigmer.sock")).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"{\"op\":\"hello\"}\n").unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).expect("hello reply");
    serde_json::from_slice(&buf[..n]).expect("JSON reply")
}

#[test]
fn kill_9_of_temporal_with_no_dashboard_is_restarted_and_the_event_says_signal_9() {
    let env = Env::temporal("sup-kill9");
    let out = env.ok(&["local", "start"]);
    assert!(out.contains("Temporal started (PID"), "{out}");
    let sup = the_supervisor(&env);
    let st = env.status();
    assert_eq!(st["state"], "running");
    let old = st["pid"].as_i64().unwrap() as i32;
    let full: serde_json::Value =
        serde_json::from_str(&env.ok(&["local", "status", "--json"])).unwrap();
    assert_eq!(full["supervisor"]["pid"], sup, "{full}");

    kill(Pid::from_raw(old), Signal::SIGKILL).expect("our own Temporal");
    let new = env.wait_new_pid(old, Duration::from_secs(20), "a restart by the supervisor");
    assert_ne!(new, old);
    let waited = env.ok(&["local", "wait", "--timeout", "30"]);
    assert!(
        waited.contains(&format!("temporal ready (PID {new})")),
        "{waited}"
    );
    let evs = events(&env);
    assert!(
        evs.iter().any(|e| e["kind"] == "exited"
            && e["service"] == "temporal"
            && e["pid"] == old
            && e["signal"] == 9),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .any(|e| e["kind"] == "spawned" && e["pid"] == new),
        "{evs:?}"
    );

    // Stop: the supervisor is the parent, so not even a zombie is left of
    // the group, and the supervisor leaves with the stack.
    env.ok(&["local", "stop"]);
    assert!(group_members(new).is_empty(), "{:?}", group_members(new));
    assert!(wait_until(Duration::from_secs(5), || env
        .supervisors()
        .is_empty()));
    assert!(!env.home.join("stigmer.sock").exists());
    // Its history said who stopped it (written to its log too).
    let log = std::fs::read_to_string(env.home.join("logs/stigmer.log")).unwrap();
    assert!(log.contains("temporal: requested: stop by PID"), "{log}");
}

#[test]
fn kill_9_of_the_supervisor_leaves_services_running_and_the_next_start_adopts_them() {
    let env = Env::fixture("sup-adopt", &[], "");
    env.ok(&["local", "start"]);
    let sup = the_supervisor(&env);
    let pid = env.recorded_pid().unwrap();
    kill(Pid::from_raw(sup), Signal::SIGKILL).expect("our own supervisor");
    assert!(wait_until(Duration::from_secs(5), || !alive(sup)
        || stat_field(sup, 3).as_deref() == Some("Z")));
    assert!(alive(pid), "the service outlives its supervisor");
    assert!(
        env.home.join("stigmer.sock").exists(),
        "a stale socket is left"
    );
    assert_eq!(env.status()["state"], "running");

    let out = env.ok(&["local", "start"]);
    assert!(
        out.contains(&format!("(PID {pid})")),
        "same PID reused: {out}"
    );
    let sup2 = the_supervisor(&env);
    assert_ne!(sup2, sup);
    assert_eq!(
        hello(&env)["supervisor"]["pid"],
        sup2,
        "the stale socket was replaced"
    );
    // The new supervisor supervises the adopted service: a crash is restarted.
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("our own service");
    env.wait_new_pid(pid, Duration::from_secs(10), "restart after adoption");
    env.ok(&["local", "stop"]);
    assert_eq!(env.status()["state"], "stopped");
}

#[test]
fn the_socket_is_private_and_survives_hostile_clients_while_supervising() {
    let env = Env::fixture("sup-socket", &[], "");
    env.ok(&["local", "start"]);
    let sup = the_supervisor(&env);
    let sock = env.home.join("stigmer.sock");
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Random bytes, a bad op, half a message then a close: an error, a close.
    let r = request(&env, &[0xff, 0x00, 0x13, b'\n']);
    assert!(r.contains("\"ok\":false"), "{r}");
    let r = request(&env, b"{\"op\":\"format-disk\"}\n");
    assert!(r.contains("bad request"), "{r}");
    let r = request(&env, b"{\"op\":\"hel");
    assert!(r.contains("at most 65536 bytes"), "half a message: {r}");
    // A 10 MB line: refused at 64 KiB, the connection closed.
    {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let big = vec![b'x'; 10 * 1024 * 1024];
        let _ = s.write_all(&big);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(out.contains("at most 65536 bytes"), "{out}");
    }
    // A flood of requests on one connection: the rate limit closes it.
    {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&b"{\"op\":\"hello\"}\n".repeat(200));
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(
            out.contains("too many requests"),
            "{}",
            &out[out.len().saturating_sub(200)..]
        );
    }
    // 200 connections at once, and subscribers that never read.
    let held: Vec<UnixStream> = (0..200)
        .filter_map(|_| UnixStream::connect(&sock).ok())
        .collect();
    let mut deaf = vec![];
    for _ in 0..3 {
        let mut s = UnixStream::connect(&sock).unwrap();
        let _ = s.write_all(b"{\"op\":\"subscribe\"}\n");
        deaf.push(s);
    }
    // Still up, still answering, still supervising.
    assert!(alive(sup));
    drop(held);
    assert!(wait_until(Duration::from_secs(5), || {
        UnixStream::connect(&sock).is_ok() && hello(&env)["ok"] == true
    }));
    let pid = env.recorded_pid().unwrap();
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("our own service");
    env.wait_new_pid(
        pid,
        Duration::from_secs(10),
        "a restart while clients misbehave",
    );
    assert!(events(&env)
        .iter()
        .any(|e| e["kind"] == "exited" && e["signal"] == 9));
    drop(deaf);
    env.ok(&["local", "stop"]);
    assert!(wait_until(Duration::from_secs(5), || env
        .supervisors()
        .is_empty()));
}

#[test]
fn wait_says_why_at_the_timeout_and_events_needs_a_supervisor() {
    let env = Env::fixture("sup-wait", &[], "");
    let out = env.run(
        &["local", "wait", "--timeout", "0.3"],
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("temporal is stopped after 0.3 s"), "{err}");
    let out = env.run(&["local", "events"], Duration::from_secs(10));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no supervisor runs"));
    let out = env.run(
        &["local", "wait", "--timeout", "inf"],
        Duration::from_secs(10),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("between 0 and 86400"));
}

#[test]
fn sigstop_of_temporal_makes_it_unhealthy_after_the_threshold_then_it_is_restarted() {
    let env = Env::new("sup-sigstop");
    // Checks every 0.5 s, 3 in a row: unhealthy 1-2 s after it hangs. A
    // short grace, and a wide bound: a loaded machine slows its shutdown.
    env.write_config(&format!(
        "temporal_bin = {:?}\nliveness = {{ every_secs = 0.5, failures = 3 }}\ngrace_secs = 5.0\n",
        temporal_bin().display().to_string()
    ));
    env.ok(&["local", "start"]);
    the_supervisor(&env);
    let old = env.recorded_pid().unwrap();
    let stopped_at = std::time::Instant::now();
    kill(Pid::from_raw(old), Signal::SIGSTOP).expect("our own Temporal");

    // Watch `status` the whole time: running (one failed check flips
    // nothing), then unhealthy, saying why, then a new PID.
    let mut seen: Vec<(String, Option<i64>, u128)> = vec![];
    let mut advice = String::new();
    let restarted = wait_until(Duration::from_secs(60), || {
        let st = env.status();
        let state = st["state"].as_str().unwrap_or_default().to_string();
        let pid = st["pid"].as_i64();
        if state == "unhealthy" && advice.is_empty() {
            advice = st["advice"].as_str().unwrap_or_default().to_string();
        }
        seen.push((state.clone(), pid, stopped_at.elapsed().as_millis()));
        state == "running" && pid.is_some_and(|p| p != old as i64)
    });
    assert!(restarted, "restarted without a human: {seen:?}");
    let first_unhealthy = seen.iter().find(|(s, ..)| s == "unhealthy");
    let Some((_, pid, at)) = first_unhealthy else {
        panic!("status said unhealthy at some point: {seen:?}");
    };
    assert_eq!(*pid, Some(old as i64), "{seen:?}");
    assert!(*at >= 1000, "not before the threshold: {seen:?}");
    assert!(
        advice.contains("liveness checks failed in a row"),
        "{advice}"
    );
    for (state, pid, _) in seen.iter().take_while(|(s, ..)| s != "unhealthy") {
        assert_eq!(
            (state.as_str(), *pid),
            ("running", Some(old as i64)),
            "one failed check flips nothing: {seen:?}"
        );
    }
    let waited = env.ok(&["local", "wait", "--timeout", "30"]);
    assert!(waited.contains("temporal ready"), "{waited}");
    let evs = events(&env);
    let kinds: Vec<&str> = evs
        .iter()
        .filter(|e| e["pid"] == old || e["kind"] == "spawned")
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(
        evs.iter()
            .any(|e| e["kind"] == "unhealthy" && e["pid"] == old),
        "{evs:?}"
    );
    let from = kinds.iter().position(|k| *k == "unhealthy").unwrap();
    assert!(
        kinds[from..].contains(&"spawned"),
        "unhealthy, then a new process: {kinds:?}"
    );
    env.ok(&["local", "stop"]);
    assert!(!alive(old));
}

/// A supervisor stopped with SIGSTOP, resumed (SIGCONT) when dropped.
struct Stopped(i32);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0), Signal::SIGCONT);
    }
}

#[test]
fn a_wedged_supervisor_gets_an_answer_within_bounds_and_no_stale_start_undoes_a_stop() {
    let env = Env::fixture("s-wedged", &[], "");
    env.ok(&["local", "start"]);
    let sup = the_supervisor(&env);
    kill(Pid::from_raw(sup), Signal::SIGSTOP).expect("our own supervisor");
    let stopped = Stopped(sup);

    // start: an answer within bounds, naming the supervisor and what to do.
    let t0 = std::time::Instant::now();
    let out = env.run(&["local", "start"], Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(
        err.contains(&format!("supervisor (PID {sup}) is not answering"))
            && err.contains("kill -CONT"),
        "{err}"
    );
    // status: the supervisor is there, but does not answer.
    let st: serde_json::Value =
        serde_json::from_str(&env.ok(&["local", "status", "--json"])).unwrap();
    assert_eq!(st["supervisor"]["pid"], sup, "{st:#}");
    assert_eq!(st["supervisor"]["answering"], false, "{st:#}");
    assert!(env.ok(&["local", "status"]).contains("is not answering"));

    // stop works without it; once resumed, nothing it had queued restarts
    // what was stopped.
    let pid = env.recorded_pid().expect("running");
    env.ok(&["local", "stop"]);
    assert!(!alive(pid), "stopped (a zombie until its parent reaps it)");
    // Its parent, the stopped supervisor, reaps it once it runs again.
    drop(stopped);
    assert!(wait_until(Duration::from_secs(5), || group_gone(pid)));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        env.status()["state"],
        "stopped",
        "a stale request undid the stop"
    );
    assert!(env.recorded_pid().is_none());
}

#[test]
fn a_start_read_after_its_deadline_is_dropped() {
    let env = Env::fixture("s-deadline", &[], "");
    let mut cfg = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    cfg += &service("other", &[], "");
    env.write_config(&cfg);
    env.ok(&["local", "start"]);
    env.ok(&["local", "stop", "other"]);
    let socket = env.home.join("stigmer.sock");
    let mut s = UnixStream::connect(&socket).expect("the supervisor's socket");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"{\"op\":\"start\",\"services\":[\"other\"],\"deadline_ms\":1}\n")
        .unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.contains("deadline passed"), "{reply}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(env.pid_of("other").is_none(), "the expired start ran");
    env.ok(&["local", "stop"]);
}

/// The open descriptors of `pid`, as `/proc/PID/fd` names them.
fn descriptors(pid: i32) -> Vec<(String, String)> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let target = std::fs::read_link(e.path()).ok()?;
                    Some((
                        e.file_name().to_string_lossy().into_owned(),
                        target.to_string_lossy().into_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Is descriptor `fd` of `pid` open for writing, without O_NONBLOCK?
fn blocking_write_end(pid: i32, fd: &str) -> bool {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .unwrap_or(0);
    flags & 0o3 != 0 && flags & 0o4000 == 0
}

#[test]
fn the_readiness_pipe_ends_at_the_supervisor_and_no_service_inherits_it() {
    let env = Env::fixture("sup-ready-fd", &[], "");
    let out = env.ok(&["local", "start"]);
    assert!(out.contains("started"), "{out}");
    let sup = the_supervisor(&env);
    // The supervisor was told its pipe on fd 3 and closed it once it said
    // `ready`: no pipe is left open in it.
    let cmdline = std::fs::read(format!("/proc/{sup}/cmdline")).unwrap();
    assert!(
        String::from_utf8_lossy(&cmdline).contains("--ready-fd\u{0}3"),
        "started with a readiness pipe: {:?}",
        String::from_utf8_lossy(&cmdline)
    );
    // (Its runtime keeps non-blocking pipes of its own; the readiness pipe's
    // end is a blocking write end.)
    let ready_ends: Vec<_> = descriptors(sup)
        .into_iter()
        .filter(|(fd, t)| t.starts_with("pipe:") && blocking_write_end(sup, fd))
        .collect();
    assert!(
        ready_ends.is_empty(),
        "the supervisor keeps its readiness pipe open: {ready_ends:?}"
    );
    // Its service (spawned for the start, then after a crash) holds its
    // lock, its log and /dev/null: no pipe, nothing of the supervisor's.
    let check = |pid: i32| {
        let fds = descriptors(pid);
        let odd: Vec<_> = fds
            .iter()
            .filter(|(_, t)| t.starts_with("pipe:") || t.contains("stigmer.log"))
            .collect();
        assert!(odd.is_empty(), "PID {pid} inherited {odd:?} (all: {fds:?})");
    };
    let pid = env.recorded_pid().unwrap();
    check(pid);
    kill_9_proven(&env, "temporal", pid);
    let new = env.wait_new_pid(pid, Duration::from_secs(10), "restart after kill -9");
    check(new);
    env.ok(&["local", "stop"]);
}
