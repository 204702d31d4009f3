//! Replicas: `replicas = N` runs NAME-1 … NAME-N, each its own process
//! group, lock, PID file, log and tag, with STIGMER_REPLICA set; `local
//! scale NAME N` changes it live; the name stands for all of them.

mod support;

use std::time::Duration;

use support::*;

const HEAD: &str = "[temporal]\nenabled = false\n";

fn worker(replicas: &str) -> String {
    service(
        "worker",
        &["--grpc".into(), "0".into()],
        &format!("{replicas}ready = {{ log = \"fixture\" }}"),
    )
}

fn pgid(pid: i32) -> i32 {
    stat_field(pid, 5).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[test]
fn replicas_are_each_their_own_and_scale_up_and_down_live() {
    let env = Env::new("p-scale");
    let api = env.port + 1;
    env.write_config(&format!(
        "{HEAD}{}{}",
        worker("replicas = 2\n"),
        http_service("api", api, &[], "depends_on = { worker = \"ready\" }")
    ));
    let out = env.ok(&["local", "start"]);
    for n in ["worker-1", "worker-2", "api"] {
        assert!(out.contains(&format!("{n} started (PID")), "{out}");
    }
    let (w1, w2) = (
        env.pid_of("worker-1").unwrap(),
        env.pid_of("worker-2").unwrap(),
    );
    assert_ne!(pgid(w1), pgid(w2), "each its own process group");
    assert_eq!(env_of(w1, "STIGMER_REPLICA").as_deref(), Some("1"));
    assert_eq!(env_of(w2, "STIGMER_REPLICA").as_deref(), Some("2"));
    assert_eq!(
        env_of(w2, "STIGMER_SERVICE_NAME").as_deref(),
        Some("worker-2")
    );
    let tag = |p| env_of(p, "STIGMER_SERVICE").unwrap_or_default();
    assert!(tag(w1).starts_with("worker-1:") && tag(w2).starts_with("worker-2:"));
    for n in ["worker-1", "worker-2"] {
        assert!(env.home.join(format!("services/{n}/lock")).exists());
        assert!(env.home.join(format!("logs/{n}.log")).exists());
    }
    // The api waited for both.
    let api_rec = env.record_of("api").unwrap();
    for n in ["worker-1", "worker-2"] {
        assert!(
            api_rec["started_at_ms"].as_u64() >= env.record_of(n).unwrap()["ready_at_ms"].as_u64()
        );
    }
    // The name stands for all of them.
    let st: serde_json::Value =
        serde_json::from_str(&env.ok(&["local", "status", "worker", "--json"])).unwrap();
    assert_eq!(st["services"].as_array().map(Vec::len), Some(2), "{st}");

    // Up to 3: one more, the others keep their PIDs.
    let out = env.ok(&["local", "scale", "worker", "3"]);
    assert!(out.contains("added worker-3"), "{out}");
    assert!(wait_until(Duration::from_secs(15), || env
        .pid_of("worker-3")
        .is_some_and(alive)));
    assert_eq!(env.pid_of("worker-1"), Some(w1));
    assert_eq!(env.pid_of("worker-2"), Some(w2));
    let w3 = env.pid_of("worker-3").unwrap();
    assert_eq!(env_of(w3, "STIGMER_REPLICA").as_deref(), Some("3"));
    // Every command sees the supervisor's numbers.
    assert_eq!(env.services().len(), 4, "{:?}", env.services().keys());

    // Down to 1: the others stop, with their groups; worker-1 and api stay.
    let api_pid = env.pid_of("api").unwrap();
    let out = env.ok(&["local", "scale", "worker", "1"]);
    assert!(out.contains("removed worker-2, worker-3"), "{out}");
    assert!(wait_until(Duration::from_secs(15), || group_gone(w2) && group_gone(w3)));
    assert_eq!(env.pid_of("worker-1"), Some(w1));
    assert_eq!(env.pid_of("api"), Some(api_pid), "api keeps running");
    assert!(alive(w1) && alive(api_pid));

    // Bad numbers change nothing and say why.
    for (n, want) in [("0", "between 1 and 64"), ("65", "between 1 and 64")] {
        let o = env.run(&["local", "scale", "worker", n], Duration::from_secs(30));
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{err}");
    }
    let o = env.run(&["local", "scale", "nobody", "2"], Duration::from_secs(30));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no service named \"nobody\""));
    assert_eq!(env.pid_of("worker-1"), Some(w1));
    env.ok(&["local", "stop"]);
    assert!(group_gone(w1) && group_gone(api_pid));
}

#[test]
fn bad_replicas_are_refused_naming_file_service_and_key() {
    let env = Env::new("p-bad");
    let fix = format!("{FIXTURE:?}");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (format!("[services.w]\ncommand = [{fix}]\nreplicas = 0\n"), "replicas = 0 must be between 1 and 64"),
        (format!("[services.w]\ncommand = [{fix}]\nreplicas = 1000\n"), "replicas = 1000 must be between 1 and 64"),
        (format!("[services.w]\ncommand = [{fix}]\nreplicas = 2\nports = [9]\n"), "copies cannot all listen on one fixed port"),
        (
            format!("[services.w]\ncommand = [{fix}]\nreplicas = 2\n[services.w-1]\ncommand = [{fix}]\n"),
            "replica w-1 has the name of another service",
        ),
        (format!("[services.w]\ncommand = [{fix}]\nreplicas = -1\n"), "replicas"),
    ]
    .into_iter()
    .map(|(c, w)| (format!("{HEAD}{c}"), vec!["[services.w", w]))
    .collect();
    env.refuses(&cases);
}
