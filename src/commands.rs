//! What each command does, in terms of the lifecycle and the supervisor.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::{Cli, Local, Top};
use crate::config::{Overrides, Settings};
use crate::inspect::{self, State, Status};
use crate::lifecycle::{self, StartOutcome};
use crate::logtail::LogTail;
use crate::ops;
use crate::output::short;
use crate::service::{Ctx, Stack, TEMPORAL};
use crate::supervisor::{self, actor::Options, Phase, StackCommand};

pub fn run(cli: Cli) -> Result<ExitCode> {
    let ov = Overrides {
        home: cli.home.clone(),
        config: cli.config.clone(),
        port: cli.port,
        temporal_bin: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Top::Dash { no_start } => rt.block_on(crate::dash::run(ov, !no_start)),
        Top::Local(cmd) => {
            let verbose = matches!(
                cmd,
                Local::Start {
                    foreground: true,
                    ..
                }
            );
            init_cli_tracing(verbose);
            let stack = Stack::new(Settings::resolve(ov)?)?;
            rt.block_on(local(stack, cmd))
        }
    }
}

fn init_cli_tracing(verbose: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if verbose {
        "stigmer=info"
    } else {
        "stigmer=warn"
    };
    let filter = EnvFilter::try_from_env("STIGMER_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Its report of a failed write is an `eprintln!`, which panics when
        // stderr is a closed pipe: a supervisor must outlive its terminal.
        .log_internal_errors(false)
        .with_target(false)
        .try_init();
}

fn grace_of(grace: Option<f64>) -> Result<Option<Duration>> {
    match grace {
        None => Ok(None),
        Some(g) if g.is_finite() && (0.0..=3600.0).contains(&g) => {
            Ok(Some(Duration::from_secs_f64(g)))
        }
        Some(g) => bail!("--grace {g} must be between 0 and 3600 seconds"),
    }
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn local(stack: Stack, cmd: Local) -> Result<ExitCode> {
    match cmd {
        Local::Start {
            names,
            foreground: false,
        } => {
            let set = ops::start_set(&stack, &names)?;
            Ok(exit(start(&stack, &set).await))
        }
        Local::Start {
            names,
            foreground: true,
        } => {
            if !names.is_empty() {
                bail!("start --foreground supervises the whole stack; leave out the names");
            }
            foreground(stack).await
        }
        Local::Stop { names, grace } => {
            let grace = grace_of(grace)?;
            let set = ops::stop_set(&stack, &names)?;
            say_dependents(&names, &set);
            Ok(exit(stop(&stack, &set, grace, false).await))
        }
        Local::Kill { names } => {
            let set = ops::stop_set(&stack, &names)?;
            say_dependents(&names, &set);
            Ok(exit(stop(&stack, &set, Some(Duration::ZERO), true).await))
        }
        Local::Restart { names, grace } => {
            let grace = grace_of(grace)?;
            let set = ops::stop_set(&stack, &names)?;
            say_dependents(&names, &set);
            if !stop(&stack, &set, grace, false).await {
                return Ok(ExitCode::FAILURE);
            }
            // What was stopped comes back, with anything it needs.
            let names: Vec<String> = set.into_iter().collect();
            let set = ops::start_set(&stack, &names)?;
            Ok(exit(start(&stack, &set).await))
        }
        Local::Status { name, json } => status(&stack, name, json).await,
        Local::Clean { names, dry_run } => {
            let set = ops::stop_set(&stack, &names)?;
            let mut any = false;
            for ctx in stack.services.iter().filter(|c| set.contains(&c.spec.name)) {
                let plan = lifecycle::clean(ctx, dry_run).await?;
                for a in &plan.actions {
                    any = true;
                    crate::outln!(
                        "{}{}{a}",
                        prefix(&stack, &ctx.spec.name),
                        if dry_run { "would " } else { "" }
                    );
                }
            }
            if !any {
                crate::outln!("Nothing to clean.");
            }
            Ok(ExitCode::SUCCESS)
        }
        Local::Logs {
            name,
            follow,
            lines,
        } => logs(&stack, name, follow, lines).await,
    }
}

/// `name: ` when the stack has more than one service; nothing for Temporal
/// alone, whose output stays as it always was.
fn prefix(stack: &Stack, name: &str) -> String {
    if stack.services.len() > 1 {
        format!("{name}: ")
    } else {
        String::new()
    }
}

/// Says which services a stop of `names` adds because they depend on them.
fn say_dependents(names: &[String], set: &std::collections::BTreeSet<String>) {
    if names.is_empty() {
        return;
    }
    let extra: Vec<&str> = set
        .iter()
        .filter(|s| !names.contains(s))
        .map(String::as_str)
        .collect();
    if !extra.is_empty() {
        crate::outln!(
            "also stopping what depends on {}: {}",
            names.join(", "),
            extra.join(", ")
        );
    }
}

async fn start(stack: &Stack, set: &std::collections::BTreeSet<String>) -> bool {
    ops::start(stack, set, |ctx, r| match r {
        Ok(out) => print_started(ctx, out),
        Err(e) => crate::errln!("stigmer: {}", with_name(ctx, e)),
    })
    .await
}

/// An error line naming its service unless it already does.
fn with_name(ctx: &Ctx, e: &str) -> String {
    let name = &ctx.spec.name;
    if e.starts_with(name.as_str()) {
        e.to_string()
    } else {
        format!("{name}: {e}")
    }
}

fn print_started(ctx: &Ctx, out: &StartOutcome) {
    let name = &ctx.spec.name;
    let where_ = if name == TEMPORAL {
        let s = &ctx.settings;
        format!(
            " — gRPC 127.0.0.1:{}, UI http://127.0.0.1:{}, HTTP API 127.0.0.1:{}",
            s.grpc_port, s.ui_port, s.http_port
        )
    } else if ctx.spec.ports.is_empty() {
        String::new()
    } else {
        let ports: Vec<String> = ctx.spec.ports.iter().map(|p| p.port.to_string()).collect();
        format!(" — port {}", ports.join(", "))
    };
    let name = if name == TEMPORAL { "Temporal" } else { name };
    match out {
        StartOutcome::Started { pid, ready_in } => {
            crate::outln!(
                "{name} started (PID {pid}), ready in {} ms{where_}",
                ready_in.as_millis()
            )
        }
        StartOutcome::Reused { pid } => {
            crate::outln!("{name} already running (PID {pid}); reused{where_}")
        }
    }
}

async fn stop(
    stack: &Stack,
    set: &std::collections::BTreeSet<String>,
    grace: Option<Duration>,
    force: bool,
) -> bool {
    ops::stop(stack, set, grace, force, |ctx, r| {
        let name = if ctx.spec.name == TEMPORAL {
            "Temporal"
        } else {
            &ctx.spec.name
        };
        match r {
            Ok(rep) if !rep.was_running => crate::outln!("{name} is not running."),
            Ok(rep) => crate::outln!(
                "{name} stopped in {} ms{}.",
                rep.took.as_millis(),
                if rep.forced && !force {
                    " (did not exit in time: killed with SIGKILL)"
                } else if force {
                    " (SIGKILL)"
                } else {
                    ""
                }
            ),
            Err(e) => crate::errln!("stigmer: {}", with_name(ctx, e)),
        }
    })
    .await
}

/// The worst of several states: what a stack's one-word state says.
fn worst(states: impl Iterator<Item = State>) -> State {
    let rank = |s: State| match s {
        State::Running => 0,
        State::Starting => 1,
        State::Stopped => 2,
        State::Stale => 3,
        State::Unhealthy => 4,
        State::Failed => 5,
    };
    states.max_by_key(|s| rank(*s)).unwrap_or(State::Stopped)
}

/// A service's status object: exactly what `status --json` printed for
/// Temporal alone, plus `name`.
fn status_json(name: &str, st: &Status) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(st)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("name".into(), name.into());
    }
    Ok(v)
}

