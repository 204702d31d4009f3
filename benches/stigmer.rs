//! `cargo bench --bench stigmer`: stigmer against bare Temporal and against
//! its budgets, on this machine, in one run. Prints a table of medians with
//! min/max. Rounds: STIGMER_BENCH_ROUNDS (default 5); STIGMER_BENCH_ONLY
//! (e.g. `stack`) runs some sections only. Real processes only.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

fn rounds() -> usize {
    std::env::var("STIGMER_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

#[derive(Default)]
struct Stat(Vec<f64>);
impl Stat {
    fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64() * 1000.0);
    }
    fn med(&self) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        if v.is_empty() {
            f64::NAN
        } else if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        }
    }
    fn fmt(&self, unit: &str) -> String {
        let min = self.0.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = self.0.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        format!("{:.1}{unit} ({:.1}–{:.1})", self.med(), min, max)
    }
}

struct Table(Vec<[String; 5]>);
impl Table {
    fn row(&mut self, what: &str, ours: String, reference: String, ratio: String, target: &str) {
        println!("  {what}: {ours} | ref {reference} | {ratio} | target {target}");
        self.0
            .push([what.into(), ours, reference, ratio, target.into()]);
    }
    fn print(&self) {
        println!("\n| measure | stigmer median (min–max) | reference median (min–max) | ratio / verdict | target |");
        println!("|---|---|---|---|---|");
        for r in &self.0 {
            println!("| {} | {} | {} | {} | {} |", r[0], r[1], r[2], r[3], r[4]);
        }
    }
}

