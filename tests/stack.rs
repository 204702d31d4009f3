//! A stack of services from the config: dependency order, parallel starts,
//! blocked dependents, per-service isolation and stop order, config errors.
//! Fixture services (real processes, real signals, real ports).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::*;

fn pid_record(env: &Env, name: &str) -> Option<serde_json::Value> {
    env.record_of(name)
}

fn pid_of(env: &Env, name: &str) -> i32 {
    env.pid_of(name)
        .unwrap_or_else(|| panic!("{name} has no PID file"))
}

fn ms(rec: &serde_json::Value, key: &str) -> u64 {
    rec[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {rec}"))
}

fn states(env: &Env) -> HashMap<String, String> {
    env.services()
        .into_iter()
        .map(|(n, s)| (n, s["state"].as_str().unwrap_or_default().to_string()))
        .collect()
}

#[test]
fn independent_services_start_in_parallel_and_a_dependent_only_after_them() {
    let env = Env::fixture("k-parallel", &["--ready-after-ms", "700"], "");
    let (a, b, c) = (env.port + 1, env.port + 2, env.port + 3);
    let mut cfg = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    cfg += &http_service("alpha", a, &["--ready-after-ms", "700"], "");
    cfg += &http_service("beta", b, &["--ready-after-ms", "700"], "");
    cfg += &http_service(
        "gamma",
        c,
        &[],
        "depends_on = { alpha = \"ready\", beta = \"ready\" }",
    );
    env.write_config(&cfg);
    let t0 = std::time::Instant::now();
    let out = env.ok(&["local", "start"]);
    let took = t0.elapsed();
    for name in ["Temporal", "alpha", "beta", "gamma"] {
        assert!(out.contains(&format!("{name} started (PID")), "{out}");
    }
    let rec: HashMap<&str, serde_json::Value> = ["temporal", "alpha", "beta", "gamma"]
        .iter()
        .map(|n| (*n, pid_record(&env, n).expect("record")))
        .collect();
    // Parallel: each independent service was spawned before the others got ready.
    for (x, y) in [
        ("temporal", "alpha"),
        ("alpha", "beta"),
        ("beta", "temporal"),
    ] {
        assert!(
            ms(&rec[x], "started_at_ms") < ms(&rec[y], "ready_at_ms")
                && ms(&rec[y], "started_at_ms") < ms(&rec[x], "ready_at_ms"),
            "{x} and {y} did not start in parallel: {rec:?}"
        );
    }
    // The dependent: spawned only once both dependencies were ready.
    let deps_ready = ms(&rec["alpha"], "ready_at_ms").max(ms(&rec["beta"], "ready_at_ms"));
    assert!(ms(&rec["gamma"], "started_at_ms") >= deps_ready, "{rec:?}");
    println!(
        "stack of 4 (3 independent, ready after 700 ms each, then 1 dependent) started in {} ms",
        took.as_millis()
    );
    // Every service has its own files, lock and environment.
    let gamma = pid_of(&env, "gamma");
    assert_eq!(
        env_of(gamma, "TEMPORAL_ADDRESS"),
        Some(format!("127.0.0.1:{}", env.port))
    );
    assert_eq!(
        env_of(gamma, "STIGMER_SERVICE_NAME").as_deref(),
        Some("gamma")
    );
    assert!(env.home.join("logs/gamma.log").exists());
    assert!(states(&env).values().all(|s| s == "running"));
    // A second start reuses every one of them.
    let again = env.ok(&["local", "start"]);
    assert_eq!(again.matches("reused").count(), 4, "{again}");
}

#[test]
fn a_dependency_that_never_gets_ready_blocks_its_dependents_with_the_reason() {
    let env = Env::fixture("k-blocked", &[], "");
    let (api, worker) = (env.port + 1, env.port + 2);
    let mut cfg = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    cfg += &http_service("api", api, &["--never-ready"], "ready_timeout_secs = 1.5");
    cfg += &service(
        "worker",
        &["--grpc".into(), worker.to_string()],
        "depends_on = { api = \"ready\" }",
    );
    env.write_config(&cfg);
    let out = env.run(&["local", "start"], Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("api did not start: not ready after"), "{err}");
    assert!(err.contains("worker not started: api failed"), "{err}");
    assert!(pid_record(&env, "worker").is_none(), "worker was spawned");
    assert!(!port_open(worker));
    // The one that did start is fine, and the failed one was cleaned up.
    let st = states(&env);
    assert_eq!(st["temporal"], "running");
    assert_eq!(st["api"], "stopped");
    assert_eq!(st["worker"], "stopped");
}

#[test]
fn kill_9_of_one_service_touches_no_other_and_stop_takes_only_its_dependents() {
    // The bare lifecycle: what start and clean do about orphans that hold
    // a lock, with no supervisor to reap them first.
    let env = Env::fixture("k-isolate", &[], "").unsupervised();
    let (api, worker, other) = (env.port + 1, env.port + 2, env.port + 3);
    let mut cfg = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    cfg += &http_service("api", api, &["--children", "2"], "");
    cfg += &service(
        "worker",
        &["--grpc".into(), worker.to_string()],
        "ready = { tcp = WORKER }\ndepends_on = { api = \"started\", temporal = \"ready\" }"
            .replace("WORKER", &worker.to_string())
            .as_str(),
    );
    cfg += &http_service("other", other, &[], "");
    env.write_config(&cfg);
    env.ok(&["local", "start"]);
    let pids: HashMap<&str, i32> = ["temporal", "api", "worker", "other"]
        .iter()
        .map(|n| (*n, pid_of(&env, n)))
        .collect();

    kill_9_proven(&env, "api", pids["api"]);
    assert!(wait_until(Duration::from_secs(5), || !alive(pids["api"])));
    for n in ["temporal", "worker", "other"] {
        assert!(alive(pids[n]), "{n} died with api");
        assert_eq!(pid_of(&env, n), pids[n], "{n} was touched");
    }
    // Its orphaned children still hold its lock: start says so, clean kills
    // them (only api's), and then it starts again.
    let out = env.run(&["local", "start", "api"], Duration::from_secs(20));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("api: the lock is held by"));
    let out = env.ok(&["local", "clean", "api"]);
    assert_eq!(out.matches("(orphaned)").count(), 2, "{out}");
    for n in ["temporal", "worker", "other"] {
        assert!(alive(pids[n]), "clean api touched {n}");
    }
    let out = env.ok(&["local", "start", "api"]);
    assert!(out.contains("api started (PID"), "{out}");
    let api_now = pid_of(&env, "api");
    assert_ne!(api_now, pids["api"]);

    let out = env.ok(&["local", "stop", "api"]);
    assert!(
        out.contains("also stopping what depends on api: worker"),
        "{out}"
    );
    // Dependents first: the worker's line comes before the api's.
    let w = out.find("worker stopped").expect("worker stopped");
    let a = out.find("api stopped").expect("api stopped");
    assert!(w < a, "{out}");
    assert!(group_gone(api_now) && group_gone(pids["worker"]));
    for n in ["temporal", "other"] {
        assert!(alive(pids[n]), "{n} was stopped too");
    }
    let st = states(&env);
    assert_eq!(
        (
            st["api"].as_str(),
            st["worker"].as_str(),
            st["other"].as_str()
        ),
        ("stopped", "stopped", "running")
    );
}

