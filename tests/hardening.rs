//! Regression tests for defects an adversarial pass found: each one failed
//! before its fix. Real processes, real signals.

mod support;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// A process that is not ours in any way: no tag, its own group.
struct Stranger(std::process::Child);
impl Stranger {
    fn new() -> Self {
        let mut c = Command::new("sleep");
        c.arg("300").process_group(0).stdin(Stdio::null());
        c.env_remove("STIGMER_SERVICE");
        Self(c.spawn().expect("spawn sleep"))
    }
    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}
impl Drop for Stranger {
    fn drop(&mut self) {
        let _ = self.0.kill(); // our own child
        let _ = self.0.wait();
    }
}

/// Rewrites the PID file so that it names `pid` with its *real* start time
/// and boot id, keeping everything else (the tag of this home included): a
/// file hand-edited or restored from a backup.
fn point_pid_file_at(env: &Env, rec: &serde_json::Value, pid: i32) {
    let mut rec = rec.clone();
    let ticks: u64 = stat_field(pid, 22).unwrap().parse().unwrap();
    rec["pid"] = pid.into();
    rec["pgid"] = pid.into();
    rec["sid"] = pid.into();
    rec["start_ticks"] = ticks.into();
    std::fs::write(env.home.join("temporal.pid"), rec.to_string()).unwrap();
}

