//! Restart on code change (`watch`): a change restarts the service after
//! the debounce, an ignored one does not, a burst of writes is one restart,
//! a change during a restart makes exactly one more, and `W` in the dash
//! turns it off and on.

mod support;

use std::time::{Duration, Instant};

use support::tmux::Tmux;
use support::*;

const HEAD: &str = "[temporal]\nenabled = false\n";

fn events_of(env: &Env, service: &str, kind: &str) -> Vec<serde_json::Value> {
    env.ok(&["local", "events", "--json"])
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["service"] == service && e["kind"] == kind)
        .collect()
}

fn spawns(env: &Env) -> usize {
    events_of(env, "api", "spawned").len()
}

/// Waits until the api has a new PID and is running again.
fn restarted(env: &Env, old: i32, what: &str) -> i32 {
    let new = env.wait_new_pid_of("api", old, Duration::from_secs(15), what);
    env.ok(&["local", "wait", "api", "--timeout", "15"]);
    new
}

/// The app's sources, beside the state directory (whose own files never
/// count as a change); removed when dropped.
struct App(std::path::PathBuf);

impl Drop for App {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// (The app is dropped last: the cleanup's `local kill` reads the config,
/// whose watch paths must exist.)
fn setup(name: &str) -> (App, Env, std::path::PathBuf) {
    let env = Env::new(name);
    let app = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("app-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&app);
    let src = app.join("src");
    std::fs::create_dir_all(src.join("build")).unwrap();
    std::fs::write(src.join(".gitignore"), "build/\n").unwrap();
    std::fs::write(src.join("a.py"), "v = 1\n").unwrap();
    let api = env.port + 1;
    env.write_config(&format!(
        "{HEAD}{}",
        http_service(
            "api",
            api,
            &["--ready-after-ms", "600"],
            &format!(
                "watch = {{ paths = [{:?}], ignore = [\"*.tmp\"], debounce_ms = 200 }}\nready_timeout_secs = 10",
                src.display().to_string()
            ),
        )
    ));
    env.ok(&["local", "start"]);
    (App(app), env, src)
}

#[test]
fn a_change_restarts_it_an_ignored_one_does_not_a_burst_is_one_restart() {
    let (_app, env, src) = setup("w-change");
    let p0 = env.pid_of("api").unwrap();
    let n0 = spawns(&env);

    // A change: restarted gracefully after the debounce, and it says which.
    let t0 = Instant::now();
    std::fs::write(src.join("a.py"), "v = 2\n").unwrap();
    let p1 = restarted(&env, p0, "a restart after a change");
    println!("change → new PID in {} ms", t0.elapsed().as_millis());
    let changed = events_of(&env, "api", "changed");
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(
        changed[0]["detail"],
        format!("restart: {} changed", src.join("a.py").display())
    );
    let exits = events_of(&env, "api", "exited");
    let graceful = |e: &serde_json::Value| {
        let d = e["detail"].as_str().unwrap_or("");
        e["pid"] == p0 && (d.contains("SIGTERM") || d.contains("exit code"))
    };
    assert!(exits.iter().any(graceful), "stopped gracefully: {exits:?}");
    assert!(!alive(p0) && group_gone(p0));

    // Ignored: by the glob, by the directory's .gitignore, and the state dir.
    std::fs::write(src.join("scratch.tmp"), "x").unwrap();
    std::fs::write(src.join("build/out.o"), "x").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(env.pid_of("api"), Some(p1), "an ignored file restarted it");

    // A burst of 1 000 writes over 50 files: one restart.
    let before = spawns(&env);
    for i in 0..1000 {
        std::fs::write(src.join(format!("gen{}.py", i % 50)), format!("v = {i}\n")).unwrap();
    }
    let p2 = restarted(&env, p1, "a restart after the burst");
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(env.pid_of("api"), Some(p2), "more than one restart");
    assert_eq!(spawns(&env), before + 1, "one spawn for the burst");
    assert_eq!(spawns(&env), n0 + 2);
    let last = events_of(&env, "api", "changed").pop().unwrap();
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .contains("and 49 more changed"),
        "{last}"
    );
}

#[test]
fn a_change_during_a_restart_makes_exactly_one_more_and_w_turns_it_off() {
    let (_app, env, src) = setup("w-during");
    let p0 = env.pid_of("api").unwrap();
    let before = spawns(&env);
    std::fs::write(src.join("a.py"), "v = 2\n").unwrap();
    // While the new process is starting (not ready for 600 ms): two more.
    let p1 = env.wait_new_pid_of("api", p0, Duration::from_secs(15), "the first restart");
    std::fs::write(src.join("b.py"), "v = 3\n").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(src.join("c.py"), "v = 4\n").unwrap();
    let p2 = restarted(&env, p1, "exactly one more restart");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(env.pid_of("api"), Some(p2));
    assert_eq!(
        spawns(&env),
        before + 2,
        "the first restart and exactly one more"
    );

    // `W` in a dash (attached to the supervisor): off, a change does nothing.
    let tmux = Tmux::new("w-toggle");
    tmux.launch_sized(&env, "dash", "--no-start", 200, 40);
    tmux.wait("watching", Duration::from_secs(15), |s| {
        s.contains("watch: on")
    });
    tmux.keys("W");
    tmux.wait("off", Duration::from_secs(10), |s| s.contains("watch: off"));
    std::fs::write(src.join("a.py"), "v = 5\n").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(env.pid_of("api"), Some(p2), "watch off: no restart");
    tmux.keys("W");
    tmux.wait("on again", Duration::from_secs(10), |s| {
        s.contains("watch: on")
    });
    std::fs::write(src.join("a.py"), "v = 6\n").unwrap();
    restarted(&env, p2, "a restart once watching again");
    tmux.wait(
        "the change in the events panel",
        Duration::from_secs(10),
        |s| s.contains("restart: ") && s.contains("a.py changed"),
    );
    tmux.keys("q");
}

#[test]
fn a_watch_path_that_does_not_exist_is_refused_naming_file_service_and_key() {
    let env = Env::new("w-bad");
    let fix = format!("{FIXTURE:?}");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!("[services.api]\ncommand = [{fix}]\nwatch = {{ paths = [\"nowhere\"] }}\n"),
            vec!["[services.api]", "watch.paths", "nowhere does not exist"],
        ),
        (
            format!("[services.api]\ncommand = [{fix}]\nwatch = {{ paths = [] }}\n"),
            vec!["[services.api]", "watch.paths is empty"],
        ),
        (
            format!("[services.api]\ncommand = [{fix}]\nwatch = {{ paths = [\".\"], debounce_ms = 0 }}\n"),
            vec!["[services.api]", "watch.debounce_ms = 0"],
        ),
        (
            format!("[services.api]\ncommand = [{fix}]\nwatch = {{ paths = [\".\"], every = 1 }}\n"),
            vec!["[services.api]", "unknown field `every`"],
        ),
    ]
    .into_iter()
    .map(|(c, w)| (format!("{HEAD}{c}"), w))
    .collect();
    env.refuses(&cases);
}

