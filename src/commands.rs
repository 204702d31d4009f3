//! What each command does, in terms of the lifecycle and the supervisor.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::{Cli, Local, Top};
use crate::config::{Overrides, Settings};
use crate::inspect::{self, Status};
use crate::lifecycle::{self, Ctx, StartOutcome};
use crate::logtail::LogTail;
use crate::output::short;
use crate::supervisor::{self, actor::Options, Command, Phase};

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
        Top::Dash => rt.block_on(crate::dash::run(ov)),
        Top::Local(cmd) => {
            let verbose = matches!(cmd, Local::Start { foreground: true });
            init_cli_tracing(verbose);
            let settings = Settings::resolve(ov)?;
            rt.block_on(local(Ctx::new(settings), cmd))
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

fn grace_of(ctx: &Ctx, grace: Option<f64>) -> Result<Duration> {
    match grace {
        None => Ok(ctx.spec.grace),
        Some(g) if g.is_finite() && (0.0..=3600.0).contains(&g) => Ok(Duration::from_secs_f64(g)),
        Some(g) => bail!("--grace {g} must be between 0 and 3600 seconds"),
    }
}

async fn local(ctx: Ctx, cmd: Local) -> Result<ExitCode> {
    match cmd {
        Local::Start { foreground: false } => {
            let out = lifecycle::start(&ctx).await?;
            print_started(&ctx, &out);
            Ok(ExitCode::SUCCESS)
        }
        Local::Start { foreground: true } => foreground(ctx).await,
        Local::Stop { grace } => {
            let grace = grace_of(&ctx, grace)?;
            stop(&ctx, grace, false).await
        }
        Local::Kill => stop(&ctx, Duration::ZERO, true).await,
        Local::Restart { grace } => {
            let grace = grace_of(&ctx, grace)?;
            stop(&ctx, grace, false).await?;
            let out = lifecycle::start(&ctx).await?;
            print_started(&ctx, &out);
            Ok(ExitCode::SUCCESS)
        }
        Local::Status { json } => {
            let st = inspect::inspect(&ctx).await;
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(&st)?);
            } else {
                crate::out!("{}", human_status(&st));
            }
            Ok(ExitCode::SUCCESS)
        }
        Local::Clean { dry_run } => {
            let plan = lifecycle::clean(&ctx, dry_run).await?;
            if plan.actions.is_empty() {
                crate::outln!("Nothing to clean.");
            }
            for a in &plan.actions {
                crate::outln!("{}{a}", if dry_run { "would " } else { "" });
            }
            Ok(ExitCode::SUCCESS)
        }
        Local::Logs { follow, lines } => logs(&ctx, follow, lines).await,
    }
}

fn print_started(ctx: &Ctx, out: &StartOutcome) {
    let s = &ctx.settings;
    let where_ = format!(
        "gRPC 127.0.0.1:{}, UI http://127.0.0.1:{}, HTTP API 127.0.0.1:{}",
        s.grpc_port, s.ui_port, s.http_port
    );
    match out {
        StartOutcome::Started { pid, ready_in } => {
            crate::outln!(
                "Temporal started (PID {pid}), ready in {} ms — {where_}",
                ready_in.as_millis()
            )
        }
        StartOutcome::Reused { pid } => {
            crate::outln!("Temporal already running (PID {pid}); reused — {where_}")
        }
    }
}

async fn stop(ctx: &Ctx, grace: Duration, force: bool) -> Result<ExitCode> {
    let mut last = 0usize;
    let mut progress = |left: &[crate::process::scan::ProcEntry]| {
        if left.len() != last {
            last = left.len();
            if !left.is_empty() {
                crate::errln!(
                    "waiting for {} process(es): {:?}",
                    left.len(),
                    left.iter().map(|p| p.pid).collect::<Vec<_>>()
                );
            }
        }
    };
    let rep = lifecycle::stop(ctx, grace, force, &mut progress).await?;
    if !rep.was_running {
        crate::outln!("Temporal is not running.");
    } else {
        crate::outln!(
            "Temporal stopped in {} ms{}.",
            rep.took.as_millis(),
            if rep.forced && !force {
                " (did not exit in time: killed with SIGKILL)"
            } else if force {
                " (SIGKILL)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn foreground(ctx: Ctx) -> Result<ExitCode> {
    if let Err(e) = crate::lock::try_hold(&ctx.settings.state.supervisor_lock_path()) {
        bail!(
            "{e}: another `stigmer` supervisor (dash or start --foreground) already supervises {}",
            ctx.settings.state.root().display()
        );
    }
    let handle = supervisor::actor::spawn(
        ctx,
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
        tracing::info!("signal received: stopping Temporal");
        let _ = cmds.send(Command::Shutdown { stop: true }).await;
    });
    let mut announced = None;
    let mut failed = false;
    loop {
        {
            let s = snaps.borrow_and_update();
            if announced != Some((s.phase, s.pid)) {
                announced = Some((s.phase, s.pid));
                match (s.phase, s.pid) {
                    (Phase::Running, Some(pid)) => {
                        crate::errln!("Temporal running (PID {pid}), supervising; Ctrl-C stops it")
                    }
                    (Phase::Failed, _) => {
                        crate::errln!("Temporal failed: {}", s.message.clone().unwrap_or_default());
                        failed = true;
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
            .send(Command::Shutdown { stop: false })
            .await;
    }
    let _ = handle.join.await;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn logs(ctx: &Ctx, follow: bool, lines: usize) -> Result<ExitCode> {
    let path = ctx.spec.paths.log.clone();
    if let Some(why) = crate::state::file_problem(&path) {
        bail!("{why}");
    }
    for l in LogTail::last_lines(&path, lines) {
        crate::outln!("{l}");
    }
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    let mut tail = LogTail::at_end(&path);
    loop {
        for l in tail.poll() {
            crate::outln!("{l}");
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
        st.pid_file
            .identity
            .clone()
            .or(st.pid_file.detail.clone())
            .unwrap_or_default()
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