#[test]
fn pid_file_naming_a_stranger_with_its_real_identity_never_gets_it_signalled() {
    let env = Env::fixture("h-stranger", &[], "");
    // A genuine record of this home (with its genuine tag), then stopped.
    env.ok(&["local", "start"]);
    let rec = env.record().expect("PID file");
    env.ok(&["local", "stop"]);

    let stranger = Stranger::new();
    // Another stigmer process (as a running dashboard would be).
    let other = Env::new("h-stranger-other");
    let mut stigmer_child = other
        .command(&["local", "logs", "-f"])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn stigmer logs -f");
    let spid = stigmer_child.id() as i32;

    for victim in [stranger.pid(), spid] {
        for cmd in [
            &["local", "clean"][..],
            &["local", "kill"],
            &["local", "stop", "--grace", "1"],
            &["local", "start"],
            &["local", "restart", "--grace", "1"],
        ] {
            point_pid_file_at(&env, &rec, victim);
            let st = env.status();
            assert_ne!(st["pid"].as_i64(), Some(victim as i64), "{st:#}");
            assert!(
                st["pid_file"]["identity"]
                    .as_str()
                    .is_some_and(|s| s.contains("not ours")),
                "identity must say the process is not ours: {st:#}"
            );
            let out = env.run(cmd, Duration::from_secs(30));
            assert!(
                alive(victim),
                "`stigmer {}` signalled PID {victim}, which is not ours\nstdout: {}\nstderr: {}",
                cmd.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            // Whatever was started (start/restart) is really ours and stops.
            env.ok(&["local", "stop", "--grace", "1"]);
            assert!(alive(victim));
        }
    }
    let _ = stigmer_child.kill();
    let _ = stigmer_child.wait();
}

#[test]
fn pid_file_replaced_while_running_still_stops_the_real_service_and_spares_the_stranger() {
    let env = Env::fixture("h-swap", &["--children", "1"], "");
    env.ok(&["local", "start"]);
    let rec = env.record().expect("PID file");
    let real = rec["pid"].as_i64().unwrap() as i32;
    let stranger = Stranger::new();
    point_pid_file_at(&env, &rec, stranger.pid());
    env.ok(&["local", "stop", "--grace", "2"]);
    assert!(alive(stranger.pid()), "the stranger survived the stop");
    assert!(
        group_gone(real),
        "our own group was still stopped (by its tag)"
    );
}

/// Runs `stigmer --home HOME ARGS` (bounded) and returns (success, stdout+stderr).
/// For homes stigmer must refuse: nothing may start there, a supervisor
/// neither.
fn stigmer_at(home: &std::path::Path, port: u16, args: &[&str]) -> (bool, String) {
    let mut c = Command::new(STIGMER);
    c.arg("--home")
        .arg(home)
        .arg("--port")
        .arg(port.to_string())
        .args(args)
        .env_remove("STIGMER_HOME")
        .env("STIGMER_UNSUPERVISED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = wait_output(c.spawn().unwrap(), Duration::from_secs(20), "stigmer");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn mode_of(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn set_mode(p: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn unsafe_existing_state_dirs_are_refused_and_never_chmoded() {
    let env = Env::new("h-unsafe");
    let cases: [(&str, u32, &str); 3] = [
        ("sticky", 0o1777, "sticky"),
        ("world", 0o777, "writable by everyone"),
        ("group", 0o770, "writable by its group"),
    ];
    for (name, mode, needle) in cases {
        let home = env.home.join(name);
        std::fs::create_dir_all(&home).unwrap();
        set_mode(&home, mode);
        for args in [&["local", "status"][..], &["local", "start"]] {
            let (ok, text) = stigmer_at(&home, env.port, args);
            assert!(!ok, "{name} {args:?}: {text}");
            assert!(
                text.contains(needle) && text.contains("--home"),
                "{name}: the refusal says why and what to do: {text}"
            );
            assert_eq!(mode_of(&home), mode, "{name}: never chmod-ed");
        }
    }
    // A safe home whose logs/ is writable by others, or owned by someone else.
    let home = env.home.join("sub");
    stigmer_at(&home, env.port, &["local", "status"]);
    assert_eq!(mode_of(&home), 0o700, "a dir stigmer created is 0700");
    set_mode(&home.join("logs"), 0o777);
    let (ok, text) = stigmer_at(&home, env.port, &["local", "status"]);
    assert!(
        !ok && text.contains("logs") && text.contains("everyone"),
        "{text}"
    );
    assert_eq!(mode_of(&home.join("logs")), 0o777);
    set_mode(&home.join("logs"), 0o700);
    std::os::unix::fs::chown(home.join("temporal-data"), Some(65534), None).unwrap();
    let (ok, text) = stigmer_at(&home, env.port, &["local", "status"]);
    assert!(
        !ok && text.contains("temporal-data") && text.contains("owned by uid 65534"),
        "{text}"
    );
    // A symlinked home is refused with or without a trailing slash.
    let real = env.home.join("real");
    std::fs::create_dir_all(&real).unwrap();
    set_mode(&real, 0o700);
    let link = env.home.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    for h in [
        link.clone(),
        std::path::PathBuf::from(format!("{}/", link.display())),
    ] {
        let (ok, text) = stigmer_at(&h, env.port, &["local", "status"]);
        assert!(!ok && text.contains("symlink"), "{}: {text}", h.display());
    }
}

#[test]
fn symlinked_log_or_lock_is_refused_naming_the_file() {
    let env = Env::fixture("h-symlinks", &[], "");
    env.status(); // creates logs/
    let target = env.home.join("elsewhere");
    std::fs::write(&target, "precious\n").unwrap();
    for (file, rel) in [("log", "logs/temporal.log"), ("lock", "temporal.lock")] {
        let path = env.home.join(rel);
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let out = env.run(&["local", "start"], Duration::from_secs(20));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file}: {err}");
        assert!(
            err.contains(&path.display().to_string()) && err.contains("symlink"),
            "{file}: the error names the file: {err}"
        );
        assert!(
            !err.contains("cannot start"),
            "{file}: not the binary's fault: {err}"
        );
        assert_eq!(err.matches("is a symlink").count(), 1, "said once: {err}");
        assert!(env.recorded_pid().is_none(), "nothing spawned");
        let st = env.status();
        assert_ne!(st["state"], "stopped", "{file}: {st:#}");
        assert!(
            st["advice"].as_str().is_some_and(|a| a.contains(rel)),
            "{file}: status names the file: {st:#}"
        );
        if file == "lock" {
            assert_ne!(st["health"][0]["detail"], "free", "{st:#}");
        } else {
            let out = env.run(&["local", "logs"], Duration::from_secs(10));
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                !out.status.success() && !text.contains("precious"),
                "{text}"
            );
        }
        std::fs::remove_file(&path).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
}

#[test]
fn fifo_state_files_never_hang_a_command() {
    let env = Env::fixture("h-fifo", &[], "");
    for rel in ["config.toml", "temporal.pid", "intent.json"] {
        let path = env.home.join(rel);
        let saved = std::fs::read(&path).ok();
        let _ = std::fs::remove_file(&path);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        for args in [
            &["local", "status"][..],
            &["local", "start"],
            &["local", "stop"],
        ] {
            // `run` panics past its bound: a hang fails the test.
            let out = env.run(args, Duration::from_secs(20));
            let text = String::from_utf8_lossy(&out.stderr);
            if rel == "config.toml" {
                assert!(
                    !out.status.success() && text.contains("not a regular file"),
                    "{rel} {args:?}: {text}"
                );
            }
            assert!(!text.contains("panicked"), "{text}");
        }
        let _ = std::fs::remove_file(&path);
        if let Some(bytes) = saved {
            std::fs::write(&path, bytes).unwrap();
        }
    }
}

fn temp_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_failed_state_write_leaves_no_temp_file_and_clean_removes_stale_ones() {
    let env = Env::fixture("h-tmp", &[], "");
    env.status();
    // Every write past 8 bytes fails (EFBIG): the intent file `stop` writes.
    let mut c = env.command(&["local", "stop"]);
    // SAFETY: setrlimit and signal(SIG_IGN) are async-signal-safe.
    unsafe {
        c.pre_exec(|| {
            nix::libc::signal(nix::libc::SIGXFSZ, nix::libc::SIG_IGN);
            let lim = nix::libc::rlimit {
                rlim_cur: 8,
                rlim_max: 8,
            };
            nix::libc::setrlimit(nix::libc::RLIMIT_FSIZE, &lim);
            Ok(())
        });
    }
    let out = wait_output(c.spawn().unwrap(), Duration::from_secs(20), "stop");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("intent"),
        "the failed write is reported: {err}"
    );
    assert!(
        temp_files(&env.home).is_empty(),
        "{:?}",
        temp_files(&env.home)
    );

    // Temp files of writers that are gone are stale; a live writer's stays.
    let dead = {
        let mut c = Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    };
    let stale = env.home.join(format!(".intent.json.{dead}.tmp"));
    let live = env
        .home
        .join(format!(".handover.json.{}.tmp", std::process::id()));
    std::fs::write(&stale, "{").unwrap();
    std::fs::write(&live, "{").unwrap();
    let out = env.ok(&["local", "clean", "--dry-run"]);
    assert!(
        out.contains("would remove stale temp file")
            && out.contains(&format!(".intent.json.{dead}.tmp")),
        "{out}"
    );
    assert!(stale.exists());
    env.ok(&["local", "clean"]);
    assert!(!stale.exists() && live.exists());
    std::fs::remove_file(&live).unwrap();
}

