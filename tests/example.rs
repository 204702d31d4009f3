//! The example stack (`examples/stack/`) against the real Temporal and a real
//! Python worker: started in dependency order, the worker polls its task
//! queue and runs a workflow, and stop takes dependents first.

mod support;

use std::time::Duration;

use support::*;

fn record(env: &Env, name: &str) -> serde_json::Value {
    env.record_of(name).expect("a PID file")
}

#[test]
fn example_stack_starts_in_order_polls_its_queue_runs_a_workflow_and_stops_dependents_first() {
    let mut env = Env::temporal("x-example");
    let greeter = env.port + 1;
    // Every command from here on, the cleanup's `local kill` included.
    env.config = Some(env.example_stack(greeter));
    let out = env.ok(&["local", "start"]);
    for name in ["Temporal", "greeter", "worker"] {
        assert!(out.contains(&format!("{name} started (PID")), "{out}");
    }
    // The setup task ran to completion (the real Temporal CLI) first.
    assert!(
        out.contains("setup completed in") && out.contains("(exit code 0)"),
        "{out}"
    );
    let setup = &env.services()["setup"]["supervisor"]["completed"];
    let (t0, w0) = (record(&env, "temporal"), record(&env, "worker"));
    assert!(
        setup["at_ms"].as_u64() >= t0["ready_at_ms"].as_u64(),
        "{setup}"
    );
    assert!(
        w0["started_at_ms"].as_u64() >= setup["at_ms"].as_u64(),
        "{setup}"
    );
    let attrs = temporal_cli(
        &[
            "operator",
            "search-attribute",
            "list",
            "--address",
            &format!("127.0.0.1:{}", env.port),
        ],
        Duration::from_secs(15),
    );
    assert!(attrs.contains("Greeting"), "the task created it: {attrs}");
    // The greeter's environment came from its env file.
    let g = record(&env, "greeter")["pid"].as_i64().unwrap() as i32;
    assert_eq!(env_of(g, "GREETING").as_deref(), Some("Hello"));
    // The worker was spawned only after Temporal answered, and says so itself.
    let (t, w) = (record(&env, "temporal"), record(&env, "worker"));
    assert!(
        w["started_at_ms"].as_u64() >= t["ready_at_ms"].as_u64(),
        "{t} {w}"
    );
    let address = format!("127.0.0.1:{}", env.port);
    let log = std::fs::read_to_string(env.home.join("logs/worker.log")).unwrap();
    assert!(
        log.contains(&format!("temporal answered at {address}: True")),
        "{log}"
    );
    let wpid = w["pid"].as_i64().unwrap();
    let environ = std::fs::read(format!("/proc/{wpid}/environ")).unwrap();
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|kv| kv == format!("TEMPORAL_ADDRESS={address}").as_bytes()),
        "TEMPORAL_ADDRESS not set for the worker"
    );

    // Temporal sees the worker's pollers on its task queue, by PID.
    let mut described = String::new();
    let polled = wait_until(Duration::from_secs(20), || {
        described = temporal_cli(
            &[
                "task-queue",
                "describe",
                "--task-queue",
                "hello",
                "--address",
                &address,
            ],
            Duration::from_secs(15),
        );
        described.contains(&format!("{wpid}@"))
    });
    assert!(polled, "no poller of PID {wpid}:\n{described}");

    // A workflow runs through the worker and the greeter.
    run_greet(&env, "stigmer");

    // Saving worker.py restarts the worker (it watches its own file); the
    // new one polls and runs the next workflow.
    let code = env.home.join("example/worker.py");
    let text = std::fs::read_to_string(&code).unwrap();
    std::fs::write(&code, format!("{text}\n# edited\n")).unwrap();
    let w2 = env.wait_new_pid_of(
        "worker",
        wpid as i32,
        Duration::from_secs(30),
        "the worker restarted on its change",
    );
    env.ok(&["local", "wait", "worker", "--timeout", "30"]);
    let evs = env.ok(&["local", "events", "--json"]);
    assert!(evs.contains("restart: worker.py changed"), "{evs}");
    run_greet(&env, "again");
    let wpid = w2 as i64;

    // Stop: the worker first, then what it depends on.
    let out = env.ok(&["local", "stop"]);
    let pos = |s: &str| out.find(s).unwrap_or_else(|| panic!("{s:?} in {out}"));
    assert!(pos("worker stopped") < pos("greeter stopped"), "{out}");
    assert!(pos("worker stopped") < pos("Temporal stopped"), "{out}");
    assert!(group_gone(wpid as i32));
}