fn http_ready(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect_timeout(
        &([127, 0, 0, 1], port).into(),
        Duration::from_millis(100),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let req = format!(
        "GET /api/v1/cluster-info HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    buf[..n].starts_with(b"HTTP/1.1 200") || buf[..n].starts_with(b"HTTP/1.0 200")
}

/// Polls fast, bounded.
fn poll(timeout: Duration, every: Duration, mut cond: impl FnMut() -> bool) -> Option<Instant> {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if cond() {
            return Some(Instant::now());
        }
        std::thread::sleep(every);
    }
    None
}

struct Bare {
    child: Child,
}
impl Bare {
    fn spawn(env: &Env) -> Self {
        let db = env.home.join("bare.db");
        let child = Command::new(temporal_bin())
            .args(["server", "start-dev", "--ip", "127.0.0.1"])
            .args([
                "--port",
                &env.port.to_string(),
                "--ui-port",
                &env.ui_port().to_string(),
            ])
            .args(["--http-port", &env.http_port().to_string(), "--db-filename"])
            .arg(db)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn temporal");
        Self { child }
    }
    fn stop(&mut self) -> Duration {
        let t0 = Instant::now();
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
        t0.elapsed()
    }
}
impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lifecycle(table: &mut Table) {
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
        format!("bare temporal {}", bare_ready.fmt(" ms")),
        format!("{:.2}×", ours_ready.med() / bare_ready.med()),
        "≤ 1.1×",
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
fn crash_rounds(env: &Env) -> (Stat, Stat) {
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

fn crash(table: &mut Table, bare_ready: f64) {
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

/// A private tmux server for the dashboard figures; killed on drop.
struct BenchTmux(String);
impl BenchTmux {
    fn new(tag: &str) -> Self {
        Self(format!("stigmer-bench-{tag}-{}", std::process::id()))
    }
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.0)
            .args(args)
            .output()
            .expect("tmux")
    }
    /// Session `b` running `line` in a `w`×`h` pane.
    fn open(&self, line: &str, w: u16, h: u16) {
        let (w, h) = (w.to_string(), h.to_string());
        self.run(&["new-session", "-d", "-s", "b", "-x", &w, "-y", &h, line]);
    }
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "b"]).stdout).into_owned()
    }
    /// `stigmer dash <args>` for `env`'s home and ports.
    fn open_dash(&self, env: &Env, args: &str, w: u16, h: u16) {
        let line = format!(
            "{STIGMER} --home {} --port {} dash {args}",
            env.home.display(),
            env.port
        );
        self.open(&line, w, h);
    }
}
impl Drop for BenchTmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The idle window: `STIGMER_BENCH_IDLE_SECS`, default 30.
fn idle_secs() -> u64 {
    std::env::var("STIGMER_BENCH_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

/// CPU of process `pid` over the next `secs` seconds, in % of one core.
fn cpu_over(pid: i32, secs: u64) -> f64 {
    let hz = 100.0; // USER_HZ
    let t0 = proc_ticks(pid);
    std::thread::sleep(Duration::from_secs(secs));
    (proc_ticks(pid) - t0) as f64 / hz / secs as f64 * 100.0
}

fn proc_ticks(pid: i32) -> u64 {
    stat_field(pid, 14)
        .and_then(|u| u.parse::<u64>().ok())
        .unwrap_or(0)
        + stat_field(pid, 15)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
}

fn dashboard(table: &mut Table) {
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

/// A running Temporal in its own state dir, with the library's view of it.
fn running_temporal(name: &str) -> (Env, stigmer::lifecycle::Ctx, tokio::runtime::Runtime) {
    use stigmer::config::{Overrides, Settings};
    let env = Env::temporal(name);
    env.ok(&["local", "start"]);
    let settings = Settings::resolve(Overrides {
        home: Some(env.home.clone()),
        port: Some(env.port),
        ..Default::default()
    })
    .unwrap();
    (
        env,
        stigmer::lifecycle::Ctx::new(settings),
        tokio::runtime::Runtime::new().unwrap(),
    )
}

/// The example stack started by hand: Temporal and the greeter one after the
/// other (the sum of their times' maximum and the worker's) or at once (the
/// wall time), then the worker until it polls. Everything is stopped after.
fn bare_stack(
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
fn stack(table: &mut Table) {
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

fn render(table: &mut Table) {
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

fn scan(table: &mut Table) {
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

/// A named part of the benchmark.
type Section = (&'static str, fn(&mut Table));

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--exact") {
        return; // `cargo test --benches` probing: nothing to list
    }
    let t0 = Instant::now();
    println!(
        "stigmer benchmark: {} rounds, {} CPUs",
        rounds(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let mut table = Table(vec![]);
    // STIGMER_BENCH_ONLY=stack (comma-separated) runs just those sections.
    let only = std::env::var("STIGMER_BENCH_ONLY").unwrap_or_default();
    let run = |name: &str| only.is_empty() || only.split(',').any(|o| o.trim() == name);
    let sections: [Section; 8] = [
        ("lifecycle", lifecycle),
        ("stack", stack),
        ("supervisor", supervisor),
        ("logs", logs),
        ("temporal", temporal_panel),
        ("dashboard", dashboard),
        ("render", render),
        ("scan", scan),
    ];
    for (name, f) in sections {
        if run(name) {
            f(&mut table);
        }
    }
    table.print();
    println!("\n(total {:.0} s)", t0.elapsed().as_secs_f64());
}

/// Reads the supervisor's event feed until `pred` holds for an event;
/// when it arrived.
fn event_arrival(
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
fn supervisor(table: &mut Table) {
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

fn verdict(ok: bool) -> String {
    if ok { "ok" } else { "MISSED" }.into()
}

/// 100 000 lines like a service writes them: logfmt with mixed levels, a
/// continuation now and then.
fn sample_lines(n: usize) -> Vec<String> {
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

fn logs(table: &mut Table) {
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

/// The dashboard process in the bench's tmux pane.
fn bench_dash_pid(bt: &BenchTmux) -> i32 {
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
fn rows_running(screen: &str, names: &[&str]) -> bool {
    names
        .iter()
        .all(|n| screen.contains(&format!("{n:<16}running")))
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = nix::libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { nix::libc::clock_gettime(nix::libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn temporal_panel(table: &mut Table) {
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
        let (c0, t0) = (thread_cpu(), Instant::now());
        let info = stigmer::temporal::fetch(&cx);
        cpu.push(thread_cpu() - c0);
        wall.push(t0.elapsed());
        assert!(info.error.is_none(), "{:?}", info.error);
        queues = info.task_queues.len();
        running = info.task_queues.iter().map(|q| q.running).sum::<u64>();
    }
    table.row(
        &format!("Temporal panel refresh, CPU ({queues} task queues, {running} running workflows)"),
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
    drop(bt);
    let _ = env.run(&["local", "stop"], Duration::from_secs(30));
}