#[test]
fn restart_dependents_restarts_what_depends_on_it_too() {
    let env = Env::new("w-deps");
    let app = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("app-w-deps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&app);
    std::fs::create_dir_all(&app).unwrap();
    let _app = App(app.clone());
    std::fs::write(app.join("main.py"), "v = 1\n").unwrap();
    let (api, dep) = (env.port + 1, env.port + 2);
    env.write_config(&format!(
        "{HEAD}{}{}",
        http_service(
            "api",
            api,
            &[],
            &format!(
                "watch = {{ paths = [{:?}], debounce_ms = 100, restart_dependents = true }}",
                app.join("main.py").display().to_string()
            ),
        ),
        http_service("dep", dep, &[], "depends_on = { api = \"ready\" }"),
    ));
    env.ok(&["local", "start"]);
    let (a0, d0) = (env.pid_of("api").unwrap(), env.pid_of("dep").unwrap());
    std::fs::write(app.join("main.py"), "v = 2\n").unwrap();
    env.wait_new_pid_of("api", a0, Duration::from_secs(15), "api restarted");
    env.wait_new_pid_of(
        "dep",
        d0,
        Duration::from_secs(15),
        "its dependent restarted too",
    );
    env.ok(&["local", "wait", "dep", "--timeout", "15"]);
    env.ok(&["local", "stop"]);
    drop(env); // before the app's files go: the cleanup reads the config
}
