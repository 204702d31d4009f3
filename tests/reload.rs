//! The supervisor runs the config file as it is on disk: a save is applied
//! (added services start, removed ones stop, changed ones restart,
//! unchanged ones keep their PIDs), a file that does not load changes
//! nothing and says why, and a command given another file says so.

mod support;

use std::time::Duration;

use support::*;

const HEAD: &str = "[temporal]\nenabled = false\n";

fn events(env: &Env) -> Vec<serde_json::Value> {
    env.ok(&["local", "events", "--json"])
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn has_event(env: &Env, kind: &str, detail: &str) -> bool {
    events(env)
        .iter()
        .any(|e| e["kind"] == kind && e["detail"].as_str().unwrap_or("").contains(detail))
}

/// Puts a valid file back when the test ends, however it ends: the
/// cleanup's `local kill` reads the file too.
struct Restore<'a>(&'a Env, String);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        self.0.write_config(&self.1);
    }
}

/// `local kill` with another file when the test ends, however it ends:
/// what that file's services left running goes too (the cleanup knows
/// only the home's file).
struct KillWith<'a>(&'a Env, std::path::PathBuf);

impl Drop for KillWith<'_> {
    fn drop(&mut self) {
        let mut c = self.0.command(&[]);
        c.arg("--config").arg(&self.1).args(["local", "kill"]);
        if let Ok(child) = c.spawn() {
            let _ = wait_output(
                child,
                Duration::from_secs(30),
                "local kill (the other file)",
            );
        }
    }
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_save_is_applied_added_started_removed_stopped_changed_restarted_the_rest_kept() {
    let env = Env::new("r-save");
    let (pa, pb, pc, pd) = (env.port + 1, env.port + 2, env.port + 3, env.port + 4);
    let a = http_service("a", pa, &[], "");
    let b = |x: &str| {
        http_service(
            "b",
            pb,
            &[],
            &format!("depends_on = {{ a = \"ready\" }}\nenv = {{ X = \"{x}\" }}"),
        )
    };
    let c = http_service("c", pc, &[], "");
    env.write_config(&format!("{HEAD}{a}{}{c}", b("1")));
    // Every service the test ever runs, for the cleanup's `local kill`.
    let d = http_service("d", pd, &[], "");
    let _restore = Restore(&env, format!("{HEAD}{a}{}{c}{d}", b("2")));
    env.ok(&["local", "start"]);
    let (a1, b1, c1) = (
        env.pid_of("a").unwrap(),
        env.pid_of("b").unwrap(),
        env.pid_of("c").unwrap(),
    );
    assert_eq!(env_of(b1, "X").as_deref(), Some("1"));

    // A save: d added, c removed, b changed. Nobody runs a command.
    env.write_config(&format!("{HEAD}{a}{}{d}", b("2")));
    let applied = wait_until(Duration::from_secs(20), || {
        env.pid_of("d").is_some_and(alive) && !alive(c1) && env.pid_of("b").is_some_and(|p| p != b1)
    });
    assert!(applied, "the save was not applied: {:?}", events(&env));
    assert!(
        wait_until(Duration::from_secs(10), || port_open(pd)),
        "d is not serving"
    );
    assert_eq!(
        env.pid_of("a"),
        Some(a1),
        "an unchanged service keeps its PID"
    );
    assert!(alive(a1));
    let b2 = env.pid_of("b").unwrap();
    assert!(wait_until(Duration::from_secs(10), || env_of(b2, "X")
        .as_deref()
        == Some("2")));
    assert!(
        !alive(b1) && group_gone(b1),
        "the old b is gone with its group"
    );
    assert!(group_gone(c1), "the removed c is gone with its group");
    assert!(
        has_event(&env, "reloaded", "added d; changed b; removed c"),
        "{:?}",
        events(&env)
    );
    let st = env.stack_status();
    assert_eq!(
        st["supervisor"]["config"]["path"].as_str(),
        Some(env.home.join("config.toml").to_str().unwrap()),
        "status names the file the supervisor runs: {st}"
    );
    let services = env.services();
    assert_eq!(services.len(), 3);
    assert!(
        services.values().all(|s| s["state"] == "running"),
        "{services:?}"
    );

    // A save that does not load changes nothing and says why.
    env.write_config(&format!(
        "{HEAD}{a}{}{d}\n[services.e]\ncommand = 5\n",
        b("2")
    ));
    assert!(
        wait_until(Duration::from_secs(10), || has_event(
            &env,
            "config_error",
            "[services.e]"
        )),
        "no config error event: {:?}",
        events(&env)
    );
    let bad = env.run(&["local", "reload"], Duration::from_secs(30));
    assert!(!bad.status.success());
    let err = stderr(&bad);
    assert!(
        err.contains("config.toml") && err.contains("services.e") && err.contains("command"),
        "the error names file, service and key: {err}"
    );
    assert_eq!(env.pid_of("a"), Some(a1));
    assert_eq!(env.pid_of("b"), Some(b2));
    assert!(alive(a1) && alive(b2));

    // Fixed: `local reload` applies it at once; nothing changed is said so.
    env.write_config(&format!("{HEAD}{a}{}{d}", b("2")));
    let out = env.ok(&["local", "reload"]);
    assert!(
        out.contains("Reloaded") && out.contains("config.toml"),
        "{out}"
    );
    let out = env.ok(&["local", "reload", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("reload JSON");
    assert_eq!(v["reloaded"]["added"], serde_json::json!([]), "{v}");
    assert_eq!(
        v["reloaded"]["unchanged"].as_array().map(Vec::len),
        Some(3),
        "{v}"
    );
    assert_eq!(env.pid_of("a"), Some(a1));
    // Nothing restarted by itself meanwhile.
    for s in env.services().values() {
        assert_eq!(s["supervisor"]["restarts"], 0, "{s}");
    }

    // A file that no longer loads does not keep `local stop` from working.
    env.write_config(&format!(
        "{HEAD}{a}{}{d}\n[services.e]\ncommand = 5\n",
        b("2")
    ));
    let out = env.run(&["local", "stop"], Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not load"), "{}", stderr(&out));
    for p in [a1, b2] {
        assert!(group_gone(p), "{p} stopped");
    }
    assert!(wait_until(Duration::from_secs(10), || env
        .supervisors()
        .is_empty()));
}

#[test]
fn a_failed_start_fixed_in_the_file_starts_at_once_and_another_file_is_never_silent() {
    let env = Env::new("r-fix");
    let p = env.port + 1;
    let broken = format!("{HEAD}\n[services.x]\ncommand = [\"/nonexistent/stigmer-test-x\"]\n");
    env.write_config(&broken);
    let q = env.port + 2;
    let y = http_service("y", q, &[], "");
    let _restore = Restore(&env, format!("{HEAD}{}{y}", http_service("x", p, &[], "")));
    let out = env.run(&["local", "start"], Duration::from_secs(60));
    assert!(!out.status.success(), "a missing program cannot start");
    assert!(
        !env.supervisors().is_empty(),
        "the supervisor stays, watching the file"
    );
    // Fixed, and started at once (no waiting for the watcher): the start
    // has the supervisor run the file as it is now.
    env.write_config(&format!("{HEAD}{}", http_service("x", p, &[], "")));
    let out = env.ok(&["local", "start"]);
    assert!(out.contains("x started (PID"), "{out}");
    let x = env.pid_of("x").expect("x runs");

    // Another file: refused, with what to do; nothing of it started.
    let other = env.home.join("other.toml");
    std::fs::write(&other, format!("{HEAD}{y}")).unwrap();
    let with_other = |args: &[&str]| {
        let mut c = env.command(&[]);
        c.arg("--config").arg(&other).args(args);
        wait_output(
            c.spawn().unwrap(),
            Duration::from_secs(60),
            "stigmer --config other",
        )
    };
    let o = with_other(&["local", "start"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("runs") && err.contains("config.toml") && err.contains("local reload"),
        "{err}"
    );
    assert!(!port_open(q), "nothing of the other file started");
    let st = with_other(&["local", "status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).expect("status JSON");
    assert!(
        v["supervisor"]["other_config"]
            .as_str()
            .is_some_and(|w| w.contains("local reload")),
        "status says the supervisor runs another file: {v}"
    );
    // `reload` with that file: the supervisor runs it from now on.
    let o = with_other(&["local", "reload"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        said.contains("other.toml") && said.contains("added y") && said.contains("removed x"),
        "{said}"
    );
    assert!(
        wait_until(Duration::from_secs(15), || port_open(q)),
        "y serves"
    );
    assert!(
        wait_until(Duration::from_secs(10), || group_gone(x)),
        "x stopped"
    );
    let o = with_other(&["local", "start"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("y already running"));
    let o = with_other(&["local", "stop"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_dash_given_another_file_says_so_only_watches_and_l_makes_the_supervisor_run_it() {
    let env = Env::new("r-dash-other");
    let (pa, pb) = (env.port + 1, env.port + 2);
    env.write_config(&format!("{HEAD}{}", http_service("a", pa, &[], "")));
    env.ok(&["local", "start"]);
    let a = env.pid_of("a").unwrap();
    let other = env.home.join("other.toml");
    std::fs::write(&other, format!("{HEAD}{}", http_service("b", pb, &[], ""))).unwrap();
    let _kill_other = KillWith(&env, other.clone());
    let tmux = support::tmux::Tmux::new("r-other");
    let args = format!("--config {} --no-start", other.display());
    tmux.launch_sized(&env, "dash", &args, 200, 40);
    let header = |s: &str| s.lines().next().unwrap_or("").to_string();
    let footer = |s: &str| s.trim_end().lines().last().unwrap_or("").to_string();
    tmux.wait("the other file named", Duration::from_secs(15), |s| {
        let f = footer(s);
        f.contains("L: make the supervisor") && f.contains("config.toml")
    });
    // Its own service is shown as nobody's (not the other stack's a).
    tmux.wait("b unsupervised", Duration::from_secs(10), |s| {
        header(s).contains(" b ") && header(s).contains("watching only")
    });
    // Keys only watch: nothing of this file starts.
    tmux.keys("s");
    tmux.wait("refused", Duration::from_secs(5), |s| {
        footer(s).contains("watching only")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!port_open(pb) && alive(a));
    // L: the supervisor runs this dashboard's file from now on.
    tmux.keys("L");
    assert!(wait_until(Duration::from_secs(20), || port_open(pb) && group_gone(a)));
    tmux.wait("b running", Duration::from_secs(15), |s| {
        s.contains("b  ") && s.contains("RUNNING") && !footer(s).contains("L: make")
    });
    let mut c = env.command(&[]);
    c.arg("--config")
        .arg(&other)
        .args(["local", "status", "--json"]);
    let out = wait_output(c.spawn().unwrap(), Duration::from_secs(30), "status");
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(
        st["supervisor"]["config"]["path"].as_str(),
        Some(other.to_str().unwrap()),
        "{st}"
    );
    tmux.keys("q");
}
