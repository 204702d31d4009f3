//! Text for people, as pure functions of what was found.

use super::*;

/// Inside Temporal, for people.
/// `status`'s stuck workflows, one a line (and a failing task's stack).
fn human_stuck(t: &crate::temporal::TemporalInfo) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    for s in &t.stuck {
        let _ = writeln!(o, "stuck     {}", s.line());
        if let crate::temporal::stuck::Why::WorkflowTaskFailing { stack, .. } = &s.why {
            for l in stack.iter().take(3) {
                let _ = writeln!(o, "            {}", l.trim());
            }
        }
    }
    if t.stuck_unchecked > 0 {
        let _ = writeln!(
            o,
            "stuck     +{} more running workflows not checked",
            t.stuck_unchecked
        );
    }
    o
}

pub fn human_temporal(t: &crate::temporal::TemporalInfo) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "temporal  server {}  UI {}",
        t.version.as_deref().unwrap_or("?"),
        t.ui_url.as_deref().unwrap_or("-")
    );
    match &t.persistence {
        Some(p) => {
            let size = p
                .bytes
                .map(|b| format!("{:.1} MB", b as f64 / 1048576.0))
                .unwrap_or_else(|| "not created yet".into());
            let _ = writeln!(o, "data      {} ({size})", p.path);
        }
        None => {
            let _ = writeln!(o, "data      in memory");
        }
    }
    if let Some(e) = &t.error {
        let _ = writeln!(o, "api       {e}");
    }
    o.push_str(&human_stuck(t));
    for n in &t.namespaces {
        let counts: Vec<String> = n
            .workflows
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(o, "namespace {}: {}", n.name, counts.join(", "));
    }
    for q in &t.task_queues {
        let pollers: Vec<String> = q
            .pollers
            .iter()
            .map(|p| {
                let who = match (&p.service, p.pid) {
                    (Some(s), Some(pid)) => format!("{s} PID {pid}"),
                    (None, Some(pid)) => format!("PID {pid} (not managed by stigmer)"),
                    _ => p.identity.clone(),
                };
                format!("{} {who}", p.kind)
            })
            .collect();
        let _ = writeln!(
            o,
            "queue     {}/{}: {} running; pollers: {}",
            q.namespace,
            q.name,
            q.running,
            if pollers.is_empty() {
                "none".to_string()
            } else {
                pollers.join(", ")
            }
        );
    }
    for w in &t.workers {
        let who = match (&w.service, w.pid, w.claimed) {
            (Some(s), Some(pid), _) => format!("{s} PID {pid}"),
            (None, Some(pid), _) => format!("PID {pid} (not managed by stigmer)"),
            (_, _, Some(pid)) => format!("{} (claims PID {pid}: unverified)", w.identity),
            _ if w.remote => format!("{} on {}", w.identity, w.host),
            _ => w.identity.clone(),
        };
        let _ = writeln!(
            o,
            "worker    {}/{}: {who}, {} {}",
            w.namespace, w.task_queue, w.sdk, w.status
        );
    }
    for w in &t.warnings {
        let _ = writeln!(o, "warning   {w}");
    }
    o
}

/// A compact table for people.
/// Who supervises, in one line.
pub(super) fn human_supervisor(s: &control::SupervisorState, stack: &Stack) -> String {
    match s {
        control::SupervisorState::Answering(s) => {
            let file = s
                .config
                .path
                .as_deref()
                .map(|p| format!(", runs {}", p.display()))
                .unwrap_or_default();
            let mut line = format!(
                "supervisor PID {} since {} ({} attached){file}",
                s.pid, s.since, s.attached_clients
            );
            if let Some(e) = &s.config.error {
                line.push_str(&format!("\n  warning: {e}"));
            }
            if let Some(why) = s.runs_other(stack) {
                line.push_str(&format!("\n  warning: {why}"));
            }
            line
        }
        control::SupervisorState::NotAnswering(pid) => {
            format!(
                "supervisor {}",
                control::SupervisorState::not_answering(*pid)
            )
        }
        control::SupervisorState::None => {
            "supervisor none: nothing restarts the services (`stigmer local start` starts one)"
                .into()
        }
    }
}

/// `12.5%` and `187M` (or `-`).
pub(super) fn human_usage(u: Option<(f32, u64)>) -> (String, String) {
    match u {
        Some((cpu, rss)) => (format!("{cpu:.1}%"), format!("{}M", rss >> 20)),
        None => ("-".into(), "-".into()),
    }
}

