//! `local start`, `stop`, `kill`, `restart`, `wait`: handed to the supervisor
//! (started when none runs), or done here when none can be.

use super::*;

pub(super) async fn start(stack: &Stack, set: &std::collections::BTreeSet<String>) -> bool {
    ops::start(stack, set, |ctx, r| match r {
        Ok(out) => print_started(ctx, out),
        Err(e) => crate::errln!("stigmer: {}", with_name(ctx, &e.0)),
    })
    .await
}

/// `start` through the state dir's supervisor (started, detached, when none
/// runs), so the services are its children and stay supervised; the same
/// lines as a start of our own. Without a reachable supervisor, we start
/// them ourselves and say why.
pub(super) async fn supervised_start(
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

pub(super) enum Handed {
    Done(bool),
    /// The connection ended with no answer at all.
    Vanished,
}

pub(super) async fn supervised_start_once(
    stack: &Stack,
    set: &std::collections::BTreeSet<String>,
    port: Option<u16>,
) -> Handed {
    let client = connect_or_spawn(stack, port).await;
    let mut client = match client {
        Ok(c) => c,
        Err(why) => {
            crate::errln!("stigmer: {why}; starting without a supervisor");
            return Handed::Done(start(stack, set).await);
        }
    };
    // One we started a moment ago runs this very file and has answered on
    // its readiness pipe: no need to ask.
    if !client.ours {
        if let Err(done) = check_and_reload(stack, &mut client).await {
            return done;
        }
    }
    // The start may take each service's readiness timeout, in dependency
    // order; past that (and a margin) we stop waiting, and so does the
    // supervisor if it reads the request only then.
    let longest: Duration = set
        .iter()
        .filter_map(|n| stack.get(n))
        .map(|c| c.spec.ready_timeout + c.spec.grace)
        .sum();
    let wait = longest + Duration::from_secs(30);
    let deadline = tokio::time::Instant::now() + wait;
    let req = control::Request::Start {
        services: set.iter().cloned().collect(),
        deadline_ms: Some(crate::util::clock::now_ms() + wait.as_millis() as u64),
    };
    if let Err(e) = client.send(&req).await {
        crate::errln!("stigmer: the supervisor did not take the start ({e}); starting without it");
        return Handed::Done(start(stack, set).await);
    }
    results(stack, client, deadline, wait).await
}

/// Asks a running supervisor who it is (bounded: a stopped or wedged one
/// still has its connections accepted by the kernel) and makes it run this
/// file as it is now; `Err` is how the start ends instead.
async fn check_and_reload(stack: &Stack, client: &mut control::Client) -> Result<(), Handed> {
    // Is anyone there? A stopped (SIGSTOP) or wedged supervisor still has
    // its connections accepted by the kernel, but answers nothing.
    if client.send(&control::Request::Hello).await.is_err() {
        return Err(Handed::Vanished);
    }
    let hello = match tokio::time::timeout(Duration::from_secs(2), client.next()).await {
        Ok(Some(control::Reply::Hello { supervisor, .. })) => supervisor,
        Ok(_) => return Err(Handed::Vanished),
        Err(_) => {
            crate::errln!(
                "stigmer: {}; nothing was started",
                control::SupervisorState::not_answering(client.peer)
            );
            return Err(Handed::Done(false));
        }
    };
    // Never a silent other stack: it must run this file, as it is now.
    if let Some(why) = hello.runs_other(stack) {
        crate::errln!("stigmer: {why}; nothing was started");
        return Err(Handed::Done(false));
    }
    let grace: Duration = stack.services.iter().map(|c| c.spec.grace).sum();
    match client
        .reload(None, None, grace + Duration::from_secs(90))
        .await
    {
        Ok(d) if d.is_empty() => {}
        Ok(d) => crate::outln!("The supervisor reloaded the config: {}.", d.summary()),
        Err(e) => {
            crate::errln!("stigmer: {e}; nothing was started");
            return Err(Handed::Done(false));
        }
    }
    Ok(())
}

/// Asks a detached supervisor to exit (the stack was stopped); a dashboard
/// or a foreground supervisor stays.
pub(super) async fn release_supervisor(stack: &Stack) {
    let socket = stack.settings.state.socket_path();
    if let Some(mut c) = control::Client::connect(&socket, Duration::from_millis(300)).await {
        if c.send(&control::Request::Shutdown).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), c.next()).await;
        }
    }
}

