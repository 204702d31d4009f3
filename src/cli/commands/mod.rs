//! What each command does, in terms of the lifecycle and the supervisor.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::{Cli, Local, Top};
use crate::config::service::{Ctx, Stack, TEMPORAL};
use crate::config::{Overrides, Settings};
use crate::control;
use crate::lifecycle::ops;
use crate::lifecycle::{self, StartOutcome};
use crate::logs::tail::LogTail;
use crate::probe::inspect::{self, State, Status};
use crate::supervisor::{self, Phase, StackCommand};
use crate::util::output::short;
use crate::view::ServiceView;

mod human;
mod logs;
mod start;
mod status;
mod supervise;
mod why;

use human::*;
pub use human::{human_status, human_temporal};
use logs::*;
use start::*;
use status::*;
use supervise::*;
use why::*;

pub fn run(cli: Cli) -> Result<ExitCode> {
    // Named on purpose (not found by default): a reload switches to them.
    let named = (
        cli.config.is_some() || std::env::var_os("STIGMER_CONFIG").is_some_and(|v| !v.is_empty()),
        !cli.profiles.is_empty()
            || std::env::var_os("STIGMER_PROFILE").is_some_and(|v| !v.is_empty()),
    );
    let ov = Overrides {
        home: cli.home.clone(),
        config: cli.config.clone(),
        port: cli.port,
        temporal_bin: None,
        profiles: cli.profiles.clone(),
        ..Default::default()
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
                } | Local::Supervise { .. }
            );
            init_cli_tracing(verbose);
            // These two speak only to the supervisor: a config file that
            // does not load must not keep anyone from them.
            match cmd {
                Local::Reload { json } => {
                    return rt.block_on(reload(ov, named, json));
                }
                Local::Events { follow, json } => {
                    let state = crate::state::StateDir::open(ov.with_env()?.home_or_default()?)?;
                    return rt.block_on(events(&state, follow, json));
                }
                _ => {}
            }
            let port = ov.port;
            let mut ov = ov;
            let settings = Settings::resolve(ov.clone()).and_then(|s| {
                // The supervisor runs other replicas (`local scale`): read
                // the file again with its numbers (the only second read).
                match rt.block_on(supervisor_scale(&s)) {
                    Some(scale) => {
                        ov.scale = scale;
                        Settings::resolve(ov.clone())
                    }
                    None => Ok(s),
                }
            });
            let stack = match settings.and_then(Stack::new) {
                Ok(s) => s,
                // A file that no longer loads must not keep anyone from
                // stopping what runs: the supervisor knows what that is.
                Err(e) if matches!(&cmd, Local::Stop { names, .. } | Local::Kill { names } if names.is_empty()) =>
                {
                    return rt.block_on(stop_without_config(ov, e));
                }
                Err(e) => return Err(e),
            };
            rt.block_on(local(stack, cmd, port))
        }
    }
}

