//! `local status`: every service inspected, Temporal asked, CPU and memory
//! from the kernel's ticks; JSON for machines.

use super::*;

/// `{pid, since, attached_clients, config, other_config?}`; `{pid,
/// answering: false}` when it takes connections but does not answer; null
/// when nobody listens. `other_config`: it runs another file than `stack`'s.
fn supervisor_json(s: &control::SupervisorState, stack: &Stack) -> Result<serde_json::Value> {
    Ok(match s {
        control::SupervisorState::Answering(s) => {
            let mut v = serde_json::to_value(s)?;
            if let (Some(o), Some(why)) = (v.as_object_mut(), s.runs_other(stack)) {
                o.insert("other_config".into(), why.into());
            }
            v
        }
        control::SupervisorState::NotAnswering(pid) => {
            serde_json::json!({"pid": pid, "answering": false})
        }
        control::SupervisorState::None => serde_json::Value::Null,
    })
}

/// Who supervises the stack and, when it answers, its view of every
/// service (what `status` says of a service follows its supervisor's word).
pub(super) async fn supervisor_and_views(
    stack: &Stack,
) -> (control::SupervisorState, Vec<ServiceView>) {
    control::supervisor_and_views(&stack.settings.state.socket_path()).await
}

/// Each of `ctxs` inspected, in parallel, with its supervisor's view.
pub(super) async fn inspect_all(
    ctxs: &[&std::sync::Arc<Ctx>],
    views: &[ServiceView],
) -> Vec<Status> {
    let each = ctxs
        .iter()
        .map(|c| inspect::inspect(c, crate::view::find(views, &c.spec.name)));
    futures::future::join_all(each).await
}

/// The worst of several states: what a stack's one-word state says.
pub(super) fn worst(states: impl Iterator<Item = State>) -> State {
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
pub(super) fn status_json(
    name: &str,
    env_files: &[std::path::PathBuf],
    st: &Status,
    sup: Option<&ServiceView>,
    usage: Option<(f32, u64)>,
    temporal: Option<&crate::temporal::TemporalInfo>,
) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(st)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("name".into(), name.into());
        // The supervisor's view of it (phase, restarts, last exit, …);
        // null when nobody supervises it.
        o.insert("supervisor".into(), serde_json::to_value(sup)?);
        // Which env files its environment came from (never their values).
        o.insert("env_files".into(), serde_json::to_value(env_files)?);
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
pub(super) async fn temporal_info(
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

/// CPU (percent of one core, over [`USAGE_WINDOW`]) and resident bytes of
/// each service's processes, from the kernel's tick counts; `None` for a
/// service with no process.
pub(super) async fn usage_of(all: &[Status]) -> Vec<Option<(f32, u64)>> {
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
    // Ticks and pages of a process now, if it is still the one scanned.
    let look = |p: &crate::process::ProcEntry| -> Option<(u64, u64)> {
        let s = crate::process::read_stat(p.pid).ok()?;
        (s.start_ticks == p.start_ticks).then_some((
            s.utime + s.stime,
            s.rss_pages * crate::platform::page_size(),
        ))
    };
    // The window is exactly [t0, t1]: both ends read here (the scan's
    // counts are older by the inspection and Temporal's API).
    let t0 = std::time::Instant::now();
    let before: Vec<Vec<Option<(u64, u64)>>> = all
        .iter()
        .map(|st| procs(st).iter().map(look).collect())
        .collect();
    tokio::time::sleep(USAGE_WINDOW).await;
    let secs = t0.elapsed().as_secs_f64();
    let hz = inspect::ticks_per_sec();
    all.iter()
        .zip(before)
        .map(|(st, before)| {
            let now: Vec<(u64, u64)> = procs(st)
                .iter()
                .zip(before)
                .filter_map(|(p, b)| {
                    let (t0_ticks, _) = b?;
                    let (t1_ticks, rss) = look(p)?;
                    Some((t1_ticks.saturating_sub(t0_ticks), rss))
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
pub(super) const USAGE_WINDOW: Duration = Duration::from_millis(300);

pub(super) async fn status(stack: &Stack, name: Option<String>, json: bool) -> Result<ExitCode> {
    let ctxs = one_or_all(stack, name.as_deref())?;
    // One service named (a replicated one's name stands for its copies).
    let one = name.is_some() && ctxs.len() == 1;
    let (supervisor, views) = supervisor_and_views(stack).await;
    let sup = |c: &Ctx| crate::view::find(&views, &c.spec.name);
    let all = inspect_all(&ctxs, &views).await;
    let temporal = temporal_info(stack, &ctxs, &all, name.is_none()).await;
    let usage = usage_of(&all).await;
    let external = stack
        .settings
        .external
        .as_ref()
        .filter(|_| !stack.settings.enabled);
    if json {
        let found = Found {
            all: &all,
            usage: &usage,
            views: &views,
            supervisor: &supervisor,
            temporal: &temporal,
            external,
            stack,
        };
        let v = status_document(&ctxs, &found, one)?;
        crate::outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    crate::outln!("{}", human_supervisor(&supervisor, stack));
    if !one && ctxs.len() > 1 {
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
            crate::outln!("{}", human_row(&c.spec.name, st, sup(c), *u));
        }
        for ((c, st), u) in ctxs.iter().zip(&all).zip(&usage) {
            crate::outln!("\n── {} ──", c.spec.name);
            crate::out!("{}", human_status(st, sup(c), *u));
            crate::out!("{}", human_env_files(&c.spec.env_files));
            if let Some(t) = temporal.as_ref().filter(|_| c.spec.name == TEMPORAL) {
                crate::out!("{}", human_temporal(t));
            }
        }
    } else {
        crate::out!("{}", human_status(&all[0], sup(ctxs[0]), usage[0]));
        crate::out!("{}", human_env_files(&ctxs[0].spec.env_files));
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

/// What `status` found, for its JSON document.
struct Found<'a> {
    all: &'a [Status],
    usage: &'a [Option<(f32, u64)>],
    views: &'a [ServiceView],
    supervisor: &'a control::SupervisorState,
    temporal: &'a Option<crate::temporal::TemporalInfo>,
    external: Option<&'a crate::config::External>,
    stack: &'a Stack,
}

/// `status --json`: one service's object, or the stack's document.
fn status_document(
    ctxs: &[&std::sync::Arc<Ctx>],
    found: &Found<'_>,
    one: bool,
) -> Result<serde_json::Value> {
    let Found {
        all,
        usage,
        views,
        supervisor,
        temporal,
        external,
        stack,
    } = *found;
    let sup = |c: &Ctx| crate::view::find(views, &c.spec.name);
    Ok(if one {
        let c = ctxs[0];
        let files = &c.spec.env_files;
        status_json(
            &c.spec.name,
            files,
            &all[0],
            sup(c),
            usage[0],
            temporal.as_ref(),
        )?
    } else {
        let services = ctxs
            .iter()
            .zip(all)
            .zip(usage)
            .map(|((c, st), u)| {
                let files = &c.spec.env_files;
                status_json(&c.spec.name, files, st, sup(c), *u, temporal.as_ref())
            })
            .collect::<Result<Vec<_>>>()?;
        let mut v = serde_json::json!({
            "state": worst(all.iter().map(|s| s.state)),
            "supervisor": supervisor_json(supervisor, stack)?,
            "services": services,
        });
        if let (Some(_), Some(t)) = (external, &temporal) {
            // An external Temporal has no service object: it is the stack's.
            v["temporal"] = serde_json::to_value(t)?;
        }
        v
    })
}
