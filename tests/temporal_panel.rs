//! Inside Temporal: `status temporal --json`'s `temporal` object against the
//! real server and a real Python worker, and against a server that answers
//! what Temporal would not.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::*;

fn temporal_of(env: &Env) -> Value {
    let out = env.ok(&["local", "status", "temporal", "--json"]);
    let v: Value = serde_json::from_str(&out).expect("status JSON");
    v["temporal"].clone()
}

fn pid_of(env: &Env, name: &str) -> i64 {
    env.pid_of(name).expect("a PID file") as i64
}

fn cli(args: &[&str]) -> String {
    temporal_cli(args, Duration::from_secs(30))
}

/// `temporal workflow start` of type `ty` on `queue` as `id`.
fn start_workflow(address: &str, ty: &str, queue: &str, id: &str, input: Option<&str>) {
    let mut args = vec![
        "workflow",
        "start",
        "--type",
        ty,
        "--task-queue",
        queue,
        "--workflow-id",
        id,
        "--address",
        address,
    ];
    if let Some(i) = input {
        args.extend(["--input", i]);
    }
    cli(&args);
}

fn pollers_on<'a>(t: &'a Value, queue: &str) -> Vec<&'a Value> {
    t["task_queues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|q| q["name"] == queue)
        .flat_map(|q| q["pollers"].as_array().into_iter().flatten())
        .collect()
}

