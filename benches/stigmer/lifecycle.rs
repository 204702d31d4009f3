//! The `lifecycle` section of the benchmark.

use super::*;

pub(crate) fn lifecycle(table: &mut Table) {
    let (mut bare_ready, mut ours_ready, mut bare_stop, mut ours_stop, mut lag) = (
        Stat::default(),
        Stat::default(),
        Stat::default(),
        Stat::default(),
        Stat::default(),
    );
    for i in 0..rounds() {
        let env = Env::temporal(&format!("bench-life-{i}"));
        // Bare: spawn, poll the HTTP API every 1 ms.
        let t0 = Instant::now();
        let mut bare = Bare::spawn(&env);
        poll(Duration::from_secs(60), Duration::from_millis(1), || {
            http_ready(env.http_port())
        })
        .expect("bare ready");
        bare_ready.push(t0.elapsed());
        bare_stop.push(bare.stop());
        assert!(poll(Duration::from_secs(10), Duration::from_millis(5), || {
            !port_open(env.port)
        })
        .is_some());

        // stigmer: `local start` returns once ready; meanwhile we watch the
        // API ourselves to measure how late stigmer noticed.
        let t0 = Instant::now();
        let mut child = env.command(&["local", "start"]).spawn().unwrap();
        let seen = poll(Duration::from_secs(60), Duration::from_millis(1), || {
            http_ready(env.http_port())
        })
        .expect("ready");
        let status = child.wait().unwrap();
        let done = Instant::now();
        assert!(status.success());
        ours_ready.push(done - t0);
        lag.push(done.saturating_duration_since(seen));
        let t0 = Instant::now();
        env.ok(&["local", "stop"]);
        ours_stop.push(t0.elapsed());
    }
    table.row(
        "start → ready",
        ours_ready.fmt(" ms"),
        format!("bare temporal, same argv {}", bare_ready.fmt(" ms")),
        format!("{:.2}×", ours_ready.med() / bare_ready.med()),
        "≤ 1.05×",
    );
    table.row(
        "stop",
        ours_stop.fmt(" ms"),
        format!("SIGTERM + wait {}", bare_stop.fmt(" ms")),
        format!("{:.2}×", ours_stop.med() / bare_stop.med()),
        "≤ 1.05×",
    );
    table.row(
        "readiness detection lag (API answers → `start` returns)",
        lag.fmt(" ms"),
        "-".into(),
        if lag.med() <= 10.0 {
            "ok".into()
        } else {
            "MISSED".into()
        },
        "≤ 10 ms",
    );
    let bare = bare_ready.med();
    crash(table, bare);
}

/// `kill -9` of Temporal, round after round: until its PID file names a
/// new PID (polled every 0.2 ms), and until its API answers again.
pub(crate) fn crash_rounds(env: &Env) -> (Stat, Stat) {
    let (mut respawn, mut ready) = (Stat::default(), Stat::default());
    for _ in 0..rounds() {
        let old = env.recorded_pid().unwrap();
        let t0 = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(old),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        poll(Duration::from_secs(10), Duration::from_micros(200), || {
            env.recorded_pid().is_some_and(|p| p != old)
        })
        .expect("respawn");
        respawn.push(t0.elapsed());
        poll(Duration::from_secs(60), Duration::from_millis(1), || {
            http_ready(env.http_port())
        })
        .expect("ready again");
        ready.push(t0.elapsed());
        // Up and ready past the 1 s stability mark: a crash of a stable
        // service is restarted at once (backoff is for unstable ones).
        std::thread::sleep(Duration::from_millis(1200));
    }
    (respawn, ready)
}

pub(crate) fn crash(table: &mut Table, bare_ready: f64) {
    let mut env = Env::temporal("bench-crash");
    // Each round is a deliberate crash: lift the crash-loop limit.
    env.write_config(&format!(
        "temporal_bin = {:?}\n[restart]\nmax_failures = 1000\n",
        temporal_bin().display().to_string()
    ));
    env.spawn_foreground();
    poll(Duration::from_secs(60), Duration::from_millis(5), || {
        http_ready(env.http_port())
    })
    .expect("ready");
    let (respawn, ready) = crash_rounds(&env);
    table.row(
        "crash (kill -9) → new PID in PID file, under start --foreground",
        respawn.fmt(" ms"),
        "Go version: ≤ 6000 ms (5 s poll + 1 s wait)".into(),
        if respawn.med() <= 20.0 {
            "ok".into()
        } else {
            "MISSED".into()
        },
        "≤ 20 ms",
    );
    table.row(
        "crash → ready again",
        ready.fmt(" ms"),
        format!("bare start → ready {bare_ready:.1} ms"),
        format!("{:.2}×", ready.med() / bare_ready),
        "≤ 1.2×",
    );
}
