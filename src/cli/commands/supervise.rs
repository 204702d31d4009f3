//! The supervisor processes (`local supervise`, detached; `start
//! --foreground`) and `local events`.

use super::*;

/// How often a detached supervisor looks at the world unasked.
pub(super) const SAFETY_SWEEP: Duration = Duration::from_secs(60);

/// `local supervise`: the detached supervisor. Takes the supervisor lock
/// (waiting a little for one that is handing over), adopts what runs,
/// serves the control socket, and exits on `shutdown` or a signal, leaving
/// the services running for the next supervisor to adopt.
pub(super) async fn supervise(stack: Stack, ready_fd: Option<i32>) -> Result<ExitCode> {
    // Taken before anything is spawned: no service may inherit it. Dropped
    // unsaid (an exit, a lost race) it ends the pipe: the client knows.
    let notifier = ready_fd.and_then(|fd| match control::ready::Notifier::take(fd) {
        Ok(n) => Some(n),
        Err(why) => {
            tracing::warn!("{why}: left alone");
            None
        }
    });
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
    // Exits come by pidfd and health by the liveness checks; every change
    // of phase inspects at once. The sweep is only a safety net, for what
    // someone else started or left (attached clients inspect for
    // themselves): once a minute, so that an idle supervisor does nothing
    // in proportion to the machine's process count.
    let handle = match supervisor::stack::supervise(stack.clone(), false, SAFETY_SWEEP) {
        Ok(h) => h,
        Err(e) => {
            crate::errln!("stigmer: {e} (it took over first)");
            return Ok(ExitCode::FAILURE);
        }
    };
    // Its own log (stdout and stderr, O_APPEND) is rotated with the
    // services' (supervisor/rotator.rs).
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
    if let Some(n) = notifier {
        n.say(match &server {
            Ok(_) => control::ready::Notice::Ready,
            Err(_) => control::ready::Notice::NoSocket,
        });
    }
    on_signal_shut_down(
        handle.commands.clone(),
        false,
        "signal received: leaving the services running for the next supervisor",
    );
    let mut handle = handle;
    let _ = (&mut handle.join).await;
    drop(server);
    handle.hand_over(&stack);
    Ok(ExitCode::SUCCESS)
}

