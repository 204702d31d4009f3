//! Whole-screen snapshots (ratatui `TestBackend` + insta) in the states that
//! matter, and key handling: keys in, supervisor commands out. The data is
//! synthetic and fixed, so PIDs and times are stable by construction.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::*;
use crate::config::service::PortRole;
use crate::config::{FileConfig, Overrides, Settings};
use crate::probe::inspect::{
    HealthLayer, Holder, IdentityState, LockStatus, PidFileState, PidFileStatus, PortStatus, State,
    Status,
};
use crate::process::scan::ProcEntry;
use crate::state::pidfile::PidRecord;
use crate::state::StateDir;
use crate::supervisor::StackCommand;
use crate::supervisor::{ExitInfo, Phase};
use crate::ui::Entry;

const TEMPORAL: &str = "temporal server start-dev --ip 127.0.0.1 --port 7233";

fn ctx() -> Ctx {
    let state = StateDir::open(std::env::temp_dir().join("stigmer-snap")).unwrap();
    let settings =
        Settings::from_parts(state, FileConfig::default(), Overrides::default()).unwrap();
    let mut ctx = Ctx::new(settings);
    ctx.spec.program = Ok(PathBuf::from("/opt/temporal"));
    ctx
}

fn proc(pid: i32, ppid: i32, pgid: i32, cmd: &str, tagged: bool) -> ProcEntry {
    ProcEntry {
        pid,
        ppid,
        pgid,
        sid: pgid,
        state: 'S',
        start_ticks: 1000,
        cmd: cmd.into(),
        tag: tagged.then(|| "temporal:0:x".into()),
        rss_bytes: 120 << 20,
        cpu_ticks: 0,
    }
}

fn layer(layer: &'static str, ok: bool, ms: f64, detail: &str) -> HealthLayer {
    HealthLayer {
        layer,
        ok,
        latency_ms: ms,
        detail: detail.into(),
    }
}

fn record(pid: i32) -> PidRecord {
    PidRecord {
        service: "temporal".into(),
        pid,
        pgid: pid,
        sid: pid,
        start_ticks: 1000,
        boot_id: "b".into(),
        cmdline: vec![TEMPORAL.into()],
        ports: vec![],
        version: "0.1.0".into(),
        started_at_ms: 0,
        started_by_pid: 1,
        started_by: "stigmer".into(),
        tag: "temporal:0:x".into(),
        ready_at_ms: None,
        log_offset: None,
    }
}

fn port(role: PortRole, port: u16, owner: Option<(i32, &str, bool)>) -> PortStatus {
    PortStatus {
        role,
        port,
        open: owner.is_some(),
        latency_ms: owner.map(|_| 0.12),
        owner_pid: owner.map(|o| o.0),
        owner_cmd: owner.map(|o| o.1.to_string()),
        ours: owner.map(|o| o.2),
    }
}

fn stopped() -> Status {
    Status {
        state: State::Stopped,
        pid: None,
        pgid: None,
        started_at: None,
        uptime_secs: None,
        lock: LockStatus {
            path: "/x/temporal.lock".into(),
            held: false,
            holders: vec![],
        },
        pid_file: PidFileStatus {
            path: "/x/temporal.pid".into(),
            state: PidFileState::Missing,
            detail: None,
            identity: None,
            record: None,
        },
        ports: vec![
            port(PortRole::Grpc, 7233, None),
            port(PortRole::Ui, 8233, None),
            port(PortRole::Http, 7243, None),
        ],
        health: vec![
            layer("lock", false, 0.03, "free"),
            layer("process", false, 0.0, "no PID file"),
            layer("identity", false, 0.0, "nothing to check"),
            layer(
                "grpc",
                false,
                0.2,
                "port 7233: Connection refused (os error 111)",
            ),
            layer(
                "http",
                false,
                0.2,
                "GET /api/v1/cluster-info: Connection refused (os error 111)",
            ),
        ],
        members: vec![],
        escaped: vec![],
        orphans: vec![],
        problems: vec![],
        stale_temp_files: vec![],
        advice: None,
        processes_scanned: 300,
        inspect_ms: 2.0,
    }
}

fn running(pid: i32) -> Status {
    let mut st = stopped();
    st.state = State::Running;
    st.pid = Some(pid);
    st.pgid = Some(pid);
    st.uptime_secs = Some(754);
    st.lock.held = true;
    st.lock.holders = vec![Holder {
        pid,
        cmd: TEMPORAL.into(),
        age_secs: Some(754),
    }];
    st.pid_file.state = PidFileState::Valid;
    st.pid_file.identity = Some(IdentityState::Match);
    st.pid_file.record = Some(record(pid));
    st.ports = vec![
        port(PortRole::Grpc, 7233, Some((pid, TEMPORAL, true))),
        port(PortRole::Ui, 8233, Some((pid, TEMPORAL, true))),
        port(PortRole::Http, 7243, Some((pid, TEMPORAL, true))),
    ];
    st.health = vec![
        layer("lock", true, 0.03, "held"),
        layer("process", true, 0.1, &format!("PID {pid} alive (S)")),
        layer("identity", true, 0.0, "start time 1000 matches"),
        layer("grpc", true, 0.11, "port 7233 accepts TCP"),
        layer("http", true, 1.4, "GET /api/v1/cluster-info → 200"),
    ];
    st.members = vec![
        proc(pid, 1, pid, TEMPORAL, true),
        proc(pid + 1, pid, pid, "temporal-helper --child", true),
    ];
    st
}