/// The named service, or every one; an unknown name lists the known.
fn one_or_all<'a>(stack: &'a Stack, name: Option<&str>) -> Result<Vec<&'a std::sync::Arc<Ctx>>> {
    match name {
        Some(n) => {
            stack.check_names(&[n.to_string()])?;
            Ok(stack.get(n).into_iter().collect())
        }
        None => Ok(stack.services.iter().collect()),
    }
}

async fn status(stack: &Stack, name: Option<String>, json: bool) -> Result<ExitCode> {
    let ctxs = one_or_all(stack, name.as_deref())?;
    let all = futures::future::join_all(ctxs.iter().map(|c| inspect::inspect(c))).await;
    if json {
        let v = if name.is_some() {
            status_json(&ctxs[0].spec.name, &all[0])?
        } else {
            let services = ctxs
                .iter()
                .zip(&all)
                .map(|(c, st)| status_json(&c.spec.name, st))
                .collect::<Result<Vec<_>>>()?;
            serde_json::json!({
                "state": worst(all.iter().map(|s| s.state)),
                "services": services,
            })
        };
        crate::outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    if name.is_none() && ctxs.len() > 1 {
        for (c, st) in ctxs.iter().zip(&all) {
            crate::outln!(
                "{:<16} {:<10} {}",
                c.spec.name,
                st.state.name(),
                st.pid
                    .map(|p| format!("PID {p}"))
                    .unwrap_or_else(|| "-".into())
            );
        }
        for (c, st) in ctxs.iter().zip(&all) {
            crate::outln!("\n── {} ──", c.spec.name);
            crate::out!("{}", human_status(st));
        }
    } else {
        crate::out!("{}", human_status(&all[0]));
    }
    Ok(ExitCode::SUCCESS)
}

async fn foreground(stack: Stack) -> Result<ExitCode> {
    let state = stack.settings.state.clone();
    if let Err(e) = crate::lock::try_hold(&state.supervisor_lock_path()) {
        bail!(
            "{e}: another `stigmer` supervisor (dash or start --foreground) already supervises {}",
            state.root().display()
        );
    }
    let one = stack.services.len() == 1;
    let handle = supervisor::stack::spawn(
        stack,
        Options {
            inspect_every: Duration::from_secs(2),
            autostart: true,
        },
    );
    let mut snaps = handle.snapshots.clone();
    let cmds = handle.commands.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {}, _ = hup.recv() => {} }
        tracing::info!("signal received: stopping the stack");
        let _ = cmds.send(StackCommand::Shutdown { stop: true }).await;
    });
    let mut announced: std::collections::HashMap<String, (Phase, Option<i32>)> = Default::default();
    let mut failed = false;
    loop {
        {
            let s = snaps.borrow_and_update();
            for v in &s.services {
                let now = (v.snap.phase, v.snap.pid);
                if announced.get(&v.name) == Some(&now) {
                    continue;
                }
                announced.insert(v.name.clone(), now);
                let name = if v.name == TEMPORAL {
                    "Temporal"
                } else {
                    &v.name
                };
                match now {
                    (Phase::Running, Some(pid)) => {
                        crate::errln!("{name} running (PID {pid}), supervising; Ctrl-C stops it")
                    }
                    (Phase::Failed, _) => {
                        crate::errln!(
                            "{name} failed: {}",
                            v.snap.message.clone().unwrap_or_default()
                        );
                        // Temporal alone: nothing left to supervise.
                        failed |= one;
                    }
                    _ => {}
                }
            }
        }
        if failed || snaps.changed().await.is_err() {
            break;
        }
    }
    if failed {
        let _ = handle
            .commands
            .send(StackCommand::Shutdown { stop: false })
            .await;
    }
    let _ = handle.join.await;
    Ok(exit(!failed))
}