/// On SIGINT, SIGTERM or SIGHUP: end supervision (with `stop`, stopping the
/// stack first).
pub(super) fn on_signal_shut_down(
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
pub(super) async fn events(
    state: &crate::state::StateDir,
    follow: bool,
    json: bool,
) -> Result<ExitCode> {
    let socket = state.socket_path();
    let Some(mut c) = control::Client::connect(&socket, Duration::from_secs(1)).await else {
        bail!(
            "no supervisor runs for {}: the event history lives in the supervisor (`stigmer local start` starts one)",
            state.root().display()
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

pub(super) async fn foreground(stack: Stack) -> Result<ExitCode> {
    let state = stack.settings.state.clone();
    if let Err(e) = crate::state::lock::try_hold(&state.supervisor_lock_path()) {
        bail!(
            "{e}: another `stigmer` supervisor (dash or start --foreground) already supervises {}",
            state.root().display()
        );
    }
    let one = stack.services.len() == 1;
    let handle = supervisor::stack::supervise(stack.clone(), true, Duration::from_secs(2))?;
    let _server = control::serve_attached(&stack, &handle);
    let mut snaps = handle.views.clone();
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
            for v in s.iter() {
                let now = (v.phase, v.pid);
                if announced.get(&v.name) == Some(&now) {
                    continue;
                }
                announced.insert(v.name.clone(), now);
                let name = crate::config::service::display_name(&v.name);
                match now {
                    (Phase::Running, Some(pid)) => {
                        crate::errln!("{name} running (PID {pid}), supervising; Ctrl-C stops it")
                    }
                    (Phase::Failed, _) => {
                        crate::errln!("{name} failed: {}", v.message.clone().unwrap_or_default());
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

/// `local reload`: the supervisor runs its file as it is now; with the
/// file or profiles `named` on purpose, that file and those from now on.
/// The file is loaded by the supervisor (which says what is wrong with
/// it), not here: a file that does not load is what a reload reports.
pub(super) async fn reload(ov: Overrides, named: (bool, bool), json: bool) -> Result<ExitCode> {
    let ov = ov.with_env()?;
    let state = crate::state::StateDir::open(ov.home_or_default()?)?;
    let socket = state.socket_path();
    let Some(mut c) = control::Client::connect(&socket, Duration::from_secs(1)).await else {
        bail!(
            "no supervisor runs for {}: nothing to reload (`stigmer local start` starts one with the file)",
            state.root().display()
        );
    };
    let Some(hello) = c.hello().await else {
        bail!(
            "{}; nothing was reloaded",
            control::SupervisorState::not_answering(c.peer)
        );
    };
    let config = match (named.0, &ov.config) {
        (true, Some(p)) => Some(std::path::absolute(p)?),
        _ => None,
    };
    let profiles = named.1.then(|| ov.profiles.clone());
    // Its stops escalate to a kill after each one's grace: bounded there.
    let diff = c
        .reload(config.clone(), profiles, Duration::from_secs(600))
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let file = config
        .or(hello.config.path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the defaults (no config file)".into());
    if json {
        crate::outln!(
            "{}",
            serde_json::json!({ "config": file, "supervisor": hello.pid, "reloaded": diff })
        );
    } else {
        crate::outln!("Reloaded {file}: {}.", diff.summary());
    }
    Ok(ExitCode::SUCCESS)
}

/// `local stop` (or `kill`) of everything when the config does not load:
/// the supervisor stops what it runs (dependents first, escalating after
/// each one's grace), then leaves. Without one, the config's error stands.
pub(super) async fn stop_without_config(ov: Overrides, why: anyhow::Error) -> Result<ExitCode> {
    let state = crate::state::StateDir::open(ov.with_env()?.home_or_default()?)?;
    let socket = state.socket_path();
    let Some(mut c) = control::Client::connect(&socket, Duration::from_secs(1)).await else {
        return Err(
            why.context("and no supervisor runs to stop the services without it; fix the file")
        );
    };
    crate::errln!("stigmer: {why:#}");
    crate::errln!("stigmer: the config does not load; the supervisor stops what it runs instead");
    let req = control::Request::Command {
        command: control::Verb::Stop.to_string(),
        service: None,
    };
    c.send(&req).await?;
    let _ = tokio::time::timeout(Duration::from_secs(2), c.next()).await;
    let all_idle = crate::util::wait::poll_until_async(
        Duration::from_secs(300),
        Duration::from_millis(200),
        || {
            let socket = socket.clone();
            async move {
                match control::Client::connect(&socket, Duration::from_millis(500)).await {
                    Some(mut c) => c
                        .view()
                        .await
                        .is_some_and(|v| v.iter().all(|s| s.phase.idle())),
                    None => true,
                }
            }
        },
    )
    .await;
    if let Some(mut c) = control::Client::connect(&socket, Duration::from_millis(300)).await {
        if c.send(&control::Request::Shutdown).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), c.next()).await;
        }
    }
    if all_idle {
        crate::outln!("All services stopped.");
    } else {
        crate::errln!("stigmer: not everything stopped in 5 minutes; see `stigmer local events`");
    }
    Ok(exit(all_idle))
}

/// `local scale NAME N`: the supervisor runs N replicas of NAME from now on.
pub(super) async fn scale(
    stack: &Stack,
    name: String,
    replicas: u32,
    json: bool,
) -> Result<ExitCode> {
    if !stack.settings.services.iter().any(|(n, _)| *n == name) {
        bail!(
            "no service named {name:?} in the config to scale (it has: {})",
            stack
                .settings
                .services
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let socket = stack.settings.state.socket_path();
    let Some(mut c) = control::Client::connect(&socket, Duration::from_secs(1)).await else {
        bail!(
            "no supervisor runs for {}: scale changes a running stack (set replicas = {replicas} in [services.{name}] for the next start)",
            stack.settings.state.root().display()
        );
    };
    let req = control::Request::Scale {
        service: name.clone(),
        replicas,
    };
    let diff = c
        .reloading(req, Duration::from_secs(600))
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    if json {
        crate::outln!(
            "{}",
            serde_json::json!({ "service": name, "replicas": replicas, "reloaded": diff })
        );
    } else {
        crate::outln!(
            "{name}: {replicas} replica{} ({}).",
            if replicas == 1 { "" } else { "s" },
            diff.summary()
        );
    }
    Ok(ExitCode::SUCCESS)
}