/// A worker of the example's, started by hand (not by stigmer) on `queue`;
/// `identity` is what it tells Temporal it is (default: the SDK's).
fn hand_worker(
    dir: &std::path::Path,
    address: &str,
    queue: &str,
    greeter: u16,
    identity: Option<String>,
) -> Reaped {
    let mut cmd = Command::new(env!("CARGO_MANIFEST_DIR").to_string() + "/.tools/venv/bin/python");
    cmd.arg(dir.join("worker.py"))
        .current_dir(dir)
        .env("TEMPORAL_ADDRESS", address)
        .env("TASK_QUEUE", queue)
        .env("GREETER_URL", format!("http://127.0.0.1:{greeter}/greet"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(id) = identity {
        cmd.env("WORKER_IDENTITY", id);
    }
    Reaped(cmd.spawn().expect("a worker by hand"))
}

/// The example's worker code `base` with a `Waits` workflow that runs
/// `first` (a line of code, or none) and then sleeps 300 s on a timer.
fn with_waits(base: &str, first: &str) -> String {
    let waits = format!(
        "@workflow.defn(name=\"Waits\")\nclass Waits:\n    @workflow.run\n    async def run(self) -> str:\n{first}        await workflow.sleep(timedelta(seconds=300))\n        return \"done\"\n\n\n"
    );
    base.replace(
        "def log(message: str) -> None:",
        &format!("{waits}def log(message: str) -> None:"),
    )
    .replace(
        "workflows=[Greet, Broken]",
        "workflows=[Greet, Broken, Waits]",
    )
}

/// A workflow run's status and run id, from Temporal's CLI.
fn described(address: &str, id: &str, run: Option<&str>) -> (String, String) {
    let mut args = vec![
        "workflow",
        "describe",
        "--workflow-id",
        id,
        "--address",
        address,
        "-o",
        "json",
    ];
    if let Some(r) = run {
        args.extend(["--run-id", r]);
    }
    let out = cli(&args);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let info = &v["workflowExecutionInfo"];
    (
        info["status"].as_str().unwrap_or("?").to_string(),
        info["execution"]["runId"]
            .as_str()
            .unwrap_or("?")
            .to_string(),
    )
}

fn completed(t: &Value) -> u64 {
    t["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["name"] == "default")
        .and_then(|n| n["workflows"]["completed"].as_u64())
        .unwrap_or(0)
}

#[test]
fn pollers_map_to_pids_and_services_and_warnings_come_and_go() {
    let mut env = Env::temporal("tp-stack");
    let greeter = env.port + 1;
    let config = env.example_stack(greeter);
    env.config = Some(config.clone());
    env.ok(&["local", "start"]);
    let wpid = pid_of(&env, "worker");
    let address = format!("127.0.0.1:{}", env.port);

    // The worker's pollers on its queue: its PID, its service.
    let mut t = Value::Null;
    let mapped = wait_until(Duration::from_secs(20), || {
        t = temporal_of(&env);
        let ps = pollers_on(&t, "hello");
        ps.iter()
            .any(|p| p["kind"] == "workflow" && p["pid"] == wpid && p["service"] == "worker")
            && ps
                .iter()
                .any(|p| p["kind"] == "activity" && p["pid"] == wpid)
    });
    assert!(mapped, "{t:#}");
    assert_eq!(
        t["version"].as_str().map(|v| !v.is_empty()),
        Some(true),
        "{t:#}"
    );
    assert!(t["persistence"]["path"]
        .as_str()
        .unwrap()
        .ends_with("temporal.db"));
    assert!(t["error"].is_null(), "{t:#}");
    assert!(
        !t["warnings"].to_string().contains("does not poll"),
        "{t:#}"
    );

    // The worker restarted (kill -9, the supervisor respawns it): Temporal
    // still lists the dead one's pollers for minutes; they are shown as
    // exited, never as strangers, and the new worker is not warned about
    // while its first poll comes in.
    kill_9_proven(&env, "worker", wpid as i32);
    let mut new = None;
    assert!(wait_until(Duration::from_secs(20), || {
        new = env.pid_of("worker").filter(|p| *p as i64 != wpid);
        new.is_some()
    }));
    let new = new.unwrap_or_default() as i64;
    env.ok(&["local", "wait", "worker", "--timeout", "30"]);
    let mut t = Value::Null;
    let ok = wait_until(Duration::from_secs(20), || {
        t = temporal_of(&env);
        let ps = pollers_on(&t, "hello");
        ps.iter()
            .any(|p| p["pid"] == new && p["service"] == "worker")
            && ps.iter().any(|p| {
                p["exited"] == true
                    && p["identity"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with(&format!("{wpid}@"))
            })
    });
    assert!(ok, "{t:#}");
    let w = t["warnings"].to_string();
    assert!(
        !w.contains("does not poll") && !w.contains("not managed"),
        "{t:#}"
    );
    assert!(
        pollers_on(&t, "hello").iter().all(|p| p["pid"] != wpid),
        "the dead PID is not tied to anything: {t:#}"
    );

    // A workflow completes: the count moves.
    let before = completed(&t);
    run_greet(&env, "panel");
    assert!(
        wait_until(Duration::from_secs(10), || completed(&temporal_of(&env))
            == before + 1),
        "completed was {before}"
    );

    // A workflow on a queue nobody polls: a warning at the next look. (Of a
    // type no worker registers, so it stays running once a worker polls.)
    start_workflow(&address, "NoSuchWorkflow", "orphans", "lonely", None);
    let t = temporal_of(&env);
    let w = t["warnings"].to_string();
    assert!(
        w.contains("workflow lonely has waited")
            && w.contains("task queue orphans, which no worker polls"),
        "{t:#}"
    );

    // A worker for it, started by hand: the warning goes, and this one
    // says the poller is not stigmer's.
    let dir = config.parent().unwrap();
    let stranger = hand_worker(dir, &address, "orphans", greeter, None);
    let spid = stranger.0.id() as i64;
    let mut t = Value::Null;
    let seen = wait_until(Duration::from_secs(30), || {
        t = temporal_of(&env);
        let w = t["warnings"].to_string();
        !w.contains("lonely")
            && w.contains(&format!(
                "a poller on orphans is a process not managed by stigmer (PID {spid})"
            ))
    });
    assert!(seen, "{t:#}");
    assert!(pollers_on(&t, "orphans")
        .iter()
        .all(|p| p["pid"] == spid && p["service"].is_null()));
    drop(stranger);

    // A worker whose identity names another local process (a `sleep` of
    // this test's, which talks to nobody): a claim, shown as one, never
    // tied to that process and never blamed as a stranger's poller.
    let sleeper = Reaped(Command::new("sleep").arg("300").spawn().expect("sleep"));
    let claim = sleeper.0.id() as i64;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    start_workflow(&address, "NoSuchWorkflow", "claims", "claimed", None);
    let liar = hand_worker(
        dir,
        &address,
        "claims",
        greeter,
        Some(format!("{claim}@{}", host.trim())),
    );
    let mut t = Value::Null;
    let seen = wait_until(Duration::from_secs(30), || {
        t = temporal_of(&env);
        pollers_on(&t, "claims")
            .iter()
            .any(|p| p["claimed"] == claim)
    });
    assert!(seen, "{t:#}");
    assert!(
        pollers_on(&t, "claims")
            .iter()
            .all(|p| p["pid"].is_null() && p["service"].is_null()),
        "{t:#}"
    );
    assert!(
        !t["warnings"]
            .to_string()
            .contains(&format!("(PID {claim})")),
        "a claim is not blamed: {t:#}"
    );
    drop(liar);
    drop(sleeper);

    // Every worker, from its own heartbeats (the SDK's first comes within a
    // minute): the stack's worker tied to its service, and one on a quiet
    // queue no workflow runs on and no service declares, visible too.
    let quiet = hand_worker(dir, &address, "quiet", greeter, None);
    let qpid = quiet.0.id() as i64;
    let mut t = Value::Null;
    let listed = wait_until(Duration::from_secs(100), || {
        t = temporal_of(&env);
        let ws = t["workers"].as_array().cloned().unwrap_or_default();
        ws.iter().any(|w| {
            w["task_queue"] == "hello"
                && w["pid"] == new
                && w["service"] == "worker"
                && w["sdk"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("temporal-python")
        }) && ws
            .iter()
            .any(|w| w["task_queue"] == "quiet" && w["pid"] == qpid && w["service"].is_null())
    });
    assert!(listed, "{t:#}");
    assert!(
        t["task_queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["name"] == "quiet"),
        "the quiet queue is shown: {t:#}"
    );
    drop(quiet);
    env.ok(&["local", "stop"]);
}

#[test]
fn in_memory_and_stopped_temporal_and_a_service_not_polling_its_queue_say_so() {
    let env = Env::new("tp-memory");
    let api = env.port + 1;
    env.write_config(&format!(
        "temporal_bin = {:?}\ndb = false\n\n[services.api]\ncommand = [{FIXTURE:?}, \"--http\", \"{api}\"]\n\
         ports = [{api}]\nready = {{ http = \"http://127.0.0.1:{api}/\" }}\ntask_queues = [\"ghost\"]\n",
        temporal_bin().display().to_string()
    ));
    let t = temporal_of(&env);
    assert_eq!(t["error"], "Temporal is stopped", "{t:#}");
    env.ok(&["local", "start"]);
    let t = temporal_of(&env);
    assert!(t["persistence"].is_null(), "{t:#}");
    assert!(t["warnings"].to_string().contains("in memory"), "{t:#}");
    assert!(t["error"].is_null(), "{t:#}");
    // Declared, running, not polling: not a warning while it may still be
    // starting to poll, one once its grace (20 s after its start) is over.
    let warned = |t: &Value| {
        t["warnings"]
            .to_string()
            .contains("service api declares task queue ghost but does not poll it")
    };
    assert!(!warned(&t), "{t:#}");
    let mut t = t;
    let ok = wait_until(Duration::from_secs(40), || {
        t = temporal_of(&env);
        warned(&t)
    });
    assert!(ok, "{t:#}");
    assert!(pollers_on(&t, "ghost").is_empty());
    let human = env.ok(&["local", "status"]);
    assert!(human.contains("data      in memory"), "{human}");
    env.ok(&["local", "stop"]);
}

#[test]
fn an_answer_temporal_would_not_give_is_an_error_not_a_crash() {
    // The fixture answers `{}` to everything on the HTTP port.
    let env = Env::fixture("tp-fixture", &[], "");
    env.ok(&["local", "start"]);
    let t = temporal_of(&env);
    let e = t["error"].as_str().unwrap_or_default();
    assert!(e.contains("no namespace list"), "{t:#}");
    assert!(t["namespaces"].as_array().unwrap().is_empty());
    let human = env.ok(&["local", "status"]);
    assert!(human.contains("api       /api/v1/namespaces"), "{human}");
    env.ok(&["local", "stop"]);
}

#[test]
fn an_external_temporal_is_watched_never_touched() {
    let env = Env::new("tp-external");
    // A Temporal that is not stigmer's, on this test's ports.
    let mut server = Reaped(
        Command::new(temporal_bin())
            .args(["server", "start-dev", "--ip", "127.0.0.1", "--headless"])
            .args(["--port", &env.port.to_string()])
            .args(["--http-port", &env.http_port().to_string()])
            .args(["--log-level", "error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("a Temporal of its own"),
    );
    let address = format!("127.0.0.1:{}", env.port);
    let api = env.port + 1;
    env.write_config(&format!(
        "enabled = false\naddress = {address:?}\nui_url = \"http://127.0.0.1:9/\"\n\n\
         [services.api]\ncommand = [{FIXTURE:?}, \"--http\", \"{api}\"]\nports = [{api}]\n\
         ready = {{ http = \"http://127.0.0.1:{api}/\" }}\n"
    ));
    let stack = || -> Value {
        serde_json::from_str(&env.ok(&["local", "status", "--json"])).expect("status JSON")
    };
    let mut v = Value::Null;
    let up = wait_until(Duration::from_secs(30), || {
        v = stack();
        v["temporal"]["version"].is_string()
    });
    assert!(up, "{v:#}");
    let t = &v["temporal"];
    assert_eq!(t["external"], address.as_str(), "{t:#}");
    assert!(t["error"].is_null() && t["persistence"].is_null(), "{t:#}");
    assert!(!t["warnings"].to_string().contains("in memory"), "{t:#}");
    assert_eq!(t["ui_url"], "http://127.0.0.1:9/");
    assert!(
        v["services"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["name"] != "temporal"),
        "no built-in service: {v:#}"
    );

    // The services are pointed at it.
    env.ok(&["local", "start"]);
    let pid = pid_of(&env, "api");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(environ
        .split(|b| *b == 0)
        .any(|kv| kv == format!("TEMPORAL_ADDRESS={address}").as_bytes()));
    let human = env.ok(&["local", "status"]);
    assert!(
        human.contains(&format!("temporal (external, {address}: watched only)")),
        "{human}"
    );
    // Stopping the stack leaves it alone.
    env.ok(&["local", "stop"]);
    assert!(
        matches!(server.0.try_wait(), Ok(None)),
        "the external Temporal still runs"
    );
    let t = stack()["temporal"].clone();
    assert!(t["error"].is_null(), "{t:#}");
    // Gone: the panel says so, no crash.
    let _ = server.0.kill();
    let _ = server.0.wait();
    let t = stack()["temporal"].clone();
    assert!(
        t["error"].as_str().is_some_and(|e| e.contains("refuses")),
        "{t:#}"
    );
}

#[test]
fn stuck_workflows_say_why_tied_to_the_worker_that_failed_them() {
    let mut env = Env::temporal("tp-stuck");
    let greeter = env.port + 1;
    let config = env.example_stack(greeter);
    env.config = Some(config.clone());
    // The worker's activity calls a port nobody listens on: it fails, and
    // is retried.
    let good = std::fs::read_to_string(&config).unwrap();
    let closed = env.port + 7;
    let url = format!("http://127.0.0.1:{greeter}/greet");
    std::fs::write(
        &config,
        good.replace(&url, &format!("http://127.0.0.1:{closed}/greet")),
    )
    .unwrap();
    env.ok(&["local", "start"]);
    let wpid = pid_of(&env, "worker");
    let address = format!("127.0.0.1:{}", env.port);
    // The server flags workflows whose tasks keep failing (stigmer asks it to).
    let rec = env.record_of("temporal").expect("Temporal's record");
    let argv = rec["cmdline"].to_string();
    assert!(
        argv.contains("numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute=3"),
        "{argv}"
    );
    // A workflow whose code raises: its workflow task fails, again and again.
    start_workflow(&address, "Broken", "hello", "broken-1", None);
    // An activity that cannot reach the greeter: retried.
    start_workflow(&address, "Greet", "hello", "greet-1", Some("\"stuck\""));
    let mut t = Value::Null;
    let found = wait_until(Duration::from_secs(60), || {
        t = temporal_of(&env);
        let stuck = t["stuck"].as_array().cloned().unwrap_or_default();
        let of = |id: &str| stuck.iter().find(|s| s["workflow_id"] == id).cloned();
        let broken = of("broken-1").is_some_and(|s| {
            s["why"]["kind"] == "workflow_task_failing"
                && s["why"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("a bug in Broken's code")
        });
        let greet = of("greet-1").is_some_and(|s| {
            s["why"]["kind"] == "activity_retrying" && s["why"]["attempt"].as_u64() >= Some(2)
        });
        broken && greet
    });
    assert!(found, "{:#}", t["stuck"]);
    let stuck = t["stuck"].as_array().unwrap();
    let broken = stuck
        .iter()
        .find(|s| s["workflow_id"] == "broken-1")
        .unwrap();
    assert_eq!(broken["workflow_type"], "Broken");
    assert!(
        broken["why"]["cause"]
            .as_str()
            .unwrap()
            .contains("UNHANDLED_FAILURE"),
        "{broken:#}"
    );
    assert_eq!(broken["why"]["nondeterminism"], false);
    assert!(
        !broken["why"]["stack"].as_array().unwrap().is_empty(),
        "{broken:#}"
    );
    assert_eq!(broken["why"]["worker"]["pid"], wpid, "{broken:#}");
    assert_eq!(broken["why"]["worker"]["service"], "worker");
    let greet = stuck
        .iter()
        .find(|s| s["workflow_id"] == "greet-1")
        .unwrap();
    assert_eq!(greet["why"]["activity"], "greet");
    assert_eq!(greet["why"]["maximum_attempts"], 0, "the default: no limit");
    let failure = greet["why"]["last_failure"].as_str().unwrap_or("");
    assert!(failure.to_lowercase().contains("refused"), "{greet:#}");
    assert_eq!(greet["why"]["worker"]["service"], "worker", "{greet:#}");
    // The text status says the same.
    let human = env.ok(&["local", "status", "temporal"]);
    assert!(
        human.contains("stuck     broken-1 (Broken): its workflow task keeps failing"),
        "{human}"
    );
    assert!(
        human.contains("stuck     greet-1 (Greet): activity greet retrying"),
        "{human}"
    );
    assert!(human.contains("on worker (PID"), "{human}");

    // In the dash: the Temporal panel lists them; F goes to the failure in
    // the worker's log, its lines marked.
    let tmux = support::tmux::Tmux::new("tp-stuck");
    tmux.launch_sized(&env, "dash", "--no-start", 200, 50);
    tmux.keys("w");
    tmux.wait("stuck workflows listed", Duration::from_secs(20), |s| {
        s.contains("stuck workflows") && s.contains("broken-1 (Broken)")
    });
    let mut screen = String::new();
    let jumped = (0..4).any(|_| {
        tmux.keys("F");
        std::thread::sleep(Duration::from_millis(500));
        screen = tmux.screen();
        screen.contains("broken-1: a bug in Broken's code")
            && screen.contains("Log · logs/worker.log")
    });
    assert!(jumped, "{screen}");
    assert!(
        screen.contains("RuntimeError: a bug in Broken's code"),
        "{screen}"
    );
    tmux.keys("q");

    // The right URL saved: the worker restarts with it, the activity's next
    // attempt succeeds, greet-1 is no longer stuck (the broken one still is).
    std::fs::write(&config, &good).unwrap();
    let cleared = wait_until(Duration::from_secs(60), || {
        t = temporal_of(&env);
        let ids: Vec<&str> = t["stuck"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["workflow_id"].as_str())
            .collect();
        ids == ["broken-1"]
    });
    assert!(cleared, "{:#}", t["stuck"]);
    cli(&[
        "workflow",
        "terminate",
        "--workflow-id",
        "broken-1",
        "--address",
        &address,
    ]);
    env.ok(&["local", "stop"]);
}

#[test]
fn a_code_change_under_a_running_workflow_is_a_non_determinism_warning_naming_the_restart() {
    let mut env = Env::temporal("tp-nde");
    let config = env.example_stack(env.port + 1);
    env.config = Some(config);
    let address = format!("127.0.0.1:{}", env.port);
    let code = env.home.join("example/worker.py");
    // A workflow that waits on a timer (version 1) …
    let base = std::fs::read_to_string(&code).unwrap();
    let with = |first: &str| with_waits(&base, first);
    std::fs::write(&code, with("")).unwrap();
    env.ok(&["local", "start"]);
    let w1 = pid_of(&env, "worker") as i32;
    start_workflow(&address, "Waits", "hello", "waits-1", None);
    let timer = wait_until(Duration::from_secs(30), || {
        cli(&[
            "workflow",
            "show",
            "--workflow-id",
            "waits-1",
            "--address",
            &address,
        ])
        .contains("TimerStarted")
    });
    assert!(timer, "the workflow's first task ran");
    // … whose code changes under it (version 2 calls an activity first): the
    // worker restarts on the save, and the workflow's next task replays.
    let first = "        await workflow.execute_activity(greet, \"x\", start_to_close_timeout=timedelta(seconds=10))\n";
    std::fs::write(&code, with(first)).unwrap();
    let w2 = env.wait_new_pid_of(
        "worker",
        w1,
        Duration::from_secs(30),
        "the worker restarted on its change",
    );
    env.ok(&["local", "wait", "worker", "--timeout", "30"]);
    cli(&[
        "workflow",
        "signal",
        "--workflow-id",
        "waits-1",
        "--name",
        "poke",
        "--address",
        &address,
    ]);
    let want = format!(
        "workflow waits-1 (Waits) fails with a non-determinism error on worker (PID {w2}) since its restart at "
    );
    let mut t = Value::Null;
    let warned = wait_until(Duration::from_secs(60), || {
        t = temporal_of(&env);
        t["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|w| w.as_str().unwrap_or("").starts_with(&want))
    });
    assert!(warned, "{:#}\n{:#}", t["warnings"], t["stuck"]);
    let s = t["stuck"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["workflow_id"] == "waits-1")
        .expect("waits-1 is stuck");
    assert_eq!(s["why"]["nondeterminism"], true, "{s:#}");
    cli(&[
        "workflow",
        "terminate",
        "--workflow-id",
        "waits-1",
        "--address",
        &address,
    ]);
    env.ok(&["local", "stop"]);
}

#[test]
fn the_workflows_screen_looks_at_one_and_cancels_terminates_and_resets_asking_first() {
    let mut env = Env::temporal("tp-wfs");
    let config = env.example_stack(env.port + 1);
    env.config = Some(config);
    let address = format!("127.0.0.1:{}", env.port);
    let code = env.home.join("example/worker.py");
    let base = std::fs::read_to_string(&code).unwrap();
    std::fs::write(&code, with_waits(&base, "")).unwrap();
    env.ok(&["local", "start"]);
    start_workflow(&address, "Waits", "hello", "waits-1", None);
    start_workflow(&address, "Waits", "hello", "waits-2", None);
    start_workflow(&address, "Broken", "hello", "broken-1", None);
    let (_, waits2_run) = described(&address, "waits-2", None);

    let tmux = support::tmux::Tmux::new("tp-wfs");
    tmux.launch_sized(&env, "dash", "--no-start", 200, 50);
    tmux.keys("e");
    tmux.wait(
        "the workflows, broken-1 stuck",
        Duration::from_secs(30),
        |s| {
            s.contains("Workflows · all")
                && s.lines()
                    .any(|l| l.contains("stuck ") && l.contains("broken-1"))
        },
    );
    // Filtered to the stuck ones: broken-1 alone; its look says why.
    tmux.keys("ff");
    tmux.wait("the stuck filter", Duration::from_secs(10), |s| {
        s.contains("Workflows · stuck · 1 of") && !s.contains("waits-1")
    });
    tmux.keys("Enter");
    tmux.wait("broken-1's failure", Duration::from_secs(20), |s| {
        s.contains("last failure: workflow task failed")
            && s.contains("a bug in Broken's code")
            && s.contains("no completed workflow task: R cannot reset it")
    });
    // Terminate, asked first.
    tmux.keys("x");
    tmux.wait("the question", Duration::from_secs(10), |s| {
        s.contains("terminate workflow broken-1 (run") && s.contains("its code is not told")
    });
    tmux.keys("y");
    tmux.wait("the answer", Duration::from_secs(20), |s| {
        s.contains("terminated broken-1")
    });
    assert_eq!(
        described(&address, "broken-1", None).0,
        "WORKFLOW_EXECUTION_STATUS_TERMINATED"
    );

    // Running ones: waits-1 (the oldest) first; its stack trace comes from
    // its worker (the `__stack_trace` query). The screen opens afresh.
    tmux.keys("Escape");
    tmux.keys("e");
    tmux.keys("e");
    tmux.keys("f");
    tmux.wait("the running filter", Duration::from_secs(20), |s| {
        s.contains("Workflows · running · 2 of")
    });
    tmux.keys("Enter");
    tmux.wait("waits-1's stack trace", Duration::from_secs(20), |s| {
        s.contains("Stack for <Task pending name='run (workflow: Waits, id: waits-1")
            && s.contains("R resets it to its last workflow task (event")
    });
    // Cancel: `n` does nothing; `y` cancels.
    tmux.keys("c");
    tmux.wait("the question", Duration::from_secs(10), |s| {
        s.contains("cancel workflow waits-1 (run")
    });
    tmux.keys("n");
    tmux.wait("no question", Duration::from_secs(10), |s| {
        !s.contains("cancel workflow waits-1 (run")
    });
    assert_eq!(
        described(&address, "waits-1", None).0,
        "WORKFLOW_EXECUTION_STATUS_RUNNING",
        "n: nothing done"
    );
    tmux.keys("c");
    tmux.wait("the question", Duration::from_secs(10), |s| {
        s.contains("cancel workflow waits-1 (run")
    });
    tmux.keys("y");
    tmux.wait("the answer", Duration::from_secs(20), |s| {
        s.contains("asked waits-1 to cancel")
    });
    let canceled = wait_until(Duration::from_secs(20), || {
        described(&address, "waits-1", None).0 == "WORKFLOW_EXECUTION_STATUS_CANCELED"
    });
    assert!(canceled, "{:?}", described(&address, "waits-1", None));

    // Reset waits-2 to its last workflow task: a new run goes on, the old
    // one ends.
    tmux.keys("Escape");
    tmux.wait("waits-2 alone running", Duration::from_secs(20), |s| {
        s.contains("Workflows · running · 1 of") && s.contains("waits-2")
    });
    tmux.keys("R");
    tmux.wait("the question", Duration::from_secs(10), |s| {
        s.contains("reset workflow waits-2 (run") && s.contains("a new run replays it")
    });
    tmux.keys("y");
    tmux.wait("the answer", Duration::from_secs(20), |s| {
        s.contains("reset waits-2 to event") && s.contains("new run")
    });
    let (status, run) = described(&address, "waits-2", None);
    assert_eq!(status, "WORKFLOW_EXECUTION_STATUS_RUNNING");
    assert_ne!(run, waits2_run, "a new run");
    assert_eq!(
        described(&address, "waits-2", Some(&waits2_run)).0,
        "WORKFLOW_EXECUTION_STATUS_TERMINATED",
        "the old run ended"
    );
    // `status temporal --json` lists them too.
    let t = temporal_of(&env);
    let listed: Vec<(&str, &str)> = t["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["workflow_id"].as_str().unwrap(),
                w["status"].as_str().unwrap(),
            )
        })
        .collect();
    for want in [
        ("waits-2", "running"),
        ("waits-2", "terminated"),
        ("waits-1", "canceled"),
        ("broken-1", "terminated"),
    ] {
        assert!(listed.contains(&want), "{want:?} not in {listed:?}");
    }
    tmux.keys("e");
    tmux.keys("q");
    cli(&[
        "workflow",
        "terminate",
        "--workflow-id",
        "waits-2",
        "--address",
        &address,
    ]);
    env.ok(&["local", "stop"]);
}
