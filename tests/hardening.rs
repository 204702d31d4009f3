//! Regression tests for defects an adversarial pass found: each one failed
//! before its fix. Real processes, real signals.

mod support;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

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
    let stigmer_stranger = {
        // Another stigmer process (as a running dashboard would be).
        let other = Env::new("h-stranger-other");
        let mut c = other.command(&["local", "logs", "-f"]);
        c.process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        (other, c.spawn().expect("spawn stigmer logs -f"))
    };
    let (_other, mut stigmer_child) = stigmer_stranger;
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
