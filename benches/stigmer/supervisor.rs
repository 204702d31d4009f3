//! The `supervisor` section of the benchmark.

use super::*;

/// Reads the supervisor's event feed until `pred` holds for an event;
/// when it arrived.
pub(crate) fn event_arrival(
    reader: &mut std::io::BufReader<std::os::unix::net::UnixStream>,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> Instant {
    use std::io::BufRead;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("event feed");
        assert!(n > 0, "the supervisor closed the feed");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if pred(&v["event"]) {
            return Instant::now();
        }
    }
}

/// The detached supervisor (`local start` leaves it): its idle cost, how
/// fast it restarts, how fast an attached dash shows what it saw, how fast a
/// dash opens, and how fast a hung service is caught.
pub(crate) fn supervisor(table: &mut Table) {
    let mut env = Env::new("bench-sup");
    env.supervised = true;
    let (a, b) = (env.port + 1, env.port + 2);
    let fixture = |name: &str, port: u16| {
        format!(
            "[services.{name}]\ncommand = [{FIXTURE:?}, \"--http\", \"{port}\"]\nports = [{port}]\n\
             ready = {{ http = \"http://127.0.0.1:{port}/\" }}\n\
             restart = {{ mode = \"always\", max_failures = 1000 }}\n"
        )
    };
    env.write_config(&format!(
        "temporal_bin = {:?}\n[restart]\nmax_failures = 1000\n{}{}",
        temporal_bin().display().to_string(),
        fixture("api", a),
        fixture("web", b)
    ));
    env.ok(&["local", "start"]);
    let sups = env.supervisors();
    assert_eq!(sups.len(), 1, "one supervisor: {sups:?}");
    let sup = sups[0];

    // Idle: three ready services, liveness checks every 2 s, nobody attached.
    let idle_secs = idle_secs();
    std::thread::sleep(Duration::from_secs(2));
    let cpu = cpu_over(sup, idle_secs);
    let rss = rss_kb(sup) as f64 / 1024.0;
    table.row(
        &format!("supervisor idle CPU over {idle_secs} s, 3 services"),
        format!("{cpu:.2} % of a core"),
        "-".into(),
        verdict(cpu < 0.3),
        "< 0.3 %",
    );
    table.row(
        "supervisor resident memory, 3 services",
        format!("{rss:.1} MB"),
        "-".into(),
        verdict(rss < 20.0),
        "< 20 MB",
    );

    // Crash → new PID, Temporal under the detached supervisor.
    let (respawn, _) = crash_rounds(&env);

    // The floor: how long the kernel takes to end a killed Temporal
    // (waitpid returning in its parent), with nobody supervising.
    let mut floor = Stat::default();
    {
        let bare_env = Env::temporal("bench-sup-bare");
        for _ in 0..rounds() {
            let mut bare = Bare::spawn(&bare_env);
            poll(Duration::from_secs(60), Duration::from_millis(2), || {
                http_ready(bare_env.http_port())
            })
            .expect("bare ready");
            let t0 = Instant::now();
            let _ = bare.child.kill();
            let _ = bare.child.wait();
            floor.push(t0.elapsed());
        }
    }
    table.row(
        "crash (kill -9) → new PID, detached supervisor",
        respawn.fmt(" ms"),
        format!(
            "start --foreground: 10–16 ms; kill -9 → waitpid of a bare Temporal {}",
            floor.fmt(" ms")
        ),
        verdict(respawn.med() <= 10.0),
        "≤ 10 ms",
    );

    // Dash open → first full frame (all three services running, with PIDs),
    // through tmux; then event → on its screen.
    let bt = BenchTmux::new("sup");
    let tmux = |args: &[&str]| bt.run(args);
    let screen = || bt.screen();
    let pid_of = |name: &str| -> i32 {
        let text = std::fs::read_to_string(env.home.join(format!("{name}.pid"))).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["pid"]
            .as_i64()
            .unwrap() as i32
    };
    let mut open = Stat::default();
    for _ in 0..rounds() {
        let t0 = Instant::now();
        bt.open_dash(&env, "--no-start", 200, 50);
        let pids = [env.recorded_pid().unwrap(), pid_of("api"), pid_of("web")];
        poll(Duration::from_secs(20), Duration::from_millis(1), || {
            let s = screen();
            rows_running(&s, &["temporal", "api", "web"])
                && s.contains("Events")
                && pids.iter().all(|p| s.contains(&p.to_string()))
        })
        .expect("dash up");
        open.push(t0.elapsed());
        tmux(&["kill-session", "-t", "b"]);
        std::thread::sleep(Duration::from_millis(300));
    }
    table.row(
        "dash open → first full frame (attached, 3 services, through tmux)",
        open.fmt(" ms"),
        "-".into(),
        verdict(open.med() <= 150.0),
        "≤ 150 ms",
    );

    bt.open_dash(&env, "--no-start", 200, 50);
    poll(Duration::from_secs(20), Duration::from_millis(5), || {
        screen().contains("attached to supervisor")
    })
    .expect("dash attached");
    let mut shown = Stat::default();
    for _ in 0..rounds() {
        let old = pid_of("api");
        let t0 = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(old),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let needle = format!("exited (PID {old})");
        poll(Duration::from_secs(10), Duration::from_millis(1), || {
            screen().contains(&needle)
        })
        .expect("event shown");
        shown.push(t0.elapsed());
        std::thread::sleep(Duration::from_millis(1500));
    }
    table.row(
        "crash → its event on an attached dash's screen (through tmux)",
        shown.fmt(" ms"),
        "-".into(),
        verdict(shown.med() <= 20.0),
        "≤ 20 ms",
    );

    // Hung (SIGSTOP) → restart begun, default liveness (2 s × 3).
    let mut hung = Stat::default();
    for _ in 0..rounds().min(3) {
        let mut feed =
            std::os::unix::net::UnixStream::connect(env.home.join("stigmer.sock")).expect("socket");
        feed.write_all(b"{\"op\":\"subscribe\"}\n").unwrap();
        feed.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut reader = std::io::BufReader::new(feed);
        let old = env.recorded_pid().unwrap();
        let t0 = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(old),
            nix::sys::signal::Signal::SIGSTOP,
        )
        .unwrap();
        let at = event_arrival(&mut reader, |e| {
            e["kind"] == "unhealthy"
                && e["pid"] == old
                && e["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("restarting"))
        });
        hung.push(at - t0);
        // Ready again as the supervisor sees it (hanging it before that
        // would be a hang while starting: the ready timeout's business).
        event_arrival(&mut reader, |e| e["kind"] == "ready" && e["pid"] != old);
    }
    table.row(
        "hung (SIGSTOP) → restart begun, liveness every 2 s × 3",
        hung.fmt(" ms"),
        "-".into(),
        verdict(hung.med() <= 7000.0),
        "≤ 7000 ms (2 s × 3 + 1 s)",
    );
    env.ok(&["local", "stop"]);
}