/// The replicas the supervisor runs (`local scale`), when it runs our file
/// with some: a command sees the stack it supervises, not only the file's
/// numbers.
async fn supervisor_scale(settings: &Settings) -> Option<std::collections::BTreeMap<String, u32>> {
    let socket = settings.state.socket_path();
    std::fs::symlink_metadata(&socket).ok()?;
    let mut c = control::Client::connect(&socket, Duration::from_millis(300)).await?;
    // Bounded short: a wedged supervisor is for the command to report.
    let s = tokio::time::timeout(Duration::from_millis(500), c.hello())
        .await
        .ok()??;
    (s.config.path == settings.config_path && !s.config.scale.is_empty()).then_some(s.config.scale)
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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

async fn local(stack: Stack, cmd: Local, port: Option<u16>) -> Result<ExitCode> {
    match cmd {
        Local::Start {
            names,
            foreground: false,
            unsupervised,
        } => {
            let set = ops::start_set(&stack, &names)?;
            if unsupervised {
                return Ok(exit(start(&stack, &set).await));
            }
            Ok(exit(supervised_start(&stack, &set, port).await))
        }
        Local::Supervise { ready_fd } => supervise(stack, ready_fd).await,
        Local::Why { name, json } => why(&stack, &name, json).await,
        Local::Scale {
            name,
            replicas,
            json,
        } => scale(&stack, name, replicas, json).await,
        // Both speak only to the supervisor (see `run`).
        Local::Reload { .. } | Local::Events { .. } => {
            bail!("this command is handled before the config is loaded")
        }
        Local::Wait { names, timeout } => wait(&stack, &names, timeout).await,
        Local::Start {
            names,
            foreground: true,
            ..
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
            let ok = stop(&stack, &set, grace, false).await;
            if names.is_empty() {
                // The whole stack is down: a detached supervisor leaves too.
                release_supervisor(&stack).await;
            }
            Ok(exit(ok))
        }
        Local::Kill { names } => {
            let set = ops::stop_set(&stack, &names)?;
            say_dependents(&names, &set);
            let ok = stop(&stack, &set, Some(Duration::ZERO), true).await;
            if names.is_empty() {
                release_supervisor(&stack).await;
            }
            Ok(exit(ok))
        }
        Local::Restart { names, grace } => restart(&stack, &names, grace, port).await,
        Local::Status { name, json } => status(&stack, name, json).await,
        Local::Clean { names, dry_run } => clean(&stack, &names, dry_run).await,
        Local::Logs {
            name,
            follow,
            lines,
            level,
            grep,
            since,
            json,
        } => {
            let query = log_query(level.as_deref(), grep.as_deref(), since.as_deref())?;
            let n = lines.unwrap_or(if since.is_some() { usize::MAX } else { 50 });
            logs(&stack, name, follow, n, query, json).await
        }
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

/// An error line naming its service unless it already does.
fn with_name(ctx: &Ctx, e: &str) -> String {
    let name = &ctx.spec.name;
    if e.starts_with(name.as_str()) {
        e.to_string()
    } else {
        format!("{name}: {e}")
    }
}

/// The named service, or every one; an unknown name lists the known.
fn one_or_all<'a>(stack: &'a Stack, name: Option<&str>) -> Result<Vec<&'a std::sync::Arc<Ctx>>> {
    match name {
        Some(n) => {
            let n = [n.to_string()];
            stack.check_names(&n)?;
            Ok(stack
                .expand(&n)
                .iter()
                .filter_map(|m| stack.get(m))
                .collect())
        }
        None => Ok(stack.services.iter().collect()),
    }
}

/// `local clean`: what is stale of each service removed (or, with
/// `dry_run`, said).
async fn clean(stack: &Stack, names: &[String], dry_run: bool) -> Result<ExitCode> {
    let set = ops::stop_set(stack, names)?;
    let mut any = false;
    for ctx in stack.services.iter().filter(|c| set.contains(&c.spec.name)) {
        let plan = lifecycle::clean(ctx, dry_run).await?;
        for a in &plan.actions {
            any = true;
            crate::outln!(
                "{}{}{a}",
                prefix(stack, &ctx.spec.name),
                if dry_run { "would " } else { "" }
            );
        }
    }
    if !any {
        crate::outln!("Nothing to clean.");
    }
    Ok(ExitCode::SUCCESS)
}

/// `local restart`: stopped (dependents first), then started again with
/// what it needs.
async fn restart(
    stack: &Stack,
    names: &[String],
    grace: Option<f64>,
    port: Option<u16>,
) -> Result<ExitCode> {
    let grace = grace_of(grace)?;
    let set = ops::stop_set(stack, names)?;
    say_dependents(names, &set);
    if !stop(stack, &set, grace, false).await {
        return Ok(ExitCode::FAILURE);
    }
    // What was stopped comes back, with anything it needs: through the
    // supervisor, as `start` does.
    let names: Vec<String> = set.into_iter().collect();
    let set = ops::start_set(stack, &names)?;
    if control::unsupervised_by_env() {
        return Ok(exit(start(stack, &set).await));
    }
    Ok(exit(supervised_start(stack, &set, port).await))
}