#[test]
fn escaped_processes_are_attributed_to_their_own_service() {
    let env = Env::fixture("k-escape", &[], "");
    let api = env.port + 1;
    let mut cfg = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    cfg += &http_service("api", api, &["--escape"], "");
    env.write_config(&cfg);
    env.ok(&["local", "start"]);
    let api_st: serde_json::Value =
        serde_json::from_str(&env.ok(&["local", "status", "api", "--json"])).unwrap();
    assert_eq!(api_st["name"], "api");
    assert_eq!(
        api_st["escaped"].as_array().map(Vec::len),
        Some(1),
        "{api_st}"
    );
    let t = env.status();
    assert_eq!(t["escaped"].as_array().map(Vec::len), Some(0), "{t}");
    // Stopping api takes its escapee too; Temporal keeps running.
    let esc = api_st["escaped"][0]["pid"].as_i64().unwrap() as i32;
    env.ok(&["local", "stop", "api"]);
    assert!(wait_until(Duration::from_secs(5), || !alive(esc)));
    assert_eq!(env.status()["state"], "running");
}

#[test]
fn concurrent_starts_of_a_stack_make_exactly_one_process_per_service() {
    let env = Env::fixture("k-race", &["--ready-after-ms", "300"], "");
    let (api, worker) = (env.port + 1, env.port + 2);
    let mut cfg = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    cfg += &http_service("api", api, &["--ready-after-ms", "300"], "");
    cfg += &service(
        "worker",
        &["--grpc".into(), worker.to_string()],
        "depends_on = { api = \"ready\" }",
    );
    env.write_config(&cfg);
    let kids: Vec<_> = (0..4)
        .map(|_| env.command(&["local", "start"]).spawn().expect("spawn"))
        .collect();
    for k in kids {
        let out = wait_output(k, Duration::from_secs(60), "concurrent start");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let st = env.stack_status();
    assert_eq!(st["state"], "running", "{st}");
    for s in st["services"].as_array().unwrap() {
        assert_eq!(s["members"].as_array().map(Vec::len), Some(1), "{s}");
        assert_eq!(
            s["lock"]["holders"].as_array().map(Vec::len),
            Some(1),
            "{s}"
        );
        assert_eq!(s["escaped"].as_array().map(Vec::len), Some(0), "{s}");
        assert_eq!(s["orphans"].as_array().map(Vec::len), Some(0), "{s}");
    }
}

#[test]
fn foreground_supervisor_restarts_only_the_crashed_service_and_stops_dependents_first() {
    let mut env = Env::fixture("k-fg", &[], "[restart]\ninitial_ms = 50\n");
    let (api, worker) = (env.port + 1, env.port + 2);
    let mut cfg = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    cfg += &http_service(
        "api",
        api,
        &[],
        "restart = { mode = \"always\", initial_ms = 50 }",
    );
    cfg += &service(
        "worker",
        &["--grpc".into(), worker.to_string()],
        "depends_on = { api = \"ready\" }",
    );
    env.write_config(&cfg);
    let sup = env.spawn_foreground();
    assert!(
        wait_until(Duration::from_secs(20), || {
            ["temporal", "api", "worker"]
                .iter()
                .all(|n| pid_record(&env, n).is_some_and(|r| r["ready_at_ms"].is_u64()))
        }),
        "the stack did not come up under the supervisor"
    );
    let before: HashMap<&str, i32> = ["temporal", "api", "worker"]
        .iter()
        .map(|n| (*n, pid_of(&env, n)))
        .collect();
    kill_9_proven(&env, "api", before["api"]);
    let mut new_api = 0;
    assert!(
        wait_until(Duration::from_secs(10), || {
            new_api = pid_record(&env, "api")
                .and_then(|r| r["pid"].as_i64())
                .unwrap_or(0) as i32;
            new_api != 0 && new_api != before["api"]
        }),
        "api was not restarted"
    );
    assert_eq!(pid_of(&env, "temporal"), before["temporal"]);
    assert_eq!(pid_of(&env, "worker"), before["worker"]);
    assert!(alive(before["worker"]) && alive(before["temporal"]));

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT our own child");
    let st = env.wait_foreground(sup, Duration::from_secs(30));
    assert!(st.is_some_and(|s| s.success()), "{st:?}");
    for pid in [before["temporal"], before["worker"], new_api] {
        assert!(group_gone(pid), "PID {pid} still there");
    }
    assert!(env.stack_status()["services"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["state"] == "stopped"));
}

#[test]
fn bad_stack_configs_say_file_service_and_key_and_start_nothing() {
    let env = Env::fixture("k-config", &[], "");
    let base = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    let p = env.port + 1;
    let fix = format!("{FIXTURE:?}");
    let twice = format!("port {p} is claimed by both \"a\" and \"b\"");
    let temporal_twice = format!(
        "port {} is claimed by both \"temporal\" and \"a\"",
        env.port
    );
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!("[services.a]\ncommand = [{fix}]\ndepends_on = {{ b = \"ready\" }}\n[services.b]\ncommand = [{fix}]\ndepends_on = {{ a = \"started\" }}\n"),
            vec!["dependency cycle", "a → b → a"],
        ),
        (
            format!("[services.a]\ncommand = [{fix}]\ndepends_on = {{ db = \"ready\" }}\n"),
            vec!["\"a\" depends on \"db\"", "known: temporal, a"],
        ),
        (
            format!("[services.a]\ncommand = [{fix}]\nports = [{p}]\n[services.b]\ncommand = [{fix}]\nports = [{p}]\n"),
            vec![twice.as_str()],
        ),
        (
            format!("[services.a]\ncommand = [{fix}]\nports = [{}]\n", env.port),
            vec![temporal_twice.as_str()],
        ),
        (
            format!("[services.a]\ncommand = [{fix}]\nready = {{ tcp = {p}, log = \"x\" }}\n"),
            vec!["[services.a]", "exactly one of http, tcp, exec, log"],
        ),
        (
            format!("[services.a]\ncommand = [{fix}]\nready = {{ http = \"https://example.com/\" }}\n"),
            vec!["[services.a]", "ready.http", "http://"],
        ),
        (
            format!("[services.a]\ncommand = [{fix}]\nready = {{ log = \"(unclosed\" }}\n"),
            vec!["[services.a]", "ready.log is not a valid regex"],
        ),
        (
            format!("[services.a]\ncommand = [{fix}]\ncolour = \"red\"\n"),
            vec!["[services.a]", "unknown field `colour`"],
        ),
        (
            "[services.a]\ncommand = []\n".to_string(),
            vec!["[services.a]", "command is empty"],
        ),
        (
            format!("[services.Bad]\ncommand = [{fix}]\n"),
            vec!["\"Bad\" is not a service name"],
        ),
        (
            format!("[services.a]\ncommand = [{fix}]\nrestart = \"sometimes\"\n"),
            vec!["[services.a]", "restart = \"sometimes\""],
        ),
        (
            "[temporal]\nport = 7233\n".to_string(),
            vec!["both at the top level", "move them into [temporal]"],
        ),
    ];
    for (extra, needles) in cases {
        env.write_config(&format!("{base}{extra}"));
        let out = env.run(&["local", "start"], Duration::from_secs(20));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra}");
        assert!(err.contains("config.toml"), "{extra}: {err}");
        for n in needles {
            assert!(err.contains(n), "{extra}: wanted {n:?} in {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        assert!(env.record().is_none(), "{extra}: something was started");
        assert!(!port_open(env.port), "{extra}: Temporal was started");
    }
}
