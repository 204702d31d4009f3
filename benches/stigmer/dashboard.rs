//! The `dashboard` section of the benchmark.

use super::*;

pub(crate) fn dashboard(table: &mut Table) {
    let env = Env::temporal("bench-dash");
    env.ok(&["local", "start"]);
    let bt = BenchTmux::new("dash");
    let tmux = |args: &[&str]| bt.run(args);
    bt.open_dash(&env, "", 120, 40);
    let screen = || bt.screen();
    poll(Duration::from_secs(20), Duration::from_millis(20), || {
        screen().contains("RUNNING")
    })
    .expect("dash up");
    let dash = bench_dash_pid(&bt);

    let idle_secs = idle_secs();
    let cpu = cpu_over(dash, idle_secs);
    table.row(
        &format!("dash idle CPU over {idle_secs} s, Temporal running"),
        format!("{cpu:.2} % of a core"),
        "-".into(),
        if cpu < 1.0 {
            "ok".into()
        } else {
            "MISSED".into()
        },
        "< 1 %",
    );

    let log = env.home.join("logs/temporal.log");
    let mut key = Stat::default();
    for i in 0..rounds() {
        let t0 = Instant::now();
        tmux(&["send-keys", "-t", "b", "?"]);
        poll(Duration::from_secs(5), Duration::from_millis(1), || {
            screen().contains("this help")
        })
        .expect("help shown");
        key.push(t0.elapsed());
        tmux(&["send-keys", "-t", "b", "Escape"]);
        poll(Duration::from_secs(5), Duration::from_millis(1), || {
            !screen().contains("this help")
        })
        .expect("help closed");
        let _ = i;
    }
    let mut line_lat = Stat::default();
    for i in 0..rounds() {
        let marker = format!("bench-marker-{i}-{}", std::process::id());
        let t0 = Instant::now();
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        writeln!(f, "{marker}").unwrap();
        drop(f);
        poll(Duration::from_secs(5), Duration::from_millis(1), || {
            screen().contains(&marker)
        })
        .expect("line shown");
        line_lat.push(t0.elapsed());
    }
    table.row(
        "key press → on screen (through tmux)",
        key.fmt(" ms"),
        "-".into(),
        if key.med() <= 50.0 {
            "ok".into()
        } else {
            "MISSED".into()
        },
        "≤ 50 ms",
    );
    table.row(
        "log line written → on screen (through tmux)",
        line_lat.fmt(" ms"),
        "-".into(),
        if line_lat.med() <= 100.0 {
            "ok".into()
        } else {
            "MISSED".into()
        },
        "≤ 100 ms",
    );

    {
        let mut f =
            std::io::BufWriter::new(std::fs::OpenOptions::new().append(true).open(&log).unwrap());
        for i in 0..100_000 {
            writeln!(
                f,
                "flood {i} lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod"
            )
            .unwrap();
        }
    }
    poll(Duration::from_secs(30), Duration::from_millis(20), || {
        screen().contains("flood 99999")
    })
    .expect("flood shown");
    std::thread::sleep(Duration::from_millis(500));
    let rss = rss_kb(dash) as f64 / 1024.0;
    table.row(
        "dash resident memory after 100 000 log lines",
        format!("{rss:.1} MB"),
        "-".into(),
        if rss < 40.0 {
            "ok".into()
        } else {
            "MISSED".into()
        },
        "< 40 MB",
    );
}