/// A tiny tmpfs, unmounted on drop (lazily, so a busy file cannot keep it).
struct TinyFs(std::path::PathBuf);
impl TinyFs {
    fn new(at: std::path::PathBuf, kib: u32) -> Self {
        std::fs::create_dir_all(&at).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k,mode=700"),
                "tmpfs",
            ])
            .arg(&at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(at)
    }
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
    }
}
impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_service_that_dies_on_a_full_disk_says_the_disk_is_full() {
    let env = Env::new("h-diskfull");
    let fs = TinyFs::new(env.home.join("mnt"), 2048);
    let home = fs.0.join("home");
    std::fs::create_dir_all(&home).unwrap();
    set_mode(&home, 0o700);
    std::fs::write(
        home.join("config.toml"),
        format!(
            "temporal_bin = {FIXTURE:?}\nargs = [\"--grpc\", \"{{grpc}}\", \"--http\", \"{{http}}\"]\n\
             [restart]\ninitial_ms = 10\nmax_failures = 2\n"
        ),
    )
    .unwrap();
    let (ok, text) = stigmer_at(&home, env.port, &["local", "status"]);
    assert!(ok, "{text}");
    fs.fill();
    let (ok, text) = stigmer_at(&home, env.port, &["local", "status"]);
    assert!(ok && text.contains("is full"), "status says so: {text}");
    // The fixture dies at once writing its first line to its log.
    let (ok, text) = stigmer_at(&home, env.port, &["local", "start"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("did not start") && text.contains("is full"),
        "{text}"
    );
    // And the supervisor's crash loop says why, not just "exit code 101".
    let (ok, text) = stigmer_at(&home, env.port, &["local", "start", "--foreground"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("crash loop") && text.contains("is full"),
        "{text}"
    );
    let (_, _) = stigmer_at(&home, env.port, &["local", "kill"]);
}

#[test]
fn a_start_that_fails_quotes_the_last_lines_of_this_runs_log() {
    let env = Env::fixture(
        "h-quote",
        &["--never-ready", "--exit-after-ms", "50", "--exit-code", "3"],
        "",
    );
    env.status();
    std::fs::write(env.home.join("logs/temporal.log"), "an older run's line\n").unwrap();
    let out = env.run(&["local", "start"], Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("| fixture") && err.contains("exiting") && err.contains("temporal.log"),
        "the reason is on screen: {err}"
    );
    assert!(!err.contains("older run"), "only this run's lines: {err}");
}

/// `rounds` crash loops under `start --foreground` of a program that exits
/// 1 at once: each spawns exactly `spawns` times and adopts nothing dead.
fn foreground_crash_loops(tag: &str, restart: &str, rounds: usize, spawns: usize) {
    for round in 0..rounds {
        let env = Env::fixture(
            &format!("{tag}{round}"),
            &["--never-ready", "--exit-after-ms", "0", "--exit-code", "1"],
            restart,
        );
        let child = env
            .command(&["local", "start", "--foreground"])
            .spawn()
            .expect("spawn foreground");
        let out = wait_output(child, Duration::from_secs(30), "foreground crash loop");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "round {round}: failed is an error: {err}"
        );
        assert!(
            !err.contains("adopted"),
            "round {round}: adopted a dead process:\n{err}"
        );
        let log = env.log();
        assert_eq!(
            log.matches(" up: ").count(),
            spawns,
            "round {round}: exactly max_failures spawns:\n{log}\n{err}"
        );
    }
}

#[test]
fn crash_loop_under_the_supervisor_spawns_exactly_max_failures_and_never_adopts_the_dead() {
    let restart = "[restart]\ninitial_ms = 10\nmax_failures = 5\nwindow_secs = 60\n";
    foreground_crash_loops("h-loop", restart, 3, 5);
}

#[test]
fn foreground_crash_loop_with_a_short_backoff_spawns_exactly_max_failures_every_round() {
    // Restarted 10-20 ms apart: the spawns and exits race the inspections;
    // none may add a spawn or adopt the dead (default max_failures, 5).
    foreground_crash_loops(
        "h-fgloop",
        "[restart]\ninitial_ms = 10\nmax_ms = 20\n",
        8,
        5,
    );
}

#[test]
fn a_service_stopped_after_it_was_ready_is_unhealthy_not_starting() {
    // What `status` concludes on its own, with no supervisor's view.
    let env = Env::fixture("h-sigstop", &[], "ready_timeout_secs = 60.0\n").unsupervised();
    env.ok(&["local", "start"]);
    let pid = env.recorded_pid().unwrap();
    assert!(env.record().unwrap()["ready_at_ms"].as_u64().is_some());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    let st = env.status();
    assert_eq!(st["state"], "unhealthy", "{st:#}");
    assert!(
        st["advice"]
            .as_str()
            .is_some_and(|a| a.contains("was ready") && a.contains("SIGSTOP")),
        "{st:#}"
    );
    let t0 = std::time::Instant::now();
    let out = env.run(&["local", "start"], Duration::from_secs(30));
    assert!(!out.status.success());
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "start answers at once instead of waiting out the ready timeout: {:?}",
        t0.elapsed()
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    env.ok(&["local", "stop"]);
}

#[test]
fn start_right_after_kill_9_of_supervisor_and_temporal_waits_for_the_dying_lock() {
    for round in 0..3 {
        let mut env = Env::temporal(&format!("h-kill9-{round}"));
        let sup = env.spawn_foreground();
        let ready = wait_until(Duration::from_secs(30), || {
            env.recorded_pid().is_some() && port_open(env.http_port())
        });
        assert!(ready, "Temporal under the supervisor");
        std::thread::sleep(Duration::from_millis(300));
        let pid = env.recorded_pid().unwrap();
        // SAFETY: kill(2) on our own child and on the service it recorded.
        unsafe {
            nix::libc::kill(sup as i32, nix::libc::SIGKILL);
            nix::libc::kill(pid, nix::libc::SIGKILL);
        }
        let out = env.run(&["local", "start"], Duration::from_secs(60));
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_ne!(env.recorded_pid(), Some(pid));
        env.wait_foreground(sup, Duration::from_secs(5));
        env.ok(&["local", "stop"]);
    }
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_with_success() {
    let env = Env::fixture("h-pipe", &[], "");
    env.status();
    let lines: String = (0..200_000).map(|i| format!("log line {i}\n")).collect();
    std::fs::write(env.home.join("logs/temporal.log"), lines).unwrap();
    let base = format!(
        "{STIGMER:?} --home {:?} --port {}",
        env.home.display().to_string(),
        env.port
    );
    for (cmd, what) in [
        (
            format!("{base} local logs -n 100000 | head -1"),
            "logs | head",
        ),
        (
            format!("{base} local logs -n 100000 2>&1 | head -1"),
            "logs 2>&1 | head",
        ),
        (
            format!("{base} local logs -f -n 100000 | head -1"),
            "logs -f | head",
        ),
        (
            format!("{base} local status 2>&1 | head -1"),
            "status 2>&1 | head",
        ),
    ] {
        let child = Command::new("bash")
            .args(["-c", &format!("{cmd}; echo \"rc=${{PIPESTATUS[0]}}\" >&2")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_output(child, Duration::from_secs(30), what);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("rc=0"), "{what}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{what}: {err}"
        );
    }
}

#[test]
fn a_foreground_supervisor_whose_stderr_reader_is_gone_keeps_supervising() {
    let env = Env::fixture("h-pipe-fg", &[], "");
    let mut sup = env
        .command(&["local", "start", "--foreground"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    drop(sup.stderr.take()); // the reader goes away at once
    let first = wait_until(Duration::from_secs(20), || env.recorded_pid().is_some());
    assert!(first, "started");
    let pid = env.recorded_pid().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) of the service this test's supervisor recorded.
    unsafe { nix::libc::kill(pid, nix::libc::SIGKILL) };
    let new = env.wait_new_pid(pid, Duration::from_secs(20), "restart after kill -9");
    assert!(alive(new));
    assert!(
        sup.try_wait().unwrap().is_none(),
        "the supervisor is still there"
    );
    let _ = sup.kill();
    let _ = sup.wait();
    env.ok(&["local", "stop"]);
}

#[test]
fn zero_ports_are_refused_like_other_bad_ports() {
    let env = Env::fixture("h-port0", &[], "");
    for key in ["ui_port", "http_port", "port"] {
        env.write_config(&format!("{key} = 0\n"));
        let mut c = Command::new(STIGMER);
        c.arg("--home").arg(&env.home).args(["local", "start"]);
        if key != "port" {
            c.args(["--port", &env.port.to_string()]);
        }
        // A refused config starts nothing, a supervisor neither.
        c.env_remove("STIGMER_PORT")
            .env_remove("STIGMER_HOME")
            .env("STIGMER_UNSUPERVISED", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = wait_output(c.spawn().unwrap(), Duration::from_secs(20), "start");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{key}: {err}");
        assert!(
            err.contains(&format!("{key} = 0")) && err.contains("1-65535"),
            "{err}"
        );
        assert!(env.recorded_pid().is_none(), "nothing spawned");
    }
}

#[test]
fn dash_refuses_an_output_that_is_not_a_terminal() {
    let env = Env::fixture("h-dashfile", &[], "");
    let file = env.home.join("dash.out");
    let out = env
        .command(&["dash"])
        .stdout(std::fs::File::create(&file).unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("terminal"), "{err}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"",
        "no escape codes in the file"
    );
    assert!(env.recorded_pid().is_none(), "nothing started");
}

/// Live processes whose command line contains `needle`.
fn running_with(needle: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
                && stat_field(*pid, 3).is_some_and(|s| s != "Z")
        })
        .collect()
}

#[test]
fn a_hung_exec_probe_is_killed_at_the_readiness_deadline() {
    // The check hangs (a shell whose child sleeps): with a 2 s readiness
    // deadline the start fails by then plus a second, and no part of the
    // check outlives it.
    let env = Env::fixture("h-hung-probe", &[], "");
    let mut cfg = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    cfg += &service(
        "slow",
        &[],
        "ready = { exec = [\"sh\", \"-c\", \"sleep 31.4159; true\"] }\nready_timeout_secs = 2.0\n",
    );
    env.write_config(&cfg);
    let t0 = Instant::now();
    let out = env.run(&["local", "start", "slow"], Duration::from_secs(30));
    let took = t0.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("slow"), "{err}");
    assert!(
        took < Duration::from_millis(3500),
        "failed after {took:?}: {err}"
    );
    let left = running_with("31.4159");
    assert!(
        wait_until(Duration::from_secs(1), || running_with("31.4159")
            .is_empty()),
        "probe processes outlived the start: {left:?}"
    );
}

#[test]
fn a_30_mb_line_without_a_newline_is_shown_capped_on_every_path() {
    let env = Env::fixture("h-huge-line", &[], "");
    env.status(); // lays out the state dir
    let log = env.home.join("logs/temporal.log");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&log).unwrap();
        writeln!(f, "level=INFO msg=before").unwrap();
        let chunk = "z".repeat(1 << 20);
        for _ in 0..30 {
            f.write_all(chunk.as_bytes()).unwrap();
        }
        f.write_all(b"THE-END").unwrap();
    }
    // The last lines: the huge one's end, marked as cut.
    let out = env.ok(&["local", "logs", "temporal", "-n", "10"]);
    assert!(out.len() < 10_000, "{} bytes", out.len());
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with('…') && last.ends_with("THE-END"),
        "{last:.80}"
    );
    // Through the filters (every kept file read line by line): capped too.
    let out = env.ok(&["local", "logs", "temporal", "--grep", "z", "-n", "10"]);
    assert!(out.len() < 10_000, "{} bytes", out.len());
    assert!(out.lines().any(|l| l.ends_with('…')), "{out:.200}");
    let out = env.ok(&["local", "logs", "temporal", "--grep", "before"]);
    assert_eq!(out.trim(), "level=INFO msg=before");
}
