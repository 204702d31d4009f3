//! Setup tasks: a service that runs to completion (`kind = "task"`); a
//! dependent with `depends_on = { NAME = "completed" }` starts only after
//! it exited with a success code, and its failure blocks the dependent.

mod support;

use std::time::Duration;

use support::*;

const HEAD: &str = "[temporal]\nenabled = false\n";

fn task(name: &str, ms: u64, code: i32, extra: &str) -> String {
    service(
        name,
        &[
            "--exit-after-ms".into(),
            ms.to_string(),
            "--exit-code".into(),
            code.to_string(),
        ],
        &format!("kind = \"task\"\n{extra}"),
    )
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_task_gates_its_dependent_is_not_run_again_by_a_start_and_a_restart_runs_it() {
    let env = Env::new("t-gate");
    let api = env.port + 1;
    env.write_config(&format!(
        "{HEAD}{}{}",
        task("setup", 400, 0, ""),
        http_service("api", api, &[], "depends_on = { setup = \"completed\" }")
    ));
    let out = env.ok(&["local", "start"]);
    assert!(out.contains("setup completed in"), "{out}");
    assert!(out.contains("(exit code 0)"), "{out}");
    assert!(out.contains("api started (PID"), "{out}");
    let services = env.services();
    let done = services["setup"]["supervisor"]["completed"].clone();
    assert_eq!(done["code"], 0, "{done}");
    // Timed from the spawn the supervisor saw (the fixture's clock starts
    // a moment before).
    assert!(done["took_ms"].as_u64().unwrap() >= 350, "{done}");
    assert_eq!(services["setup"]["supervisor"]["phase"], "stopped");
    assert_eq!(services["api"]["state"], "running");
    let ended = done["at_ms"].as_u64().unwrap();
    let api_started = env.record_of("api").expect("api's record")["started_at_ms"]
        .as_u64()
        .unwrap();
    assert!(
        api_started >= ended,
        "api spawned before setup completed: {done}"
    );
    assert!(
        env.home.join("services/setup/completed.json").exists(),
        "its run is recorded for the next supervisor"
    );

    let st = env.ok(&["local", "status"]);
    assert!(
        st.contains(&format!("{:<16} {:<10}", "setup", "completed")) && st.contains("completed in"),
        "{st}"
    );

    // Why the api started when it did: the task completed then.
    let why = env.ok(&["local", "why", "api"]);
    assert!(why.starts_with("api: running (PID"), "{why}");
    assert!(
        why.contains("setup") && why.contains("\"completed\"") && why.contains("met "),
        "{why}"
    );
    assert!(why.contains("Readiness:") && why.contains("ready"), "{why}");
    let w: serde_json::Value =
        serde_json::from_str(&env.ok(&["local", "why", "api", "--json"])).expect("why JSON");
    assert_eq!(w["chain"][0]["service"], "setup", "{w:#}");
    assert_eq!(w["chain"][0]["condition"], "completed", "{w:#}");
    assert!(
        w["chain"][0]["met"]["text"]
            .as_str()
            .unwrap()
            .contains("completed in"),
        "{w:#}"
    );
    assert!(
        w["chain"][0]["met"]["at"].as_str().unwrap() <= w["readiness"][0]["at"].as_str().unwrap(),
        "{w:#}"
    );

    // Waiting for the api waits for what it needs: the task is done.
    let w = env.ok(&["local", "wait", "api", "--timeout", "10"]);
    assert!(
        w.contains("setup completed in") && w.contains("api ready"),
        "{w}"
    );

    // A start finds it done: not run again (its record is the same run).
    let out = env.ok(&["local", "start"]);
    assert!(
        out.contains("setup completed in") && out.contains("earlier"),
        "{out}"
    );
    assert!(out.contains("api already running"), "{out}");
    assert_eq!(env.services()["setup"]["supervisor"]["completed"], done);
    // Watched a while: done stays done, nothing restarts by itself.
    std::thread::sleep(Duration::from_secs(3));
    let services = env.services();
    assert_eq!(services["setup"]["supervisor"]["restarts"], 0);
    assert_eq!(services["api"]["supervisor"]["restarts"], 0);
    assert!(services["setup"]["supervisor"]["completed"].is_object());

    // A restart runs it again, and what depends on it (a restart takes
    // the dependents) starts again only once it completed.
    let api_pid = env.pid_of("api").unwrap();
    let out = env.ok(&["local", "restart", "setup"]);
    assert!(out.contains("setup completed in"), "{out}");
    assert!(!out.contains("earlier"), "{out}");
    let again = env.services()["setup"]["supervisor"]["completed"]["at_ms"]
        .as_u64()
        .unwrap();
    assert!(again > ended, "run again");
    let api_again = env.record_of("api").expect("api's record");
    assert!(api_again["pid"].as_i64() != Some(api_pid as i64) && !alive(api_pid));
    assert!(api_again["started_at_ms"].as_u64().unwrap() >= again);
    // A stop forgets the run: the next start runs it again.
    let out = env.ok(&["local", "stop", "setup"]);
    assert!(
        out.contains("setup (a task) is not running; the next start runs it again"),
        "{out}"
    );
    assert!(!env.home.join("services/setup/completed.json").exists());
}

#[test]
fn a_task_that_fails_blocks_its_dependent_with_the_reason_and_success_codes_count() {
    let env = Env::new("t-fail");
    let api = env.port + 1;
    env.write_config(&format!(
        "{HEAD}{}{}",
        task("migrate", 100, 3, ""),
        http_service("api", api, &[], "depends_on = { migrate = \"completed\" }")
    ));
    let out = env.run(&["local", "start"], Duration::from_secs(60));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("migrate did not start: exit code 3"), "{err}");
    assert!(err.contains("api not started: migrate failed"), "{err}");
    assert!(
        env.pid_of("api").is_none() && !port_open(api),
        "api never spawned"
    );

    // Exit code 3 declared a success: done, and the api starts.
    env.write_config(&format!(
        "{HEAD}{}{}",
        task("migrate", 100, 3, "success_codes = [0, 3]"),
        http_service("api", api, &[], "depends_on = { migrate = \"completed\" }")
    ));
    let out = env.ok(&["local", "start"]);
    assert!(
        out.contains("migrate completed in") && out.contains("(exit code 3)"),
        "{out}"
    );
    assert!(out.contains("api started (PID"), "{out}");
}