/// A service's line in the stack's table.
pub(super) fn human_row(
    name: &str,
    st: &Status,
    sup: Option<&ServiceView>,
    u: Option<(f32, u64)>,
) -> String {
    let (cpu, mem) = human_usage(u);
    // A task done: its run, not "stopped".
    let done = sup.filter(|s| s.done()).and_then(|s| s.completed);
    let state = if done.is_some() {
        "completed"
    } else {
        st.state.name()
    };
    let last = match done {
        Some(run) => run.words(),
        None => sup
            .and_then(|s| s.last_exit)
            .map_or_else(|| "-".into(), |e| e.to_string()),
    };
    format!(
        "{:<16} {:<10} {:<10} {:>8} {:>7} {:>8}  {last}",
        name,
        state,
        st.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
        sup.map(|s| s.restarts.to_string())
            .unwrap_or_else(|| "-".into()),
        cpu,
        mem,
    )
}

/// A service's status as text: what inspecting it found, and what its
/// supervisor (`sup`, when one supervises it) decided.
pub fn human_status(st: &Status, sup: Option<&ServiceView>, usage: Option<(f32, u64)>) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let pid = st
        .pid
        .map(|p| format!("PID {p} (PGID {})", st.pgid.unwrap_or(p)))
        .unwrap_or_else(|| "-".into());
    let _ = writeln!(
        o,
        "state     {:<10} {pid}{}",
        st.state.name(),
        st.uptime_secs
            .map(|u| format!("  up {u}s"))
            .unwrap_or_default()
    );
    if usage.is_some() {
        let (cpu, mem) = human_usage(usage);
        let _ = writeln!(o, "usage     CPU {cpu} of a core, memory {mem}");
    }
    let holders = st
        .lock
        .holders
        .iter()
        .map(|h| format!("{} ({})", h.pid, short(&h.cmd, 40)))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        o,
        "lock      {:<10} {}",
        if st.lock.held { "held" } else { "free" },
        holders
    );
    let _ = writeln!(
        o,
        "pid file  {:<10} {}",
        st.pid_file.state,
        st.pid_file.summary().unwrap_or_default()
    );
    human_ports(&mut o, st);
    human_health(&mut o, st);
    for (label, list) in [
        ("member", &st.members),
        ("escaped", &st.escaped),
        ("orphan", &st.orphans),
    ] {
        for p in list {
            let _ = writeln!(
                o,
                "{label:<9} {:>7} ppid {:>7} pgid {:>7}  {}",
                p.pid,
                p.ppid,
                p.pgid,
                short(&p.cmd, 60)
            );
        }
    }
    if let Some(s) = sup {
        let _ = writeln!(
            o,
            "supervisor PID {} {} restarts {}{}",
            s.supervisor.unwrap_or_default(),
            s.phase.name(),
            s.restarts,
            s.last_exit
                .as_ref()
                .map(|e| format!(", last {e}"))
                .unwrap_or_default()
        );
    }
    if let Some(a) = &st.advice {
        let _ = writeln!(o, "hint      {a}");
    }
    o
}

/// One line per port: open or closed, and who owns it (marked when that
/// is not the service).
fn human_ports(o: &mut String, st: &Status) {
    use std::fmt::Write as _;
    for p in &st.ports {
        let owner = match (p.owner_pid, &p.owner_cmd) {
            (Some(pid), Some(cmd)) => format!(
                "PID {pid} {}{}",
                short(cmd, 40),
                if p.ours == Some(false) {
                    "  ← not ours"
                } else {
                    ""
                }
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "port      {:<5} {:<5} {:<6} {owner}",
            p.role.name(),
            p.port,
            if p.open { "open" } else { "closed" }
        );
    }
}

/// One line per health layer: ok or not, how long it took, and why.
fn human_health(o: &mut String, st: &Status) {
    use std::fmt::Write as _;
    for h in &st.health {
        let _ = writeln!(
            o,
            "health    {:<9} {:<4} {:>7.2} ms  {}",
            h.layer,
            if h.ok { "ok" } else { "FAIL" },
            h.latency_ms,
            h.detail
        );
    }
}

/// Which env files a service's environment came from (never the values).
pub(super) fn human_env_files(files: &[std::path::PathBuf]) -> String {
    if files.is_empty() {
        return String::new();
    }
    let list: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    format!("env files {}\n", list.join(", "))
}
