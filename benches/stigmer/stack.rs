//! The `stack` section of the benchmark.

use super::*;

/// The example stack started by hand: Temporal and the greeter one after the
/// other (the sum of their times' maximum and the worker's) or at once (the
/// wall time), then the worker until it polls. Everything is stopped after.
pub(crate) fn bare_stack(
    env: &Env,
    python: &std::path::Path,
    dir: &std::path::Path,
    greeter_port: u16,
    parallel: bool,
) -> Duration {
    use std::io::BufRead;
    let greeter = || {
        Command::new(python)
            .arg(dir.join("greeter.py"))
            .env("GREETER_PORT", greeter_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("greeter")
    };
    let temporal_ready = || {
        poll(Duration::from_secs(60), Duration::from_millis(1), || {
            http_ready(env.http_port())
        })
        .expect("bare ready")
    };
    let greeter_ready = || {
        poll(Duration::from_secs(30), Duration::from_millis(1), || {
            port_open(greeter_port)
        })
        .expect("greeter ready")
    };
    // A fresh database each time, as stigmer's run gets.
    let _ = std::fs::remove_file(env.home.join("bare.db"));
    let t0 = Instant::now();
    let mut temporal = Bare::spawn(env);
    let (first, mut g) = if parallel {
        let g = greeter();
        temporal_ready();
        greeter_ready();
        (t0.elapsed(), g)
    } else {
        temporal_ready();
        let t_temporal = t0.elapsed();
        let t1 = Instant::now();
        let g = greeter();
        greeter_ready();
        (t_temporal.max(t1.elapsed()), g)
    };
    let t0 = Instant::now();
    let mut worker = Command::new(python)
        .arg(dir.join("worker.py"))
        .env("TEMPORAL_ADDRESS", format!("127.0.0.1:{}", env.port))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("worker");
    let out = std::io::BufReader::new(worker.stdout.take().unwrap());
    let polling = out
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("worker polling task queue"));
    assert!(polling, "the bare worker never polled");
    let took = first + t0.elapsed();
    for c in [&mut worker, &mut g] {
        let _ = c.kill(); // our own children
        let _ = c.wait();
    }
    temporal.stop();
    assert!(poll(Duration::from_secs(10), Duration::from_millis(5), || {
        !port_open(env.port)
    })
    .is_some());
    took
}

/// The example stack (Temporal, greeter, Python worker that depends on
/// both): `local start` until all are ready, against the same programs
/// started by hand along the critical path, max(Temporal, greeter) + worker.
pub(crate) fn stack(table: &mut Table) {
    let (mut ours, mut bare, mut bare_par) = (Stat::default(), Stat::default(), Stat::default());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".tools/venv/bin/python");
    for i in 0..rounds() {
        let mut env = Env::temporal(&format!("bench-stack-{i}"));
        let greeter_port = env.port + 1;
        let config = env.example_stack(greeter_port);
        let dir = config.parent().unwrap().to_path_buf();

        // Bare, the reference: Temporal, then (separately) the
        // greeter, then the worker; the sum along the critical path.
        bare.push(bare_stack(&env, &python, &dir, greeter_port, false));
        // Bare the way stigmer starts them: Temporal and the greeter at
        // once (sharing the CPUs), then the worker.
        bare_par.push(bare_stack(&env, &python, &dir, greeter_port, true));

        env.config = Some(config);
        let t0 = Instant::now();
        env.ok(&["local", "start"]);
        ours.push(t0.elapsed());
        env.ok(&["local", "stop"]);
    }
    table.row(
        "stack start → all ready (example: Temporal + greeter ∥, then worker)",
        ours.fmt(" ms"),
        format!("bare critical path {}", bare.fmt(" ms")),
        format!("{:.2}×", ours.med() / bare.med()),
        "≤ 1.05×",
    );
    table.row(
        "stack start → all ready, against the same programs started bare in the same order",
        ours.fmt(" ms"),
        format!(
            "bare, Temporal ∥ greeter, then worker {}",
            bare_par.fmt(" ms")
        ),
        format!("{:.2}×", ours.med() / bare_par.med()),
        "-",
    );
}
