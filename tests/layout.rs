//! A stack's files cannot clash: each declared service keeps its lock, PID
//! file, start lock and intent in its own `services/NAME/`, names stigmer
//! uses for itself are refused, and a home an older stigmer laid out flat
//! is adopted (its running services kept, same PIDs), never broken.

mod support;

use std::time::Duration;

use support::*;

fn lock_holders(env: &Env, name: &str) -> Vec<i64> {
    env.services()[name]["lock"]["holders"]
        .as_array()
        .map(|h| h.iter().filter_map(|x| x["pid"].as_i64()).collect())
        .unwrap_or_default()
}

#[test]
fn names_stigmer_uses_for_itself_are_refused_and_nothing_starts() {
    for name in ["supervisor", "stigmer"] {
        let env = Env::fixture(&format!("l-reserved-{name}"), &[], "");
        let mut cfg = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
        cfg += &service(name, &[], "");
        env.write_config(&cfg);
        let out = env.run(&["local", "start"], Duration::from_secs(30));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains(&format!("[services.{name}]"))
                && err.contains("a name stigmer uses for itself"),
            "names the service and why: {err}"
        );
        assert!(env.recorded_pid().is_none(), "nothing started: {err}");
        assert!(
            !env.home.join("stigmer.sock").exists(),
            "no supervisor left behind"
        );
    }
}

#[test]
fn a_service_and_one_named_start_dash_it_have_their_own_locks_and_both_run_and_stop() {
    let env = Env::fixture("l-clash", &[], "");
    let (a, b) = (env.port + 1, env.port + 2);
    let mut cfg = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    cfg += &http_service("api", a, &[], "");
    cfg += &http_service("start-api", b, &[], "");
    env.write_config(&cfg);
    let out = env.ok(&["local", "start"]);
    assert!(
        out.contains("api started") && out.contains("start-api started"),
        "{out}"
    );
    let (api, sapi) = (env.pid_of("api").unwrap(), env.pid_of("start-api").unwrap());
    assert_ne!(api, sapi);
    assert_eq!(lock_holders(&env, "api"), vec![api as i64]);
    assert_eq!(lock_holders(&env, "start-api"), vec![sapi as i64]);
    for (name, pid) in [("api", api), ("start-api", sapi)] {
        let dir = env.home.join("services").join(name);
        assert!(
            dir.join("lock").is_file() && dir.join("pid").is_file(),
            "{name}"
        );
        assert_eq!(env.pid_of(name), Some(pid));
    }
    // Nothing of either sits where the other's (or stigmer's) files are.
    for f in ["api.lock", "start-api.lock", "api.pid", "start-api.pid"] {
        assert!(
            !env.home.join(f).exists(),
            "{f} at the top of the state dir"
        );
    }
    env.ok(&["local", "stop"]);
    assert!(!alive(api) && !alive(sapi));
    let st = env.stack_status();
    assert_eq!(st["state"], "stopped", "{st}");
}

#[test]
fn a_home_laid_out_flat_by_an_older_stigmer_is_adopted_with_its_running_service() {
    let env = Env::fixture("l-legacy", &[], "");
    let port = env.port + 1;
    let mut cfg = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    cfg += &http_service("api", port, &[], "");
    env.write_config(&cfg);
    env.ok(&["local", "start"]);
    let pid = env.pid_of("api").unwrap();
    // The supervisor goes (kill -9, proven ours), the service stays; its
    // files move back to where an older stigmer kept them. The lock is the
    // same inode, still held by the service.
    let sups = env.supervisors();
    assert_eq!(sups.len(), 1, "{sups:?}");
    let sup = sups[0];
    // `supervisors()` proves it: a `local supervise` with this test's home.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("our own supervisor");
    assert!(wait_until(Duration::from_secs(5), || !alive(sup)));
    let dir = env.home.join("services/api");
    std::fs::rename(dir.join("lock"), env.home.join("api.lock")).unwrap();
    std::fs::rename(dir.join("pid"), env.home.join("api.pid")).unwrap();
    std::fs::rename(dir.join("intent.json"), env.home.join("api.intent.json")).unwrap();
    // The next command reads and adopts it: same PID, its lock held by it.
    let out = env.ok(&["local", "start"]);
    assert!(
        out.contains(&format!("api already running (PID {pid})")),
        "{out}"
    );
    assert_eq!(env.pid_of("api"), Some(pid));
    assert_eq!(lock_holders(&env, "api"), vec![pid as i64]);
    assert!(!env.home.join("api.lock").exists() && !env.home.join("api.pid").exists());
    // Supervised again: a crash is restarted.
    kill_9_proven(&env, "api", pid);
    let new = wait_until(Duration::from_secs(20), || {
        env.pid_of("api").is_some_and(|p| p != pid) && env.services()["api"]["state"] == "running"
    });
    assert!(new, "the adopted service is supervised");
    env.ok(&["local", "stop"]);
}

