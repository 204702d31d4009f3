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
use crate::supervisor::{self, actor::Options, Phase, StackCommand};
use crate::util::output::short;

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
                } | Local::Supervise
            );
            init_cli_tracing(verbose);
            let port = ov.port;
            let stack = Stack::new(Settings::resolve(ov)?)?;
            rt.block_on(local(stack, cmd, port))
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
        Local::Supervise => supervise(stack).await,
        Local::Events { follow, json } => events(&stack, follow, json).await,
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

async fn start(stack: &Stack, set: &std::collections::BTreeSet<String>) -> bool {
    ops::start(stack, set, |ctx, r| match r {
        Ok(out) => print_started(ctx, out),
        Err(e) => crate::errln!("stigmer: {}", with_name(ctx, e)),
    })
    .await
}

/// `start` through the state dir's supervisor (started, detached, when none
/// runs), so the services are its children and stay supervised; the same
/// lines as a start of our own. Without a reachable supervisor, we start
/// them ourselves and say why.
async fn supervised_start(
    stack: &Stack,
    set: &std::collections::BTreeSet<String>,
    port: Option<u16>,
) -> bool {
    for attempt in 0..2 {
        match supervised_start_once(stack, set, port).await {
            Handed::Done(ok) => return ok,
            // It died before it answered anything (a supervisor `kill -9`ed
            // a moment ago still accepts for an instant): once its lock is
            // free, start again through a new one. Start is idempotent.
            Handed::Vanished if attempt == 0 => {
                let lock = stack.settings.state.supervisor_lock_path();
                crate::util::wait::poll_until(
                    Duration::from_secs(5),
                    Duration::from_millis(20),
                    || !crate::state::lock::is_held(&lock).unwrap_or(true),
                )
                .await;
            }
            Handed::Vanished => break,
        }
    }
    crate::errln!(
        "stigmer: the supervisor went away before it answered; see `stigmer local status`"
    );
    false
}

enum Handed {
    Done(bool),
    /// The connection ended with no answer at all.
    Vanished,
}

async fn supervised_start_once(
    stack: &Stack,
    set: &std::collections::BTreeSet<String>,
    port: Option<u16>,
) -> Handed {
    let socket = stack.settings.state.socket_path();
    let client = match control::Client::connect(&socket, Duration::from_millis(500)).await {
        Some(c) => Ok(c),
        None if crate::state::lock::is_held(&stack.settings.state.supervisor_lock_path())
            .unwrap_or(false) =>
        {
            Err("the running supervisor has no control socket".to_string())
        }
        None => control::spawn_supervisor(stack, port).await,
    };
    let mut client = match client {
        Ok(c) => c,
        Err(why) => {
            crate::errln!("stigmer: {why}; starting without a supervisor");
            return Handed::Done(start(stack, set).await);
        }
    };
    let req = control::Request::Start {
        services: set.iter().cloned().collect(),
    };
    if let Err(e) = client.send(&req).await {
        crate::errln!("stigmer: the supervisor did not take the start ({e}); starting without it");
        return Handed::Done(start(stack, set).await);
    }
    let mut reported = std::collections::BTreeSet::new();
    let mut answered = false;
    while let Some(reply) = client.next().await {
        answered = true;
        match reply {
            control::Reply::Result { result: r } => {
                let Some(ctx) = stack.get(&r.name) else {
                    continue;
                };
                reported.insert(r.name.clone());
                match (r.outcome, r.error) {
                    (Some(out), _) => print_started(ctx, &out),
                    (None, e) => crate::errln!(
                        "stigmer: {}",
                        with_name(ctx, &e.unwrap_or_else(|| "failed".into()))
                    ),
                }
            }
            control::Reply::Done { ok, .. } => return Handed::Done(ok),
            control::Reply::Error { error, .. } => {
                crate::errln!("stigmer: the supervisor refused the start: {error}");
                return Handed::Done(false);
            }
            _ => {}
        }
    }
    if !answered {
        return Handed::Vanished;
    }
    crate::errln!(
        "stigmer: the supervisor went away during the start (reported: {}); see `stigmer local status`",
        reported.into_iter().collect::<Vec<_>>().join(", ")
    );
    Handed::Done(false)
}

