//! `cargo bench --bench stigmer`: stigmer against bare Temporal and against
//! its budgets, on this machine, in one run. Prints a table of medians with
//! min/max. Rounds: STIGMER_BENCH_ROUNDS (default 5); STIGMER_BENCH_ONLY
//! (e.g. `stack`) runs some sections only. Real processes only.

#[path = "../../tests/support/mod.rs"]
mod support;

mod dashboard;
mod inspect;
mod lifecycle;
mod logs;
mod stack;
mod supervisor;
mod temporal;

use dashboard::dashboard;
use inspect::{render, scan};
use lifecycle::lifecycle;
use logs::logs;
use stack::stack;
use supervisor::supervisor;
use temporal::temporal_panel;
// Shared by several sections.
use lifecycle::crash_rounds;
use temporal::{bench_dash_pid, rows_running};

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
    /// Temporal with the very argv stigmer gives it (its own database
    /// file), output to a log file as stigmer's is.
    fn spawn(env: &Env) -> Self {
        use stigmer::config::{Overrides, Settings};
        let settings = Settings::resolve(Overrides {
            home: Some(env.home.clone()),
            port: Some(env.port),
            ..Default::default()
        })
        .expect("settings");
        let ctx = stigmer::lifecycle::Ctx::new(settings);
        let program = ctx.spec.program.clone().expect("temporal");
        let mut args = ctx.spec.args.clone();
        if let Some(i) = args.iter().position(|a| a == "--db-filename") {
            args[i + 1] = env.home.join("bare.db").display().to_string();
        }
        let log = std::fs::File::create(env.home.join("bare.log")).expect("bare log");
        let child = Command::new(program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
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

fn verdict(ok: bool) -> String {
    if ok { "ok" } else { "MISSED" }.into()
}