#[test]
fn bad_task_configs_name_file_service_and_key() {
    let env = Env::new("t-bad");
    let fix = format!("{FIXTURE:?}");
    let cases = [
        (
            format!("[services.a]\ncommand = [{fix}]\n[services.b]\ncommand = [{fix}]\ndepends_on = {{ a = \"completed\" }}\n"),
            vec!["[services.b] depends_on.a = \"completed\"", "a is not a task"],
        ),
        (
            format!("[services.a]\ncommand = [{fix}]\nkind = \"task\"\nready = {{ tcp = 9 }}\n"),
            vec!["[services.a]", "ready: a task is done when it exits"],
        ),
        (
            format!("[services.a]\ncommand = [{fix}]\nsuccess_codes = [0]\n"),
            vec!["[services.a]", "success_codes: only a task has them"],
        ),
        (
            format!("[services.a]\ncommand = [{fix}]\nkind = \"task\"\nsuccess_codes = [300]\n"),
            vec!["[services.a]", "an exit code is 0-255"],
        ),
        (
            format!("[services.a]\ncommand = [{fix}]\nkind = \"job\"\n"),
            vec!["[services.a]", "kind", "task"],
        ),
        (
            format!("[services.a]\ncommand = [{fix}]\nkind = \"task\"\ndepends_on = {{ b = \"ready\" }}\n[services.b]\ncommand = [{fix}]\ndepends_on = {{ a = \"completed\" }}\n"),
            vec!["dependency cycle", "a → b → a"],
        ),
    ];
    let cases: Vec<(String, Vec<&str>)> = cases
        .into_iter()
        .map(|(c, w)| (format!("{HEAD}{c}"), w))
        .collect();
    env.refuses(&cases);
}