#[test]
fn env_files_are_read_in_order_env_wins_and_status_names_the_files_not_the_values() {
    let env = Env::fixture("l-envfile", &[], "");
    let port = env.port + 1;
    std::fs::write(
        env.home.join(".env"),
        "# comment\nGREETING=from-env-file\nSHARED=first\nOVERRIDDEN=file\n",
    )
    .unwrap();
    std::fs::write(env.home.join(".env.local"), "SHARED=second\n").unwrap();
    let mut cfg = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    cfg += &http_service(
        "api",
        port,
        &[],
        "env_file = [\".env\", { path = \".env.local\", optional = true }, { path = \".env.missing\", optional = true }]\nenv = { OVERRIDDEN = \"table\" }",
    );
    env.write_config(&cfg);
    env.ok(&["local", "start"]);
    let pid = env.pid_of("api").unwrap();
    assert_eq!(env_of(pid, "GREETING").as_deref(), Some("from-env-file"));
    assert_eq!(
        env_of(pid, "SHARED").as_deref(),
        Some("second"),
        "a later file wins"
    );
    assert_eq!(
        env_of(pid, "OVERRIDDEN").as_deref(),
        Some("table"),
        "env wins"
    );
    let api = &env.services()["api"];
    let files: Vec<&str> = api["env_files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert_eq!(files.len(), 2, "{api}");
    assert!(files[0].ends_with("/.env") && files[1].ends_with("/.env.local"));
    let text = env.ok(&["local", "status", "api"]);
    assert!(
        text.contains(".env.local") && !text.contains("from-env-file"),
        "{text}"
    );
    env.ok(&["local", "stop"]);
}

#[test]
fn a_missing_env_file_a_directory_or_a_fifo_is_a_clear_error_and_nothing_starts() {
    let env = Env::fixture("l-envbad", &[], "");
    let port = env.port + 1;
    std::fs::create_dir_all(env.home.join("envdir")).unwrap();
    let fifo = env.home.join("envfifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let base = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    for (file, says) in [
        (".env.nope", "create it, fix the path"),
        ("envdir", "not a regular file"),
        ("envfifo", "not a regular file"),
    ] {
        let cfg = base.clone() + &http_service("api", port, &[], &format!("env_file = {file:?}"));
        env.write_config(&cfg);
        let out = env.run(&["local", "start"], Duration::from_secs(20));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file}: {err}");
        assert!(
            err.contains("[services.api]") && err.contains(file) && err.contains(says),
            "{file}: names the service, the file and what to do: {err}"
        );
        assert!(env.recorded_pid().is_none() && env.pid_of("api").is_none());
    }
}

#[test]
fn a_profile_selects_its_services_and_the_rest_always_run() {
    let env = Env::fixture("l-profile", &[], "");
    let (api, dbg) = (env.port + 1, env.port + 2);
    let base = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    let cfg = base.clone()
        + &http_service("api", api, &[], "")
        + &http_service("debugger", dbg, &[], "profiles = [\"debug\"]");
    env.write_config(&cfg);
    // Not selected: not part of the stack at all.
    env.ok(&["local", "start"]);
    let names: Vec<String> = env.services().keys().cloned().collect();
    assert!(names.contains(&"api".to_string()) && !names.contains(&"debugger".to_string()));
    assert!(env.pid_of("debugger").is_none());
    env.ok(&["local", "stop"]);
    // Selected: it runs too, and the detached supervisor knows it (a crash
    // of it is restarted).
    env.ok(&["--profile", "debug", "local", "start"]);
    let pid = env.pid_of("debugger").expect("debugger started");
    kill_9_proven(&env, "debugger", pid);
    let restarted = wait_until(Duration::from_secs(20), || {
        env.pid_of("debugger").is_some_and(|p| p != pid)
    });
    assert!(restarted, "the supervisor runs the same profile");
    let out = env.run(&["local", "status", "--json"], Duration::from_secs(20));
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = st["services"].as_array().map(Vec::len);
    assert_eq!(
        n,
        Some(2),
        "without the profile, status shows the rest: {st}"
    );
    // STIGMER_PROFILE selects the same way.
    let out = env
        .command(&["local", "status", "--json"])
        .env("STIGMER_PROFILE", "debug")
        .output()
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["services"].as_array().map(Vec::len), Some(3), "{st}");
    env.ok(&["--profile", "debug", "local", "stop"]);
    assert!(env.pid_of("debugger").is_none() && env.pid_of("api").is_none());
    // Depending on a service the profiles leave out is an error that says
    // which profile brings it in.
    let cfg = cfg
        + &service(
            "worker",
            &["--grpc".into(), (env.port + 3).to_string()],
            "depends_on = { debugger = \"ready\" }",
        );
    env.write_config(&cfg);
    let out = env.run(&["local", "start"], Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("[services.worker] depends on debugger") && err.contains("--profile debug"),
        "{err}"
    );
    // A bad profile name is refused.
    let out = env.run(
        &["--profile", "Bad Name", "local", "status"],
        Duration::from_secs(20),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a profile name"));
}
