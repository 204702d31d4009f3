//! The `temporal` section of the benchmark.

use super::*;

/// The dashboard process in the bench's tmux pane.
pub(crate) fn bench_dash_pid(bt: &BenchTmux) -> i32 {
    let shell: i32 = String::from_utf8_lossy(
        &bt.run(&["display-message", "-p", "-t", "b", "#{pane_pid}"])
            .stdout,
    )
    .trim()
    .parse()
    .unwrap();
    let is_stigmer = |p: i32| {
        std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "stigmer")
    };
    if is_stigmer(shell) {
        return shell;
    }
    std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .find(|p| is_stigmer(*p))
        .expect("dash process")
}

/// Every named service's row in the services panel says running.
pub(crate) fn rows_running(screen: &str, names: &[&str]) -> bool {
    names
        .iter()
        .all(|n| screen.contains(&format!("{n:<16}running")))
}

/// CPU time this process has used, every thread's (a refresh's calls run
/// on threads of their own).
pub(crate) fn process_cpu() -> Duration {
    let mut ts = nix::libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { nix::libc::clock_gettime(nix::libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

pub(crate) fn temporal_panel(table: &mut Table) {
    let env = Env::temporal("bench-tpanel");
    env.ok(&["local", "start"]);
    // 1 000 running workflows over 10 task queues nobody polls, started
    // through the HTTP API.
    let agent = ureq::Agent::new_with_defaults();
    let base = format!(
        "http://127.0.0.1:{}/api/v1/namespaces/default/workflows",
        env.http_port()
    );
    for i in 0..1000 {
        let body = serde_json::json!({
            "workflowType": {"name": "Bench"},
            "taskQueue": {"name": format!("bench-q{}", i % 10)},
        });
        agent
            .post(&format!("{base}/bench-{i}"))
            .send_json(&body)
            .expect("start a workflow");
    }
    let stack = stigmer::config::service::Stack::new(
        stigmer::config::Settings::resolve(stigmer::config::Overrides {
            home: Some(env.home.clone()),
            port: Some(env.port),
            ..Default::default()
        })
        .unwrap(),
    )
    .unwrap();
    let cx = stigmer::temporal::Context::of(&stack);
    let (mut cpu, mut wall) = (Stat::default(), Stat::default());
    let mut queues = 0;
    let mut running = 0;
    for _ in 0..rounds() {
        let (c0, t0) = (process_cpu(), Instant::now());
        let info = stigmer::temporal::fetch(&cx);
        cpu.push(process_cpu() - c0);
        wall.push(t0.elapsed());
        assert!(info.error.is_none(), "{:?}", info.error);
        queues = info.task_queues.len();
        running = info.task_queues.iter().map(|q| q.running).sum::<u64>();
    }
    table.row(
        &format!("Temporal refresh, one-shot (`status`), CPU ({queues} task queues, {running} running workflows)"),
        cpu.fmt(" ms"),
        format!("wall {}", wall.fmt(" ms")),
        verdict(cpu.med() <= 20.0),
        "≤ 20 ms CPU",
    );
    // The dash's refresh loop: what it remembers is not asked again.
    let mut memory = stigmer::temporal::Memory::default();
    stigmer::temporal::fetch_again(&cx, &mut memory);
    let (mut cpu, mut wall) = (Stat::default(), Stat::default());
    for _ in 0..rounds() {
        let (c0, t0) = (process_cpu(), Instant::now());
        let info = stigmer::temporal::fetch_again(&cx, &mut memory);
        cpu.push(process_cpu() - c0);
        wall.push(t0.elapsed());
        assert!(info.error.is_none(), "{:?}", info.error);
    }
    table.row(
        "Temporal refresh in the dash's loop, CPU (same)",
        cpu.fmt(" ms"),
        format!("wall {}", wall.fmt(" ms")),
        verdict(cpu.med() <= 20.0),
        "≤ 20 ms CPU",
    );

    // The dash's idle CPU with the panel on.
    let bt = BenchTmux::new("tpanel");
    bt.open_dash(&env, "", 160, 50);
    poll(Duration::from_secs(20), Duration::from_millis(20), || {
        bt.screen().contains("RUNNING")
    })
    .expect("dash up");
    bt.run(&["send-keys", "-t", "b", "w"]);
    poll(Duration::from_secs(20), Duration::from_millis(50), || {
        bt.screen().contains("bench-q9")
    })
    .expect("panel shown");
    let dash = bench_dash_pid(&bt);
    let idle_secs = idle_secs();
    let idle = cpu_over(dash, idle_secs);
    table.row(
        &format!("dash idle CPU over {idle_secs} s, Temporal panel on (1 000 running workflows)"),
        format!("{idle:.2} % of a core"),
        "-".into(),
        verdict(idle < 1.0),
        "< 1 %",
    );
    // The workflows screen open, one of them looked at closely.
    bt.run(&["send-keys", "-t", "b", "w", "e", "Enter"]);
    poll(Duration::from_secs(20), Duration::from_millis(50), || {
        bt.screen().contains("stack trace (__stack_trace)")
    })
    .expect("a workflow looked at");
    let idle = cpu_over(dash, idle_secs);
    table.row(
        &format!("dash idle CPU over {idle_secs} s, workflows screen on, one looked at"),
        format!("{idle:.2} % of a core"),
        "-".into(),
        verdict(idle < 1.0),
        "< 1 %",
    );
    drop(bt);
    let _ = env.run(&["local", "stop"], Duration::from_secs(30));
}
