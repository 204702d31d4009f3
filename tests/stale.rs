//! Stale and hostile state: RELIABILITY.md 12-17.

mod support;

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

fn write_pid_file(env: &Env, pid: i32, start_ticks: u64) {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let rec = serde_json::json!({
        "service": "temporal", "pid": pid, "pgid": pid, "sid": pid, "start_ticks": start_ticks,
        "boot_id": boot.trim(), "cmdline": ["temporal"], "ports": [], "version": "0",
        "started_at_ms": 1, "started_by_pid": 1, "started_by": "test", "tag": "temporal:x:y"
    });
    std::fs::write(env.home.join("temporal.pid"), rec.to_string()).unwrap();
}

/// A process that is not ours in any way (no tag, own group).
struct Stranger(std::process::Child);
impl Stranger {
    fn new() -> Self {
        use std::os::unix::process::CommandExt;
        let mut c = Command::new("sleep");
        c.arg("300").process_group(0).stdin(Stdio::null());
        Self(c.spawn().unwrap())
    }
    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}
impl Drop for Stranger {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn stale_pid_file_of_a_dead_process_is_removed_and_a_fresh_start_happens() {
    let env = Env::fixture("s-dead", &[], "");
    let dead = {
        let mut c = Command::new("true").spawn().unwrap();
        let pid = c.id() as i32;
        c.wait().unwrap();
        pid
    };
    write_pid_file(&env, dead, 12345);
    assert_eq!(env.status()["state"], "stale");
    let out = env.ok(&["local", "clean", "--dry-run"]);
    assert!(out.contains("would remove PID file"), "{out}");
    assert!(
        env.home.join("temporal.pid").exists(),
        "dry run changes nothing"
    );
    let out = env.ok(&["local", "start"]);
    assert!(out.contains("started"), "{out}");
    assert_ne!(env.recorded_pid(), Some(dead));
}

#[test]
fn pid_reused_by_a_stranger_is_never_signalled() {
    let env = Env::fixture("s-reused", &[], "");
    let stranger = Stranger::new();
    // The PID file names the stranger's PID with another start time: a reuse.
    let real_ticks: u64 = stat_field(stranger.pid(), 22).unwrap().parse().unwrap();
    write_pid_file(&env, stranger.pid(), real_ticks + 1000);
    let st = env.status();
    assert_eq!(st["state"], "stale", "{st:#}");
    assert!(
        st["pid_file"]["identity"]
            .as_str()
            .unwrap()
            .starts_with("mismatch"),
        "{st:#}"
    );
    env.ok(&["local", "clean"]);
    env.ok(&["local", "kill"]);
    write_pid_file(&env, stranger.pid(), real_ticks + 1000);
    env.ok(&["local", "stop", "--grace", "1"]);
    let out = env.ok(&["local", "start"]);
    assert!(out.contains("started"), "{out}");
    env.ok(&["local", "stop"]);
    assert!(
        alive(stranger.pid()),
        "the stranger survived clean, kill, stop and start"
    );
}

#[test]
fn corrupt_empty_oversized_or_symlinked_pid_files_are_stale_not_fatal() {
    let env = Env::fixture("s-corrupt", &[], "");
    let path = env.home.join("temporal.pid");
    type Make<'a> = Box<dyn Fn() + 'a>;
    let cases: Vec<(&str, Make)> = vec![
        ("empty", Box::new(|| std::fs::write(&path, "").unwrap())),
        (
            "garbage",
            Box::new(|| std::fs::write(&path, "{not json\u{0}\u{1}").unwrap()),
        ),
        (
            "oversized",
            Box::new(|| std::fs::write(&path, vec![b'7'; 200_000]).unwrap()),
        ),
        ("pid 1", Box::new(|| write_pid_file(&env, 1, 1))),
        (
            "symlink",
            Box::new(|| std::os::unix::fs::symlink("/etc/passwd", &path).unwrap()),
        ),
    ];
    for (name, make) in cases {
        let _ = std::fs::remove_file(&path);
        make();
        let st = env.status();
        assert_eq!(st["state"], "stale", "{name}: {st:#}");
        assert_eq!(st["pid_file"]["state"], "corrupt", "{name}");
        let out = env.ok(&["local", "start"]);
        assert!(out.contains("started"), "{name}: {out}");
        env.ok(&["local", "stop"]);
    }
    assert!(
        std::fs::read_to_string("/etc/passwd")
            .unwrap()
            .contains("root"),
        "never written through"
    );
}

#[test]
fn corrupt_config_is_a_clear_error() {
    let env = Env::fixture("s-config", &[], "");
    for text in [
        "port = \"seven\"",
        "grace_secs = -3.0",
        "[restart]\nmax_failures = 0",
        "nonsense ===",
    ] {
        env.write_config(text);
        let out = env.run(&["local", "start"], Duration::from_secs(20));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}");
        assert!(
            err.contains("config.toml") && err.contains("fix or remove it"),
            "{text}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = env
        .command(&["local", "status"])
        .env("STIGMER_PORT", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn port_held_by_a_stranger_is_named_and_left_alone() {
    let env = Env::fixture("s-port", &[], "");
    // A stranger listening on the UI port (Temporal panics if it cannot bind it).
    let mut holder = Command::new("python3")
        .args(["-c", &format!("import socket,time;s=socket.socket();s.bind(('127.0.0.1',{}));s.listen();print('up',flush=True);time.sleep(300)", env.ui_port())])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let hp = holder.id() as i32;
    assert!(wait_until(Duration::from_secs(10), || port_open(
        env.ui_port()
    )));
    // The fixture ignores the UI port, so only the pre-spawn check can refuse.
    let out = env.run(&["local", "start"], Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("PID {hp}")) && err.contains("python3") && err.contains("ui port"),
        "{err}"
    );
    assert!(alive(hp), "holder untouched");
    assert!(
        env.tagged().is_empty() && env.recorded_pid().is_none(),
        "nothing spawned"
    );
    let st = env.status();
    let ui = st["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "ui")
        .unwrap()
        .clone();
    assert_eq!(
        (ui["owner_pid"].as_i64(), ui["ours"].as_bool()),
        (Some(hp as i64), Some(false))
    );
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn concurrent_starts_make_exactly_one_service_and_all_succeed() {
    let env = Env::fixture("s-race", &["--ready-after-ms", "300"], "");
    let children: Vec<_> = (0..4)
        .map(|_| env.command(&["local", "start"]).spawn().unwrap())
        .collect();
    let outs: Vec<String> = children
        .into_iter()
        .map(|c| {
            let o = wait_output(c, Duration::from_secs(30), "concurrent start");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).into_owned()
        })
        .collect();
    assert_eq!(
        outs.iter().filter(|o| o.contains("started")).count(),
        1,
        "{outs:?}"
    );
    assert_eq!(
        outs.iter().filter(|o| o.contains("reused")).count(),
        3,
        "{outs:?}"
    );
    let st = env.status();
    assert_eq!(st["members"].as_array().unwrap().len(), 1);
    assert!(
        st["escaped"].as_array().unwrap().is_empty()
            && st["orphans"].as_array().unwrap().is_empty()
    );
    assert_eq!(env.log().matches(" up: ").count(), 1, "spawned once");
}

#[test]
fn unlocked_lock_file_is_taken_and_never_deleted() {
    let env = Env::fixture("s-lockfile", &[], "");
    let lock = env.home.join("temporal.lock");
    std::fs::write(&lock, "").unwrap();
    let ino = std::fs::metadata(&lock).unwrap().ino();
    env.ok(&["local", "start"]);
    env.ok(&["local", "kill"]);
    env.ok(&["local", "start"]);
    env.ok(&["local", "stop"]);
    env.ok(&["local", "clean"]);
    assert_eq!(
        std::fs::metadata(&lock).unwrap().ino(),
        ino,
        "same inode throughout"
    );
}
