//! The `inspect` section of the benchmark.

use super::*;

pub(crate) fn render(table: &mut Table) {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    let (_env, ctx, rt) = running_temporal("bench-render");
    let status = rt.block_on(stigmer::probe::inspect::inspect(&ctx, None));
    let mut entry = stigmer::ui::Entry::unseen(&ctx.spec.name);
    entry.seen.status = Some(std::sync::Arc::new(status));
    let mut app = stigmer::ui::App::new(stigmer::ui::Info::of(&ctx), entry);
    app.push_log(
        (0..10_000)
            .map(|i| format!("log line {i} with some text in it, like Temporal writes"))
            .collect(),
    );
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut s = Stat::default();
    for _ in 0..500 {
        let t0 = Instant::now();
        term.draw(|f| app.draw(f, Instant::now())).unwrap();
        s.push(t0.elapsed());
    }
    table.row(
        "frame render at 120×40 (TestBackend, 10 000 lines held)",
        s.fmt(" ms"),
        "-".into(),
        "".into(),
        "-",
    );
}

pub(crate) fn scan(table: &mut Table) {
    let (_env, ctx, rt) = running_temporal("bench-scan");
    let count = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            })
            .count()
    };
    let mut sleepers: Vec<Child> = Vec::new();
    for target in [300usize, 3000] {
        while count() < target {
            match Command::new("sleep")
                .arg("600")
                .stdin(Stdio::null())
                .spawn()
            {
                Ok(c) => sleepers.push(c),
                Err(_) => break,
            }
        }
        let n = count();
        let mut full = Stat::default();
        let mut scan_only = Stat::default();
        for _ in 0..rounds().max(5) {
            let t0 = Instant::now();
            let st = rt.block_on(stigmer::probe::inspect::inspect(&ctx, None));
            full.push(t0.elapsed());
            assert_eq!(st.state, stigmer::probe::inspect::State::Running);
            let t0 = Instant::now();
            let lock = ctx.spec.paths.lock.clone();
            let _ = stigmer::process::scan_proc(&stigmer::process::ScanRequest {
                tag_var: stigmer::config::service::TAG_VAR,
                tag_prefix: &ctx.spec.tag_prefix,
                pgids: &[st.pgid.unwrap_or(0)],
                lock_path: Some(&lock),
                socket_inodes: &[],
            });
            scan_only.push(t0.elapsed());
        }
        table.row(
            &format!("process scan (tree, tags, lock holders) with {n} processes"),
            scan_only.fmt(" ms"),
            format!("whole inspect incl. probes {}", full.fmt(" ms")),
            "".into(),
            "-",
        );
    }
    for mut c in sleepers {
        let _ = c.kill();
        let _ = c.wait();
    }
}