/// `local wait`: until every named service (default: the autostart ones)
/// is running and ready; at the timeout, why not.
pub(super) async fn wait(stack: &Stack, names: &[String], timeout: f64) -> Result<ExitCode> {
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
        let (_, views) = supervisor_and_views(stack).await;
        let all = inspect_all(&ctxs, &views).await;
        // A task is ready once done (the supervisor's word).
        let done = |c: &Ctx| crate::view::find(&views, &c.spec.name).is_some_and(|v| v.done());
        let not: Vec<(&std::sync::Arc<Ctx>, &Status)> = ctxs
            .iter()
            .copied()
            .zip(&all)
            .filter(|(c, st)| st.state != State::Running && !done(c))
            .collect();
        if not.is_empty() {
            for (c, st) in ctxs.iter().zip(&all) {
                match crate::view::find(&views, &c.spec.name).and_then(|v| v.completed) {
                    Some(run) if done(c) => crate::outln!("{} {}", c.spec.name, run.words()),
                    _ => {
                        crate::outln!("{} ready (PID {})", c.spec.name, st.pid.unwrap_or_default())
                    }
                }
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

pub(super) fn print_started(ctx: &Ctx, out: &StartOutcome) {
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
    let name = crate::config::service::display_name(name);
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
        StartOutcome::Done { run, earlier } => {
            let when = if *earlier {
                " earlier (not run again; `local restart` runs it again)"
            } else {
                ""
            };
            crate::outln!("{name} {}{when}", run.words())
        }
    }
}

pub(super) async fn stop(
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
    // A task stopped is no longer done: its record goes, so that no
    // supervisor takes it for done (the running one is told above).
    for ctx in stack
        .services
        .iter()
        .filter(|c| c.spec.task.is_some() && set.contains(&c.spec.name))
    {
        let _ = std::fs::remove_file(&ctx.spec.paths.completed);
    }
    ops::stop(stack, set, grace, force, |ctx, r| {
        let name = crate::config::service::display_name(&ctx.spec.name);
        match r {
            Ok(rep) if !rep.was_running && ctx.spec.task.is_some() => {
                crate::outln!("{name} (a task) is not running; the next start runs it again.")
            }
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
            Err(e) => crate::errln!("stigmer: {}", with_name(ctx, &e.0)),
        }
    })
    .await
}

/// The state dir's supervisor: the one that answers, or a new detached
/// one (the supervisor lock decides who supervises; a supervisor that is
/// starting answers while ours waits for the lock). Nobody asks first
/// whether the lock is held: a `/proc/locks` read waits for an RCU grace
/// period (docs/supervisor.md, "Starting one").
async fn connect_or_spawn(
    stack: &Stack,
    port: Option<u16>,
) -> Result<control::Client, control::NoSupervisor> {
    let socket = stack.settings.state.socket_path();
    if let Some(c) = control::Client::connect(&socket, Duration::from_millis(500)).await {
        return Ok(c);
    }
    control::spawn_supervisor(stack, port).await.map_err(|e| {
        let lock = stack.settings.state.supervisor_lock_path();
        if crate::state::lock::is_held(&lock).unwrap_or(false) {
            control::NoSupervisor("the running supervisor has no control socket".into())
        } else {
            e
        }
    })
}

/// Each service's result as the supervisor sends it, until `done`.
async fn results(
    stack: &Stack,
    mut client: control::Client,
    deadline: tokio::time::Instant,
    wait: Duration,
) -> Handed {
    let mut reported = std::collections::BTreeSet::new();
    let mut answered = false;
    loop {
        let reply = match tokio::time::timeout_at(deadline, client.next()).await {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(_) => {
                crate::errln!(
                    "stigmer: {} within {} s; see `stigmer local status`",
                    control::SupervisorState::not_answering(client.peer),
                    wait.as_secs()
                );
                return Handed::Done(false);
            }
        };
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
