//! The `logs` section of the benchmark.

use super::*;

/// 100 000 lines like a service writes them: logfmt with mixed levels, a
/// continuation now and then.
pub(crate) fn sample_lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 10 {
            0 => format!("time=2026-11-22T08:00:{:02}.000 level=WARN msg=\"slow poll\" queue=q{}", i % 60, i % 7),
            1 => format!("time=2026-11-22T08:00:{:02}.000 level=ERROR msg=\"task failed\" attempt={i}", i % 60),
            2 => "    at worker.go:42 (continuation)".to_string(),
            3 => format!("time=2026-11-22T08:00:{:02}.000 level=DEBUG msg=\"poll\" id={i}", i % 60),
            _ => format!("time=2026-11-22T08:00:{:02}.000 level=INFO msg=\"activity done\" id={i} queue=hello", i % 60),
        })
        .collect()
}

pub(crate) fn logs(table: &mut Table) {
    use stigmer::logs::query::{Query, Reader, Search};
    use stigmer::ui::log::LogView;
    let lines = sample_lines(100_000);
    // The CLI's path: levels and times carried, a level and a regex applied.
    let mut cli = Stat::default();
    let q = Query {
        min_level: Some(stigmer::logs::level::Level::Warn),
        grep: Some(Search::new("failed|slow").unwrap()),
        since_ms: None,
    };
    let mut kept = 0;
    for _ in 0..rounds() {
        let t0 = Instant::now();
        let mut r = Reader::new(&q);
        kept = lines
            .iter()
            .map(|l| r.entry(l.clone()))
            .filter(|e| q.keeps(e))
            .count();
        cli.push(t0.elapsed());
    }
    // The dash's path: a view holding its lines, re-filtered on a key.
    let mut view = LogView::new();
    view.push(lines.clone());
    let held = view.total();
    let (mut by_level, mut by_regex) = (Stat::default(), Stat::default());
    for _ in 0..rounds() {
        let t0 = Instant::now();
        view.cycle_level(); // info
        view.cycle_level(); // warn
        by_level.push(t0.elapsed() / 2);
        view.cycle_level();
        view.cycle_level(); // all again
        let _ = view.set_search("task failed|slow");
        let t0 = Instant::now();
        view.toggle_only_matching();
        by_regex.push(t0.elapsed());
        view.toggle_only_matching();
    }
    table.row(
        &format!("filter 100 000 lines, CLI path (level + regex, {kept} kept)"),
        cli.fmt(" ms"),
        "-".into(),
        verdict(cli.med() <= 50.0),
        "≤ 50 ms",
    );
    table.row(
        &format!("dash: re-filter a view by level ({held} lines held)"),
        by_level.fmt(" ms"),
        "-".into(),
        verdict(by_level.med() <= 50.0),
        "≤ 50 ms",
    );
    table.row(
        &format!("dash: re-filter a view by regex ({held} lines held)"),
        by_regex.fmt(" ms"),
        "-".into(),
        verdict(by_regex.med() <= 50.0),
        "≤ 50 ms",
    );

    // The dash with three services and 100 000 lines written to each log.
    let env = Env::new("bench-logs-rss");
    let fixture = |name: &str, port: u16| {
        format!(
            "[services.{name}]\ncommand = [{FIXTURE:?}, \"--http\", \"{port}\"]\nports = [{port}]\n\
             ready = {{ http = \"http://127.0.0.1:{port}/\" }}\n"
        )
    };
    env.write_config(&format!(
        "temporal_bin = {FIXTURE:?}\nargs = [\"--grpc\", \"{{grpc}}\", \"--http\", \"{{http}}\"]\n{}{}",
        fixture("api", env.port + 1),
        fixture("web", env.port + 2)
    ));
    let bt = BenchTmux::new("logs");
    bt.open_dash(&env, "", 160, 50);
    poll(Duration::from_secs(20), Duration::from_millis(20), || {
        rows_running(&bt.screen(), &["temporal", "api", "web"])
    })
    .expect("stack up");
    let dash = bench_dash_pid(&bt);
    for name in ["temporal", "api", "web"] {
        let mut f = std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .append(true)
                .open(env.home.join(format!("logs/{name}.log")))
                .unwrap(),
        );
        for l in sample_lines(100_000) {
            writeln!(f, "{name} {l}").unwrap();
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    bt.run(&["send-keys", "-t", "b", "a"]); // the merged view
    poll(Duration::from_secs(30), Duration::from_millis(50), || {
        bt.screen().contains("id=99999")
    })
    .expect("the floods shown");
    std::thread::sleep(Duration::from_millis(500));
    let peak = rss_kb(dash) as f64 / 1024.0;
    let cpu = cpu_over(dash, 10);
    let rss = rss_kb(dash) as f64 / 1024.0;
    println!("  (dash RSS right after the flood: {peak:.1} MB)");
    table.row(
        "dash resident memory 10 s after 3 services × 100 000 log lines (50 000 held per view)",
        format!("{rss:.1} MB"),
        "-".into(),
        verdict(rss < 60.0),
        "< 60 MB",
    );
    table.row(
        "dash idle CPU over 10 s after that, 3 services",
        format!("{cpu:.2} % of a core"),
        "-".into(),
        verdict(cpu < 1.0),
        "< 1 %",
    );
    drop(bt);
    let _ = env.run(&["local", "stop"], Duration::from_secs(30));
}