/// Asks a detached supervisor to exit (the stack was stopped); a dashboard
/// or a foreground supervisor stays.
async fn release_supervisor(stack: &Stack) {
    let socket = stack.settings.state.socket_path();
    if let Some(mut c) = control::Client::connect(&socket, Duration::from_millis(300)).await {
        if c.send(&control::Request::Shutdown).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), c.next()).await;
        }
    }
}

/// `local supervise`: the detached supervisor. Takes the supervisor lock
/// (waiting a little for one that is handing over), adopts what runs,
/// serves the control socket, and exits on `shutdown` or a signal, leaving
/// the services running for the next supervisor to adopt.
async fn supervise(stack: Stack) -> Result<ExitCode> {
    let lock_path = stack.settings.state.supervisor_lock_path();
    let free =
        crate::util::wait::poll_until(Duration::from_secs(5), Duration::from_millis(20), || {
            crate::state::lock::try_hold(&lock_path).is_ok()
        })
        .await;
    if !free {
        crate::errln!(
            "stigmer: another supervisor already supervises {}",
            stack.settings.state.root().display()
        );
        return Ok(ExitCode::FAILURE);
    }
    let handle = supervisor::stack::spawn(
        stack.clone(),
        Options {
            // Exits come by pidfd and health by the liveness checks; an
            // inspection is for adopting what someone else started (and
            // attached clients inspect for themselves): rarely, to stay idle.
            inspect_every: Duration::from_secs(10),
            autostart: false,
            observe: false,
        },
    );
    if !handle.supervising {
        crate::errln!("stigmer: another supervisor took over first");
        let _ = handle
            .commands
            .send(StackCommand::Shutdown { stop: false })
            .await;
        let _ = handle.join.await;
        return Ok(ExitCode::FAILURE);
    }
    // Its own log (stdout and stderr, O_APPEND) is rotated like the services'.
    let own_log = stack.settings.state.logs_dir().join("stigmer.log");
    let rotation = stack.settings.rotation;
    let rotator = tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::logs::rotate::CHECK_EVERY);
        loop {
            tick.tick().await;
            let _ = crate::util::blocking::blocking(|| {
                crate::logs::rotate::rotate_if_needed(&own_log, rotation)
            });
        }
    });
    let server = control::serve(stack.clone(), &handle, true);
    match &server {
        Ok(_) => handle.history.push(
            "stigmer",
            supervisor::history::Kind::Supervisor,
            Some(std::process::id() as i32),
            format!("supervising {}", stack.settings.state.root().display()),
        ),
        Err(e) => tracing::error!("no control socket ({e}); supervising without one"),
    }
    on_signal_shut_down(
        handle.commands.clone(),
        false,
        "signal received: leaving the services running for the next supervisor",
    );
    let mut handle = handle;
    let _ = (&mut handle.join).await;
    rotator.abort();
    drop(server);
    handle.hand_over(&stack);
    Ok(ExitCode::SUCCESS)
}

/// On SIGINT, SIGTERM or SIGHUP: end supervision (with `stop`, stopping the
/// stack first).
fn on_signal_shut_down(
    cmds: tokio::sync::mpsc::Sender<StackCommand>,
    stop: bool,
    say: &'static str,
) {
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
        tracing::info!("{say}");
        let _ = cmds.send(StackCommand::Shutdown { stop }).await;
    });
}