async fn logs(stack: &Stack, name: Option<String>, follow: bool, lines: usize) -> Result<ExitCode> {
    let ctxs = one_or_all(stack, name.as_deref())?;
    let named = ctxs.len() > 1;
    let label = |c: &Ctx| {
        if named {
            format!(
                "{:<w$} | ",
                c.spec.name,
                w = ctxs.iter().map(|c| c.spec.name.len()).max().unwrap_or(0)
            )
        } else {
            String::new()
        }
    };
    for c in &ctxs {
        let path = &c.spec.paths.log;
        if let Some(why) = crate::state::file_problem(path) {
            if !named {
                bail!("{why}");
            }
            crate::errln!("stigmer: {why}");
            continue;
        }
        let l = label(c);
        for line in LogTail::last_lines(path, lines) {
            crate::outln!("{l}{line}");
        }
    }
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    // Interleaved by arrival: every log is polled in turn.
    let mut tails: Vec<(String, LogTail)> = ctxs
        .iter()
        .map(|c| (label(c), LogTail::at_end(&c.spec.paths.log)))
        .collect();
    loop {
        for (l, tail) in &mut tails {
            for line in tail.poll() {
                crate::outln!("{l}{line}");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A compact table for people.
pub fn human_status(st: &Status) -> String {
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
    if let Some(s) = &st.supervisor {
        let _ = writeln!(
            o,
            "supervisor PID {} {} restarts {}{}",
            s.pid,
            s.phase,
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