fn snapshot(phase: Phase, st: Status) -> Entry {
    let mut s = Entry::unseen("temporal");
    s.view.phase = phase;
    s.view.pid = st.pid;
    s.view.supervisor = Some(1000);
    s.seen.status = Some(Arc::new(st));
    s
}

fn app(snap: Entry) -> App {
    let mut a = App::new(Info::of(&ctx()), snap);
    a.push_log(vec![
        "Temporal CLI 1.9.1 (Server 1.32.0, UI 2.54.1)".into(),
        "Temporal Server:      localhost:7233".into(),
        "level=ERROR msg=\"unable to bind\"".into(),
    ]);
    a
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    let now = Instant::now();
    t.draw(|f| app.draw(f, now)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn svc(c: Command) -> StackCommand {
    StackCommand::Service("temporal".into(), c)
}

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

#[test]
fn snapshot_stopped() {
    insta::assert_snapshot!(screen(&app(snapshot(Phase::Stopped, stopped())), 100, 30));
}

#[test]
fn snapshot_starting() {
    let mut st = running(4242);
    st.state = State::Starting;
    st.health[4] = layer(
        "http",
        false,
        0.3,
        "GET /api/v1/cluster-info: Connection refused (os error 111)",
    );
    insta::assert_snapshot!(screen(&app(snapshot(Phase::Starting, st)), 100, 30));
}

#[test]
fn snapshot_running_at_80x24() {
    let mut a = app(snapshot(Phase::Running, running(4242)));
    a.entry.view.restarts = 1;
    a.entry.view.last_exit = Some(ExitInfo::Signal(9));
    a.entry.seen.usage.insert(4242, (3.5, 150 << 20));
    insta::assert_snapshot!(screen(&a, 80, 24));
}

#[test]
fn snapshot_crash_loop() {
    let mut s = snapshot(Phase::Failed, stopped());
    s.view.restarts = 4;
    s.view.last_exit = Some(ExitInfo::Code(3));
    s.view.message = Some("crash loop: 5 failures within 60s, last: exit code 3; not restarting (start again to retry)".into());
    insta::assert_snapshot!(screen(&app(s), 100, 30));
}

#[test]
fn snapshot_backoff_countdown() {
    let mut s = snapshot(Phase::Backoff, stopped());
    s.view.restarts = 2;
    s.view.failures_in_window = 2;
    s.view.last_exit = Some(ExitInfo::Code(1));
    s.view.backoff_until_ms = Some(crate::util::clock::wall_ms(
        Instant::now() + Duration::from_millis(2_450),
    ));
    let text = screen(&app(s), 100, 30);
    assert!(
        text.contains("backoff: restart in 2.4s") || text.contains("backoff: restart in 2.5s"),
        "{text}"
    );
}

#[test]
fn snapshot_stale_pid_file_with_clean_preview() {
    let mut st = stopped();
    st.state = State::Stale;
    st.pid_file.state = PidFileState::Valid;
    st.pid_file.identity = Some(IdentityState::Mismatch(
        "PID 4242 was reused (start time 77 ≠ recorded 1000)".into(),
    ));
    st.pid_file.record = Some(record(4242));
    st.orphans = vec![proc(5001, 1, 4242, "temporal-helper --child", true)];
    st.advice =
        Some("stale state left behind; `stigmer local clean` removes it (start does too)".into());
    let mut a = app(snapshot(Phase::Stopped, st));
    assert_eq!(a.on_key(key(KeyCode::Char('c'))), None);
    assert!(
        matches!(&a.dialog, Some(Dialog::ConfirmClean(lines)) if lines.len() == 2),
        "{:?}",
        a.dialog
    );
    insta::assert_snapshot!(screen(&a, 100, 30));
}

#[test]
fn snapshot_port_held_by_a_stranger() {
    let mut st = stopped();
    st.ports[1] = port(
        PortRole::Ui,
        8233,
        Some((999, "python3 -m http.server 8233", false)),
    );
    let mut s = snapshot(Phase::Backoff, st);
    s.view.message = Some("ui port 8233 is already in use by PID 999 (python3 -m http.server 8233); stop that program or choose another port with --port".into());
    s.view.phase = Phase::Failed;
    insta::assert_snapshot!(screen(&app(s), 100, 30));
}

#[test]
fn snapshot_escaped_and_orphaned_processes() {
    let mut st = running(4242);
    st.escaped = vec![proc(4300, 4243, 4300, "temporal-helper --setsid", true)];
    st.orphans = vec![proc(3100, 1, 3000, "temporal-old-child", true)];
    let mut zombie = proc(4244, 4242, 4242, "[defunct]", true);
    zombie.state = 'Z';
    st.members.push(zombie);
    insta::assert_snapshot!(screen(&app(snapshot(Phase::Running, st)), 100, 30));
}

#[test]
fn snapshot_no_binary() {
    let mut a = app(snapshot(Phase::Failed, stopped()));
    a.info.program = Err(crate::config::NoProgram(format!(
        "Temporal CLI not found on PATH or at /x/bin/temporal. {}",
        crate::config::INSTALL_HINT
    )));
    insta::assert_snapshot!(screen(&a, 100, 30));
}

#[test]
fn snapshot_help_overlay() {
    let mut a = app(snapshot(Phase::Running, running(4242)));
    a.on_key(key(KeyCode::Char('?')));
    let text = screen(&a, 100, 30);
    for b in keys::KEYMAP {
        assert!(text.contains(b.help), "help lists {:?}", b.help);
    }
    insta::assert_snapshot!(text);
}

#[test]
fn too_small_terminal_gets_a_message() {
    let text = screen(&app(snapshot(Phase::Running, running(4242))), 60, 20);
    assert!(text.contains("Terminal too small: 60×20"), "{text}");
    assert!(!text.contains("Processes"));
}

#[test]
fn keys_become_supervisor_commands() {
    let mut a = app(snapshot(Phase::Running, running(4242)));
    assert_eq!(a.on_key(key(KeyCode::Char('s'))), Some(svc(Command::Start)));
    assert_eq!(a.on_key(key(KeyCode::Char('t'))), Some(svc(Command::Stop)));
    assert_eq!(
        a.on_key(key(KeyCode::Char('r'))),
        Some(svc(Command::Restart))
    );
    // Force kill asks first.
    assert_eq!(a.on_key(key(KeyCode::Char('k'))), None);
    assert_eq!(a.dialog, Some(Dialog::ConfirmKill));
    assert_eq!(
        a.on_key(key(KeyCode::Char('s'))),
        None,
        "other keys do nothing under a dialog"
    );
    assert_eq!(a.on_key(key(KeyCode::Char('n'))), None);
    assert_eq!(a.dialog, None);
    a.on_key(key(KeyCode::Char('k')));
    assert_eq!(a.on_key(key(KeyCode::Esc)), None);
    a.on_key(key(KeyCode::Char('k')));
    assert_eq!(a.on_key(key(KeyCode::Char('y'))), Some(svc(Command::Kill)));
    // Nothing stale: clean says so instead of asking.
    assert_eq!(a.on_key(key(KeyCode::Char('c'))), None);
    assert!(a.dialog.is_none() && a.notice.as_deref().unwrap().contains("nothing to clean"));
    // Quit leaves it running; Q stops it.
    assert_eq!(a.on_key(key(KeyCode::Char('q'))), None);
    assert_eq!(a.quit, Some(Quit::Leave));
    let mut b = app(snapshot(Phase::Running, running(4242)));
    assert_eq!(
        b.on_key(key(KeyCode::Char('Q'))),
        Some(StackCommand::Shutdown { stop: true })
    );
    let mut c = app(snapshot(Phase::Running, running(4242)));
    assert_eq!(
        c.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        None
    );
    assert_eq!(c.quit, Some(Quit::Leave), "Ctrl-C quits gently");
}

#[test]
fn clean_confirmation_sends_clean() {
    let mut st = stopped();
    st.state = State::Stale;
    st.pid_file.state = PidFileState::Corrupt;
    st.pid_file.detail = Some("it is empty".into());
    let mut a = app(snapshot(Phase::Stopped, st));
    a.on_key(key(KeyCode::Char('c')));
    assert_eq!(a.on_key(key(KeyCode::Char('y'))), Some(svc(Command::Clean)));
}

#[test]
fn search_focus_and_scroll_keys() {
    let mut a = app(snapshot(Phase::Running, running(4242)));
    a.on_key(key(KeyCode::Char('/')));
    for c in "error".chars() {
        a.on_key(key(KeyCode::Char(c)));
    }
    assert_eq!(a.log.input.as_deref(), Some("error"));
    assert_eq!(
        a.on_key(key(KeyCode::Char('q'))),
        None,
        "typing q in the search box does not quit"
    );
    a.on_key(key(KeyCode::Backspace));
    a.on_key(key(KeyCode::Enter));
    assert_eq!(
        a.log.search.as_ref().map(|s| s.pattern.as_str()),
        Some("error")
    );
    assert_eq!(a.log.current, Some(2));
    assert!(screen(&a, 100, 30).contains("/error"));
    a.on_key(key(KeyCode::Char('n')));
    assert!(a.notice.as_deref().unwrap().contains("no more matches"));
    a.on_key(key(KeyCode::Char('G')));
    assert!(a.log.follow);
    a.on_key(key(KeyCode::Up));
    assert!(!a.log.follow);
    a.on_key(key(KeyCode::Tab));
    assert_eq!(a.focus, Focus::Processes);
    a.on_key(key(KeyCode::BackTab));
    assert_eq!(a.focus, Focus::Log);
}

/// Temporal, an API and a worker that depends on both.
fn stack_app() -> App {
    let state = StateDir::open(std::env::temp_dir().join("stigmer-snap")).unwrap();
    let text = r#"
[services.api]
command = ["/bin/sleep", "1000"]
ports = [8080]
ready = { http = "http://127.0.0.1:8080/health" }

[services.worker]
command = ["/bin/sleep", "1000"]
depends_on = { temporal = "ready", api = "ready" }
"#;
    let file = FileConfig::parse(std::path::Path::new("stigmer.toml"), text.as_bytes()).unwrap();
    let mut settings = Settings::from_parts(state, file, Overrides::default()).unwrap();
    settings.config_dir = PathBuf::from("/srv/app");
    let stack = crate::config::service::Stack::new(settings).unwrap();
    let mut services = stack.services.clone();
    Arc::make_mut(&mut services[0]).spec.program = Ok(PathBuf::from("/opt/temporal"));
    let mut api = running(5000);
    api.uptime_secs = Some(61);
    api.state = State::Starting;
    if let Some(h) = api.health.last_mut() {
        h.ok = false;
    }
    let mut worker_snap = snapshot(Phase::Stopped, stopped());
    worker_snap.view.message = None;
    let view = |name: &str, mut e: Entry, note: Option<&str>| {
        e.view.name = name.into();
        e.view.note = note.map(String::from);
        e
    };
    let mut t = snapshot(Phase::Running, running(4242));
    t.view.restarts = 2;
    let snap = vec![
        view("temporal", t, None),
        view("api", snapshot(Phase::Starting, api), None),
        view("worker", worker_snap, Some("waiting for api")),
    ];
    let mut a = App::for_stack(services.iter().map(|c| Info::of(c)).collect(), snap);
    a.push_log_of(0, vec!["temporal says hello".into()]);
    a.push_log_of(1, vec!["api listening on :8080".into()]);
    a.push_log_of(2, vec!["worker polling hello-queue".into()]);
    a
}

#[test]
fn snapshot_stack_services_panel() {
    let a = stack_app();
    let text = screen(&a, 110, 34);
    assert!(text.contains("waiting for api"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn stack_keys_select_services_and_act_on_the_selected_one() {
    let mut a = stack_app();
    assert_eq!(a.info.name, "temporal");
    a.on_key(key(KeyCode::Char(']')));
    assert_eq!(a.info.name, "api");
    assert_eq!(
        a.on_key(key(KeyCode::Char('t'))),
        Some(StackCommand::Service("api".into(), Command::Stop))
    );
    // The log panel follows the selection: the api's lines only.
    assert!((0..a.log.len()).all(|k| a.log.row(k).unwrap().text.contains("api")));
    a.on_key(key(KeyCode::Char('[')));
    a.on_key(key(KeyCode::Char('[')));
    assert_eq!(a.info.name, "worker");
    assert_eq!(
        a.on_key(key(KeyCode::Char('S'))),
        Some(StackCommand::StartAll)
    );
    assert_eq!(
        a.on_key(key(KeyCode::Char('T'))),
        Some(StackCommand::StopAll)
    );
    assert_eq!(
        a.on_key(key(KeyCode::Char('Q'))),
        Some(StackCommand::Shutdown { stop: true })
    );
}

#[test]
fn snapshot_stack_merged_log_names_each_line() {
    let mut a = stack_app();
    a.on_key(key(KeyCode::Char('a')));
    assert!(a.merged_shown());
    assert_eq!(a.log.len(), 3);
    let text = screen(&a, 110, 34);
    assert!(text.contains("Log · all services"), "{text}");
    assert!(
        text.contains("worker │ worker polling hello-queue"),
        "{text}"
    );
    insta::assert_snapshot!(text);
    // Colours: each name in its service's colour.
    let colour_of = |needle: &str| cell_fg(&a, 110, 34, needle);
    let (t_col, w_col) = (colour_of("temporal │"), colour_of("  worker │"));
    assert!(
        t_col.is_some() && w_col.is_some() && t_col != w_col,
        "{t_col:?} {w_col:?}"
    );
}

/// A log of every kind: levels in several formats, a stack trace, ANSI
/// colours, JSON.
fn log_app() -> App {
    let mut a = app(snapshot(Phase::Running, running(4242)));
    a.push_log(vec![
        "time=2026-11-22T08:00:00Z level=INFO msg=\"frontend started\"".into(),
        "time=2026-11-22T08:00:01Z level=DEBUG msg=\"poll\"".into(),
        "WARNING:root:retrying in 2 s".into(),
        "[ERROR] unable to bind".into(),
        "    at listener.go:42".into(),
        "\x1b[31mred\x1b[0m and \x1b[1mbold\x1b[0m".into(),
        r#"{"level":"error","msg":"task failed","queue":"hello","attempt":3}"#.into(),
    ]);
    a
}

fn cell_fg(a: &App, w: u16, h: u16, needle: &str) -> Option<ratatui::style::Color> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| a.draw(f, Instant::now())).unwrap();
    let buf = t.backend().buffer().clone();
    (0..buf.area.height).find_map(|y| {
        let row: String = (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect();
        let col = row.find(needle)?;
        let x = row[..col].chars().count() as u16;
        Some(buf[(x, y)].fg)
    })
}

#[test]
fn log_lines_are_coloured_by_level_and_their_own_ansi_colours() {
    use ratatui::style::Color;
    let a = log_app();
    let text = screen(&a, 110, 34);
    assert!(text.contains("red and bold"), "ANSI rendered:\n{text}");
    assert!(!text.contains("[31m"), "no escape garbage:\n{text}");
    assert_eq!(cell_fg(&a, 110, 34, "[ERROR] unable"), Some(Color::Red));
    assert_eq!(
        cell_fg(&a, 110, 34, "at listener.go"),
        Some(Color::Red),
        "a stack trace line inherits its error's level"
    );
    assert_eq!(cell_fg(&a, 110, 34, "WARNING:root"), Some(Color::Yellow));
    assert_eq!(
        cell_fg(&a, 110, 34, "red and"),
        Some(Color::Red),
        "its own red"
    );
    assert_ne!(cell_fg(&a, 110, 34, "level=INFO"), Some(Color::Red));
}

#[test]
fn level_key_hides_lower_levels_and_filter_shows_matching_lines_only() {
    let mut a = log_app();
    a.on_key(key(KeyCode::Char('l')));
    a.on_key(key(KeyCode::Char('l')));
    assert_eq!(a.log.min_level, Some(crate::logs::level::Level::Warn));
    let text = screen(&a, 110, 34);
    assert!(!text.contains("frontend started"), "{text}");
    assert!(
        text.contains("retrying in 2 s") && text.contains("warn+"),
        "{text}"
    );
    insta::assert_snapshot!("log_level_warn", text);
    // Back to all; search, then only the matches.
    a.on_key(key(KeyCode::Char('l')));
    a.on_key(key(KeyCode::Char('l')));
    assert_eq!(a.log.min_level, None);
    a.on_key(key(KeyCode::Char('/')));
    for c in "bind|fail".chars() {
        a.on_key(key(KeyCode::Char(c)));
    }
    a.on_key(key(KeyCode::Enter));
    a.on_key(key(KeyCode::Char('&')));
    let text = screen(&a, 110, 34);
    assert!(text.contains("only matching · 3 of 10"), "{text}");
    assert!(!text.contains("retrying"), "{text}");
    insta::assert_snapshot!("log_only_matching", text);
    // An invalid regex says so and keeps the search.
    a.on_key(key(KeyCode::Char('/')));
    a.on_key(key(KeyCode::Char('(')));
    a.on_key(key(KeyCode::Enter));
    assert!(
        a.notice.as_deref().unwrap().contains("not a valid regex"),
        "{:?}",
        a.notice
    );
    assert_eq!(a.log.len(), 3, "the filter stays");
    // Esc clears the search: every line again.
    a.on_key(key(KeyCode::Esc));
    assert!(a.log.search.is_none() && !a.log.only_matching);
    assert_eq!(a.log.len(), 10);
}

#[test]
fn search_results_follow_the_typing_and_the_prompt_is_in_the_log() {
    let mut a = log_app();
    a.on_key(key(KeyCode::Char('/')));
    let text = screen(&a, 110, 34);
    assert!(text.contains("/▏  type a pattern"), "{text}");
    a.on_key(key(KeyCode::Char('b')));
    a.on_key(key(KeyCode::Char('i')));
    // Found while typing, before Enter: the newest match is current.
    let cur = a.log.current.expect("a match while typing");
    assert!(a.log.line(cur).unwrap().text.contains("bind"));
    let text = screen(&a, 110, 34);
    assert!(text.contains("/bi▏  2 matches"), "{text}");
    // Esc while typing: no search at all.
    a.on_key(key(KeyCode::Esc));
    assert!(a.log.search.is_none() && a.log.input.is_none());
}

#[test]
fn a_filter_that_hides_everything_says_so_with_the_counts() {
    let mut a = app(snapshot(Phase::Running, running(4242)));
    a.log = super::log::LogView::new();
    a.push_log((0..7).map(|i| format!("level=INFO msg=line-{i}")).collect());
    for _ in 0..3 {
        a.on_key(key(KeyCode::Char('l'))); // info, warn, error
    }
    assert_eq!(a.log.min_level, Some(crate::logs::level::Level::Error));
    let text = screen(&a, 110, 34);
    assert!(text.contains("error+ · 0 of 7"), "{text}");
    assert!(
        text.contains("no line passes the filter: 0 of 7 at error+"),
        "{text}"
    );
}

#[test]
fn a_python_traceback_is_an_error_in_the_panel() {
    let mut a = app(snapshot(Phase::Running, running(4242)));
    a.log = super::log::LogView::new();
    a.push_log(vec![
        "greeter: \"GET /health HTTP/1.1\" 200 -".into(),
        "Traceback (most recent call last):".into(),
        "  File \"/usr/lib/python3.11/socketserver.py\", line 691, in process_request_thread"
            .into(),
        "ConnectionResetError: [Errno 104] Connection reset by peer".into(),
        "greeter: \"GET /greet HTTP/1.1\" 200 -".into(),
    ]);
    for _ in 0..3 {
        a.on_key(key(KeyCode::Char('l')));
    }
    let text = screen(&a, 110, 34);
    assert!(text.contains("Traceback (most recent call last)"), "{text}");
    assert!(text.contains("process_request_thread"), "{text}");
    assert!(text.contains("ConnectionResetError"), "{text}");
    assert!(
        !text.contains("GET /health") && !text.contains("GET /greet"),
        "{text}"
    );
}

#[test]
fn json_lines_pretty_message_first() {
    let mut a = log_app();
    a.on_key(key(KeyCode::Char('p')));
    let text = screen(&a, 110, 34);
    assert!(
        text.contains("task failed  attempt=3  level=error  queue=hello"),
        "{text}"
    );
    insta::assert_snapshot!("log_json_pretty", text);
    a.on_key(key(KeyCode::Char('p')));
    assert!(screen(&a, 110, 34).contains(r#"{"level":"error","msg":"task failed""#));
}

#[test]
fn copy_sends_plain_text_through_osc_52() {
    let mut a = log_app();
    a.on_key(key(KeyCode::Char('y')));
    assert!(a
        .clipboard
        .as_deref()
        .unwrap()
        .starts_with(r#"{"level":"error""#));
    // Select the ANSI line and the one above it.
    a.on_key(key(KeyCode::Up));
    a.on_key(key(KeyCode::Char('v')));
    a.on_key(key(KeyCode::Up));
    a.on_key(key(KeyCode::Char('y')));
    assert_eq!(
        a.clipboard.as_deref(),
        Some("    at listener.go:42\nred and bold"),
        "plain text, no escapes"
    );
    a.on_key(key(KeyCode::Char('Y')));
    assert_eq!(a.clipboard.as_deref().unwrap().lines().count(), 10);
    let seq = crate::ui::osc52("hé\nx", false);
    assert_eq!(seq, "\x1b]52;c;aMOpCng=\x07");
    let wrapped = crate::ui::osc52("hé\nx", true);
    assert!(wrapped.starts_with(&seq));
    assert!(wrapped.ends_with("\x1bPtmux;\x1b\x1b]52;c;aMOpCng=\x07\x1b\\"));
}

#[test]
fn the_mouse_selects_lines_in_the_log() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut a = log_app();
    let _ = screen(&a, 110, 34); // lays the log out
    let area = a.log_area.get();
    // Every line in view, from the top row inside the border.
    let n = a.log.len() as u16;
    assert!(area.height >= n + 2, "{area:?}");
    let last = area.y + n; // the last line's row
    let at = |kind, row| MouseEvent {
        kind,
        column: area.x + 3,
        row,
        modifiers: KeyModifiers::NONE,
    };
    a.on_mouse(at(MouseEventKind::Down(MouseButton::Left), last - 1));
    a.on_mouse(at(MouseEventKind::Drag(MouseButton::Left), last));
    a.on_key(key(KeyCode::Char('y')));
    assert_eq!(
        a.clipboard.as_deref(),
        Some("red and bold\n{\"level\":\"error\",\"msg\":\"task failed\",\"queue\":\"hello\",\"attempt\":3}")
    );
    // Outside the log: nothing happens.
    a.on_mouse(at(MouseEventKind::Down(MouseButton::Left), 0));
    assert!(a.log.anchor.is_none(), "copy ended the selection");
}

#[test]
fn services_panel_shows_ten_minutes_of_cpu_and_memory_and_the_stack_total() {
    let mut a = stack_app();
    let t0 = Instant::now();
    let base = a.stack.clone();
    // Five minutes of inspections: temporal's CPU climbs, the api's memory too.
    for k in 0..150u64 {
        let mut s = base.clone();
        for (i, v) in s.iter_mut().enumerate() {
            v.seen.at = Some(t0 + Duration::from_secs(2 * k));
            let (cpu, rss) = match i {
                0 => (k as f32 / 3.0, 200 << 20),
                1 => (1.0, (50 + k) << 20),
                _ => continue,
            };
            v.seen.usage = [(100 + i as i32, (cpu, rss))].into_iter().collect();
        }
        a.set_stack(s);
    }
    let text = screen(&a, 110, 34);
    let row = |name: &str| {
        text.lines()
            .find(|l| l.contains(name) && l.contains('%'))
            .unwrap_or_else(|| panic!("{name} row:\n{text}"))
            .to_string()
    };
    // CPU on one core's scale: climbing to half a core.
    let cells = |r: &str| -> Vec<usize> {
        r.chars()
            .filter_map(|c| "▁▂▃▄▅▆▇█".chars().position(|b| b == c))
            .collect()
    };
    let t = cells(&row("temporal"));
    assert!(
        t[..8].windows(2).all(|w| w[0] <= w[1]) && t[0] < t[7],
        "{t:?}"
    );
    assert_eq!(t[7], 3, "half a core is half a bar: {t:?}");
    assert!(row("total").contains("50.7%"), "{}", row("total"));
    assert!(row("total").contains("399M"), "{}", row("total"));
    insta::assert_snapshot!(text);
}

#[test]
fn temporal_panel_ties_pollers_to_services_and_warns() {
    use crate::temporal::{Namespace, Persistence, Poller, TaskQueue, TemporalInfo};
    let mut a = stack_app();
    a.on_key(key(KeyCode::Char('w')));
    assert!(!a.show_temporal, "no Temporal known");
    assert!(a.notice.as_deref().unwrap().contains("no Temporal"));
    a.has_temporal = true;
    a.on_key(key(KeyCode::Char('w')));
    assert!(screen(&a, 140, 40).contains("asking Temporal…"));
    a.on_key(key(KeyCode::Char('w')));
    a.temporal = Some(TemporalInfo {
        external: None,
        version: Some("1.32.0".into()),
        ui_url: Some("http://127.0.0.1:8233".into()),
        persistence: Some(Persistence {
            path: "/tmp/stigmer-snap/temporal-data/temporal.db".into(),
            bytes: Some(3 << 20),
        }),
        namespaces: vec![Namespace {
            name: "default".into(),
            workflows: [("running".to_string(), 2), ("completed".to_string(), 7)]
                .into_iter()
                .collect(),
        }],
        workers: vec![],
        stuck: vec![],
        workflows: vec![],
        stuck_unchecked: 0,
        task_queues: vec![
            TaskQueue {
                namespace: "default".into(),
                name: "hello".into(),
                pollers: vec![
                    Poller {
                        kind: "workflow".into(),
                        identity: "5001@host".into(),
                        last_access: None,
                        pid: Some(5001),
                        service: Some("worker".into()),
                        exited: false,
                        claimed: None,
                    },
                    Poller {
                        kind: "activity".into(),
                        identity: "6000@host".into(),
                        last_access: None,
                        pid: Some(6000),
                        service: None,
                        exited: false,
                        claimed: None,
                    },
                    Poller {
                        kind: "workflow".into(),
                        identity: "4999@host".into(),
                        last_access: None,
                        pid: None,
                        service: None,
                        exited: true,
                        claimed: None,
                    },
                ],
                running: 1,
                oldest_running_secs: Some(3),
            },
            TaskQueue {
                namespace: "default".into(),
                name: "orphans".into(),
                pollers: vec![],
                running: 1,
                oldest_running_secs: Some(42),
            },
        ],
        warnings: vec![
            "workflow w1 has waited 42 s on task queue orphans, which no worker polls".into(),
        ],
        error: None,
    });
    a.on_key(key(KeyCode::Char('w')));
    assert!(a.show_temporal);
    let text = screen(&a, 140, 50);
    assert!(
        text.contains("hello") && text.contains("worker PID 5001"),
        "{text}"
    );
    assert!(text.contains("PID 6000 (not stigmer's)"), "{text}");
    assert!(text.contains("4999@host exited"), "{text}");
    assert!(!text.contains("not a local process"), "{text}");
    assert!(
        text.contains("no pollers") && text.contains("waited 42 s"),
        "{text}"
    );
    insta::assert_snapshot!(text);
    // A small panel scrolls: focused (Tab to the processes/Temporal panel),
    // ↓ moves past the first lines and the title says where.
    let small = screen(&a, 100, 30);
    assert!(small.contains("Temporal · lines 1–"), "{small}");
    a.focus = super::Focus::Processes;
    for _ in 0..3 {
        a.on_key(key(KeyCode::Down));
    }
    let scrolled = screen(&a, 100, 30);
    assert!(scrolled.contains("Temporal · lines 4–"), "{scrolled}");
    assert!(!scrolled.contains("server 1.32.0"), "{scrolled}");
    a.on_key(key(KeyCode::Char('o')));
    assert_eq!(a.open_url.as_deref(), Some("http://127.0.0.1:8233"));
    a.on_key(key(KeyCode::Char('w')));
    assert!(screen(&a, 140, 40).contains("Processes"));
}

#[test]
fn a_process_that_polls_a_task_queue_says_so_in_the_tree() {
    use crate::temporal::{Poller, TaskQueue, TemporalInfo};
    let mut a = app(snapshot(Phase::Running, running(4242)));
    a.temporal = Some(TemporalInfo {
        task_queues: vec![TaskQueue {
            namespace: "default".into(),
            name: "hello".into(),
            pollers: vec![Poller {
                kind: "workflow".into(),
                identity: "4243@host".into(),
                last_access: None,
                pid: Some(4243),
                service: Some("temporal".into()),
                exited: false,
                claimed: None,
            }],
            running: 0,
            oldest_running_secs: None,
        }],
        ..Default::default()
    });
    let text = screen(&a, 140, 40);
    let row = text
        .lines()
        .find(|l| l.contains("4243") && l.contains("temporal-helper"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("⇄ hello · temporal-helper"), "{row}");
}

/// Rows of the log panel (borders included) on a drawn screen.
fn log_panel_rows(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let top = lines
        .iter()
        .position(|l| l.starts_with("┏Log") || l.starts_with("┌Log"));
    let bottom = lines
        .iter()
        .rposition(|l| l.starts_with('┗') || l.starts_with('└'));
    match (top, bottom) {
        (Some(t), Some(b)) if b >= t => b - t + 1,
        _ => 0,
    }
}

#[test]
fn a_small_terminal_gives_the_log_a_third_and_z_zooms_the_focused_panel() {
    let mut a = stack_app();
    a.push_log(
        (0..40)
            .map(|i| format!("level=INFO msg=line-{i}"))
            .collect(),
    );
    let text = screen(&a, 100, 30);
    assert!(log_panel_rows(&text) >= 10, "{text}");
    assert!(
        text.contains("Processes") && text.contains("Events"),
        "{text}"
    );
    // z: the log alone between header and footer; z (or Esc) again: back.
    a.on_key(key(KeyCode::Char('z')));
    let zoomed = screen(&a, 100, 30);
    assert_eq!(log_panel_rows(&zoomed), 28, "{zoomed}");
    assert!(!zoomed.contains("Processes"), "{zoomed}");
    assert!(
        zoomed.contains("line-39") && zoomed.contains("line-14"),
        "{zoomed}"
    );
    a.on_key(key(KeyCode::Esc));
    assert_eq!(log_panel_rows(&screen(&a, 100, 30)), log_panel_rows(&text));
    // Another panel zooms too: the services.
    a.on_key(key(KeyCode::Tab));
    a.on_key(key(KeyCode::Char('z')));
    let services = screen(&a, 100, 30);
    assert!(
        services.contains("restarts") && !services.contains("┏Log"),
        "{services}"
    );
}

#[test]
fn the_layout_keeps_the_log_at_a_third_at_every_size() {
    use super::panels::Rows;
    for h in 24..=80u16 {
        for (stack, n) in [(false, 1), (true, 3), (true, 8)] {
            let body = h - 2;
            let r = Rows::of(body, stack, n);
            assert_eq!(r.services + r.top + r.mid + r.log, body, "{h} {r:?}");
            assert!(r.log >= h / 3, "{h} {stack} {r:?}");
        }
    }
    // Roomy: every panel at its full size.
    let r = Rows::of(46, true, 3);
    assert_eq!((r.services, r.top), (7, 9), "{r:?}");
}

#[test]
fn f_jumps_to_the_stuck_workflows_worker_log_with_its_failure_marked() {
    use crate::temporal::stuck::{Stuck, Who, Why};
    use crate::temporal::TemporalInfo;
    let mut a = stack_app();
    a.on_key(key(KeyCode::Char('F')));
    assert!(a
        .notice
        .as_deref()
        .unwrap_or("")
        .contains("no stuck workflow"));
    a.push_log_of(
        2,
        vec![
            "RuntimeError: a bug in Broken's code (an earlier try)".into(),
            "worker polling again".into(),
            "RuntimeError: a bug in Broken's code".into(),
            "worker still polling".into(),
        ],
    );
    let stuck = |id: &str, service: Option<&str>| Stuck {
        namespace: "default".into(),
        workflow_id: id.into(),
        run_id: None,
        workflow_type: Some("Broken".into()),
        task_queue: Some("hello".into()),
        why: Why::WorkflowTaskFailing {
            attempt: 3,
            cause: "WORKFLOW_WORKER_UNHANDLED_FAILURE".into(),
            message: "a bug in Broken's code".into(),
            stack: vec![],
            nondeterminism: false,
            worker: Some(Who {
                identity: "7@h".into(),
                pid: service.map(|_| 7),
                service: service.map(String::from),
            }),
        },
    };
    a.temporal = Some(TemporalInfo {
        stuck: vec![stuck("b-1", Some("worker")), stuck("b-2", None)],
        ..Default::default()
    });
    a.on_key(key(KeyCode::Char('F')));
    assert_eq!(
        a.info.name, "worker",
        "the failing worker's service is selected"
    );
    assert_eq!(a.focus, Focus::Log);
    assert_eq!(a.log.match_count, 2, "its failure's lines are marked");
    let at = a
        .log
        .bottom_row()
        .and_then(|k| a.log.row(k))
        .map(|l| l.text.to_string());
    assert_eq!(
        at.as_deref(),
        Some("RuntimeError: a bug in Broken's code"),
        "the newest in view"
    );
    assert!(a.notice.as_deref().unwrap_or("").contains("b-1"));
    // The next one failed on a worker stigmer does not run: said so.
    a.on_key(key(KeyCode::Char('F')));
    assert!(
        a.notice
            .as_deref()
            .unwrap_or("")
            .contains("not a service of this stack"),
        "{:?}",
        a.notice
    );
}

#[path = "workflow_tests.rs"]
mod workflow_tests;