/// `local events`: the supervisor's history, then (with `follow`) live.
async fn events(stack: &Stack, follow: bool, json: bool) -> Result<ExitCode> {
    let socket = stack.settings.state.socket_path();
    let Some(mut c) = control::Client::connect(&socket, Duration::from_secs(1)).await else {
        bail!(
            "no supervisor runs for {}: the event history lives in the supervisor (`stigmer local start` starts one)",
            stack.settings.state.root().display()
        );
    };
    let req = if follow {
        control::Request::Subscribe { snapshots: false }
    } else {
        control::Request::Events
    };
    c.send(&req).await?;
    while let Some(reply) = c.next().await {
        match reply {
            control::Reply::Event { event } if json => {
                crate::outln!("{}", serde_json::to_string(&event)?)
            }
            control::Reply::Event { event } => crate::outln!("{}", event.line()),
            control::Reply::Done { .. } => break,
            control::Reply::Error { error, .. } => bail!("the supervisor says: {error}"),
            _ => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `local wait`: until every named service (default: the autostart ones)
/// is running and ready; at the timeout, why not.
async fn wait(stack: &Stack, names: &[String], timeout: f64) -> Result<ExitCode> {
    if !(timeout.is_finite() && (0.0..=86_400.0).contains(&timeout)) {
        bail!("--timeout {timeout} must be between 0 and 86400 seconds");
    }
    let set = ops::start_set(stack, names)?;
    let ctxs: Vec<_> = stack
        .services
        .iter()
        .filter(|c| set.contains(&c.spec.name))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(timeout);
    loop {
        let all = futures::future::join_all(ctxs.iter().map(|c| inspect::inspect(c))).await;
        let not: Vec<(&std::sync::Arc<Ctx>, &Status)> = ctxs
            .iter()
            .copied()
            .zip(&all)
            .filter(|(_, st)| st.state != State::Running)
            .collect();
        if not.is_empty() {
            for (c, st) in ctxs.iter().zip(&all) {
                crate::outln!("{} ready (PID {})", c.spec.name, st.pid.unwrap_or_default());
            }
            return Ok(ExitCode::SUCCESS);
        }
        if tokio::time::Instant::now() >= deadline {
            for (c, st) in not {
                let why = st
                    .advice
                    .clone()
                    .or_else(|| {
                        st.health
                            .iter()
                            .find(|h| !h.ok)
                            .map(|h| format!("{}: {}", h.layer, h.detail))
                    })
                    .unwrap_or_default();
                crate::errln!(
                    "stigmer: {} is {} after {timeout} s: {why}",
                    c.spec.name,
                    st.state.name()
                );
            }
            return Ok(ExitCode::FAILURE);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
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
    // The supervisor's history says who stopped what (the CLI does the
    // stopping itself: it must work with no supervisor, or a wedged one).
    let socket = stack.settings.state.socket_path();
    if let Some(mut c) = control::Client::connect(&socket, Duration::from_millis(300)).await {
        let verb = if force {
            control::Verb::Kill
        } else {
            control::Verb::Stop
        };
        let req = control::Request::Requested {
            command: verb.to_string(),
            services: set.iter().cloned().collect(),
        };
        if c.send(&req).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(1), c.next()).await;
        }
    }
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
fn status_json(
    name: &str,
    st: &Status,
    usage: Option<(f32, u64)>,
    temporal: Option<&crate::temporal::TemporalInfo>,
) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(st)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("name".into(), name.into());
        // CPU as percent of one core over the last USAGE_WINDOW, and
        // resident bytes, of all the service's processes; null when none.
        o.insert("cpu_percent".into(), usage.map(|u| u.0).into());
        o.insert("rss_bytes".into(), usage.map(|u| u.1).into());
        if let Some(t) = temporal.filter(|_| name == TEMPORAL) {
            o.insert("temporal".into(), serde_json::to_value(t)?);
        }
    }
    Ok(v)
}

/// Inside the built-in Temporal, when it is among `ctxs` (asked only when
/// it is running), or inside an external one (watched: always asked) when
/// the whole stack is; every call bounded.
async fn temporal_info(
    stack: &Stack,
    ctxs: &[&std::sync::Arc<Ctx>],
    all: &[Status],
    whole_stack: bool,
) -> Option<crate::temporal::TemporalInfo> {
    let state = match ctxs.iter().position(|c| c.spec.name == TEMPORAL) {
        Some(i) => Some((all[i].state, all[i].ready())),
        None if whole_stack && stack.settings.external.is_some() => None,
        None => return None,
    };
    let cx = crate::temporal::Context::of(stack);
    Some(
        tokio::task::spawn_blocking(move || crate::temporal::look(&cx, state))
            .await
            .unwrap_or_default(),
    )
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

/// CPU (percent of one core, over [`USAGE_WINDOW`]) and resident bytes of
/// each service's processes, from the kernel's tick counts; `None` for a
/// service with no process.
async fn usage_of(all: &[Status]) -> Vec<Option<(f32, u64)>> {
    let procs = |st: &Status| -> Vec<crate::process::ProcEntry> {
        st.members
            .iter()
            .chain(&st.escaped)
            .chain(&st.orphans)
            .cloned()
            .collect()
    };
    if all.iter().all(|st| procs(st).is_empty()) {
        return all.iter().map(|_| None).collect();
    }
    let t0 = std::time::Instant::now();
    tokio::time::sleep(USAGE_WINDOW).await;
    let secs = t0.elapsed().as_secs_f64();
    let hz = inspect::ticks_per_sec();
    let page = rustix::param::page_size() as u64;
    all.iter()
        .map(|st| {
            let now: Vec<(u64, u64)> = procs(st)
                .iter()
                .filter_map(|p| {
                    let s = crate::process::read_stat(p.pid).ok()?;
                    let ticks = (s.utime + s.stime).saturating_sub(p.cpu_ticks);
                    (s.start_ticks == p.start_ticks).then_some((ticks, s.rss_pages * page))
                })
                .collect();
            (!now.is_empty()).then(|| {
                let ticks = now.iter().map(|n| n.0).sum();
                let rss = now.iter().map(|n| n.1).sum();
                (crate::process::usage::percent(ticks, hz, secs), rss)
            })
        })
        .collect()
}

/// How long `status` watches the services' CPU time for its figure (30
/// ticks at 100 Hz: a resolution of about 3 points).
const USAGE_WINDOW: Duration = Duration::from_millis(300);

async fn status(stack: &Stack, name: Option<String>, json: bool) -> Result<ExitCode> {
    let ctxs = one_or_all(stack, name.as_deref())?;
    let all = futures::future::join_all(ctxs.iter().map(|c| inspect::inspect(c))).await;
    let temporal = temporal_info(stack, &ctxs, &all, name.is_none()).await;
    let usage = usage_of(&all).await;
    let socket = stack.settings.state.socket_path();
    let supervisor = control::supervisor_summary(&socket).await;
    let external = stack
        .settings
        .external
        .as_ref()
        .filter(|_| !stack.settings.enabled);
    if json {
        let v = if name.is_some() {
            status_json(&ctxs[0].spec.name, &all[0], usage[0], temporal.as_ref())?
        } else {
            let services = ctxs
                .iter()
                .zip(&all)
                .zip(&usage)
                .map(|((c, st), u)| status_json(&c.spec.name, st, *u, temporal.as_ref()))
                .collect::<Result<Vec<_>>>()?;
            let mut v = serde_json::json!({
                "state": worst(all.iter().map(|s| s.state)),
                "supervisor": supervisor,
                "services": services,
            });
            if let (Some(_), Some(t)) = (external, &temporal) {
                // An external Temporal has no service object: it is the stack's.
                v["temporal"] = serde_json::to_value(t)?;
            }
            v
        };
        crate::outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    crate::outln!("{}", human_supervisor(supervisor.as_ref()));
    if name.is_none() && ctxs.len() > 1 {
        crate::outln!(
            "{:<16} {:<10} {:<10} {:>8} {:>7} {:>8}  last exit",
            "service",
            "state",
            "PID",
            "restarts",
            "CPU",
            "memory"
        );
        for ((c, st), u) in ctxs.iter().zip(&all).zip(&usage) {
            crate::outln!("{}", human_row(&c.spec.name, st, *u));
        }
        for ((c, st), u) in ctxs.iter().zip(&all).zip(&usage) {
            crate::outln!("\n── {} ──", c.spec.name);
            crate::out!("{}", human_status(st, *u));
            if let Some(t) = temporal.as_ref().filter(|_| c.spec.name == TEMPORAL) {
                crate::out!("{}", human_temporal(t));
            }
        }
    } else {
        crate::out!("{}", human_status(&all[0], usage[0]));
        if let Some(t) = temporal.as_ref().filter(|_| external.is_none()) {
            crate::out!("{}", human_temporal(t));
        }
    }
    if let (Some(x), Some(t)) = (external, &temporal) {
        crate::outln!("\n── temporal (external, {}: watched only) ──", x.grpc);
        crate::out!("{}", human_temporal(t));
    }
    Ok(ExitCode::SUCCESS)
}

async fn foreground(stack: Stack) -> Result<ExitCode> {
    let state = stack.settings.state.clone();
    if let Err(e) = crate::state::lock::try_hold(&state.supervisor_lock_path()) {
        bail!(
            "{e}: another `stigmer` supervisor (dash or start --foreground) already supervises {}",
            state.root().display()
        );
    }
    let one = stack.services.len() == 1;
    let handle = supervisor::stack::spawn(
        stack.clone(),
        Options {
            inspect_every: Duration::from_secs(2),
            autostart: true,
            observe: false,
        },
    );
    let _server = control::serve_if_supervising(&stack, &handle);
    let mut snaps = handle.snapshots.clone();
    on_signal_shut_down(
        handle.commands.clone(),
        true,
        "signal received: stopping the stack",
    );
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
    let mut handle = handle;
    let _ = (&mut handle.join).await;
    handle.hand_over(&stack);
    Ok(exit(!failed))
}

/// `local logs`' filters, or an error that says what is wrong with them.
fn log_query(
    level: Option<&str>,
    grep: Option<&str>,
    since: Option<&str>,
) -> Result<crate::logs::query::Query> {
    use crate::logs::level::Level;
    let min_level = match level {
        None => None,
        Some(l) => Some(
            Level::parse(l)
                .with_context(|| format!("--level {l:?}: use trace, debug, info, warn or error"))?,
        ),
    };
    let grep = match grep {
        None => None,
        Some(g) => {
            Some(crate::logs::query::Search::new(g).map_err(|e| anyhow::anyhow!("--grep {e}"))?)
        }
    };
    let since_ms = match since {
        None => None,
        Some(d) => {
            let d = humantime::parse_duration(d).map_err(|e| {
                anyhow::anyhow!("--since {d:?}: {e}; write a duration such as 90s, 15m or 2h")
            })?;
            Some(crate::util::clock::now_ms() as i64 - d.as_millis().min(i64::MAX as u128) as i64)
        }
    };
    Ok(crate::logs::query::Query {
        min_level,
        grep,
        since_ms,
    })
}

/// One line of `local logs`, as text or JSON.
fn print_log_line(service: &str, label: &str, e: &crate::logs::query::Entry, json: bool) {
    if json {
        let v = serde_json::json!({
            "service": service,
            "time": e.time_ms.map(|t| crate::util::clock::rfc3339_ms(t.max(0) as u64)),
            "level": e.level.map(|l| l.name()),
            "line": e.line,
        });
        crate::outln!("{v}");
    } else {
        crate::outln!("{label}{}", e.line);
    }
}

async fn logs(
    stack: &Stack,
    name: Option<String>,
    follow: bool,
    lines: usize,
    query: crate::logs::query::Query,
    json: bool,
) -> Result<ExitCode> {
    use crate::logs::query::Reader;
    let ctxs = one_or_all(stack, name.as_deref())?;
    let named = ctxs.len() > 1;
    let width = ctxs.iter().map(|c| c.spec.name.len()).max().unwrap_or(0);
    let label = |c: &Ctx| {
        if named {
            format!("{:<width$} | ", c.spec.name)
        } else {
            String::new()
        }
    };
    let keep = stack.settings.rotation.keep;
    let mut tails = Vec::new();
    let mut shown: Vec<Vec<crate::logs::query::Entry>> = Vec::new();
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
        let end = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let mut reader = Reader::new(&query);
        if named {
            reader = reader.with_times();
        }
        let mut out = Vec::new();
        if query.is_empty() {
            for line in LogTail::last_lines(path, lines) {
                out.push(reader.entry(line));
            }
        } else {
            // Every kept file, oldest first; the last `lines` kept lines.
            let files = crate::logs::rotate::all_files(path, keep);
            let kept = crate::util::blocking::blocking(|| {
                let mut ring = std::collections::VecDeque::new();
                let mut timed = false;
                for f in &files {
                    let Ok(file) = crate::state::open_read_nofollow(f) else {
                        continue;
                    };
                    let mut r = std::io::BufReader::new(file);
                    let mut buf = Vec::new();
                    while matches!(std::io::BufRead::read_until(&mut r, b'\n', &mut buf), Ok(n) if n > 0)
                    {
                        let text = String::from_utf8_lossy(&buf);
                        let e = reader.entry(text.trim_end_matches(['\n', '\r']).to_string());
                        buf.clear();
                        timed |= e.time_ms.is_some();
                        if query.keeps(&e) {
                            if ring.len() == lines {
                                ring.pop_front();
                            }
                            if lines > 0 {
                                ring.push_back(e);
                            }
                        }
                    }
                }
                (ring, timed)
            });
            if query.since_ms.is_some() && !kept.1 {
                crate::errln!(
                    "stigmer: {}: its log has no timestamps stigmer can read, so --since keeps none of it",
                    c.spec.name
                );
            }
            out.extend(kept.0);
        }
        shown.push(out);
        tails.push((
            c.spec.name.clone(),
            l,
            LogTail::from_offset(path, end),
            reader,
        ));
    }
    // One log as it is; several merged in time order (the last `lines` of
    // all), each line with its service's name.
    let merged = crate::logs::query::merge_by_time(shown);
    for (i, e) in &merged[merged
        .len()
        .saturating_sub(if named { lines } else { usize::MAX })..]
    {
        let (name, l, ..) = &tails[*i];
        print_log_line(name, l, e, json);
    }
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    // Interleaved by arrival: every log is polled in turn. What arrives now
    // is recent whatever its text says: --since no longer applies.
    let query = crate::logs::query::Query {
        since_ms: None,
        ..query
    };
    loop {
        for (name, l, tail, reader) in &mut tails {
            for line in tail.poll() {
                let e = reader.entry(line);
                if query.keeps(&e) {
                    print_log_line(name, l, &e, json);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Inside Temporal, for people.
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
    for w in &t.warnings {
        let _ = writeln!(o, "warning   {w}");
    }
    o
}

/// A compact table for people.
/// Who supervises, in one line.
fn human_supervisor(s: Option<&control::SupervisorSummary>) -> String {
    match s {
        Some(s) => format!(
            "supervisor PID {} since {} ({} attached)",
            s.pid, s.since, s.attached_clients
        ),
        None => "supervisor none: nothing restarts the services (`stigmer local start` starts one)"
            .into(),
    }
}

/// `12.5%` and `187M` (or `-`).
fn human_usage(u: Option<(f32, u64)>) -> (String, String) {
    match u {
        Some((cpu, rss)) => (format!("{cpu:.1}%"), format!("{}M", rss >> 20)),
        None => ("-".into(), "-".into()),
    }
}

/// A service's line in the stack's table.
fn human_row(name: &str, st: &Status, u: Option<(f32, u64)>) -> String {
    let (cpu, mem) = human_usage(u);
    let sup = st.supervisor.as_ref();
    format!(
        "{:<16} {:<10} {:<10} {:>8} {:>7} {:>8}  {}",
        name,
        st.state.name(),
        st.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
        sup.map(|s| s.restarts.to_string())
            .unwrap_or_else(|| "-".into()),
        cpu,
        mem,
        sup.and_then(|s| s.last_exit.clone())
            .unwrap_or_else(|| "-".into()),
    )
}

pub fn human_status(st: &Status, usage: Option<(f32, u64)>) -> String {
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
