//! Inside Temporal, from its HTTP API: the server's version, where it keeps
//! its data, namespaces and their workflows by status, task queues with
//! their pollers — each poller tied to a local process (SDKs name a worker
//! `<pid>@<host>`; the PID is checked, not trusted) and to the service that
//! process belongs to — and the warnings a developer acts on.
//!
//! Blocking, every call bounded; run it off the UI thread.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// At most this many namespaces, running workflows and task queues are
/// looked at per refresh (the panel shows fewer).
mod workers;

use api::{concurrently, Api, ApiError};
pub use workers::Worker;
use workers::{pollers_of, workers_of, Here};

mod api;

pub mod stuck;
pub use stuck::{Memory, Stuck};

pub mod workflows;
pub use workflows::{Act, Detail, Target, Workflow};

const MAX_NAMESPACES: usize = 20;
const MAX_RUNNING: usize = 1000;
const MAX_QUEUES: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TemporalInfo {
    /// An external Temporal's gRPC address (watched only); `None` for the
    /// built-in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<String>,
    pub version: Option<String>,
    pub ui_url: Option<String>,
    /// The database file and its size; `None` when Temporal keeps its data
    /// in memory (or it is not ours to know).
    pub persistence: Option<Persistence>,
    pub namespaces: Vec<Namespace>,
    pub task_queues: Vec<TaskQueue>,
    /// Every worker that heartbeats (the server's worker list: queues no
    /// workflow runs on and no service declares included).
    #[serde(default)]
    pub workers: Vec<Worker>,
    /// Running workflows that are stuck, and why (the oldest running
    /// first, at most `stuck::MAX_DESCRIBED` looked at).
    #[serde(default)]
    pub stuck: Vec<Stuck>,
    /// Running workflows not looked at (past the bound).
    #[serde(default)]
    pub stuck_unchecked: usize,
    /// Running workflows (the oldest first, at most 1 000 a namespace),
    /// then the latest closed ones (newest first, at most 50 a namespace).
    #[serde(default)]
    pub workflows: Vec<Workflow>,
    pub warnings: Vec<String>,
    /// Why the rest is missing or partial (Temporal down, slow, or an
    /// answer that is not what its API says).
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Persistence {
    pub path: String,
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Namespace {
    pub name: String,
    /// By status: running, completed, failed, timed_out, terminated,
    /// canceled, continued_as_new.
    pub workflows: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskQueue {
    pub namespace: String,
    pub name: String,
    pub pollers: Vec<Poller>,
    /// Running workflows on it, and how long the oldest has been waiting.
    pub running: u64,
    pub oldest_running_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Poller {
    /// `workflow` or `activity`.
    pub kind: String,
    pub identity: String,
    pub last_access: Option<String>,
    /// The local process the identity names, when it is alive here.
    pub pid: Option<i32>,
    /// The stigmer service that process belongs to.
    pub service: Option<String>,
    /// The identity names this host and a process that is gone (or whose
    /// PID another process has since taken): a worker that exited, which
    /// Temporal remembers for a few minutes.
    #[serde(default)]
    pub exited: bool,
    /// The local PID the identity names when that process holds no
    /// connection to this Temporal: a claim, not a worker of ours or a
    /// stranger's (an identity is any string a worker chose).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed: Option<i32>,
}

/// What stigmer knows that Temporal does not.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Temporal's HTTP API, `host:port`.
    pub http: String,
    pub ui_url: Option<String>,
    /// `--db-filename` of the built-in server; `None` when it runs in memory.
    pub db_path: Option<std::path::PathBuf>,
    /// Whether the server is ours (its persistence is then known).
    pub built_in: bool,
    /// An external server's gRPC address.
    pub external: Option<String>,
    /// Services: name, the process group of its running leader, and the
    /// task queues it declares.
    pub services: Vec<(String, Option<i32>, Vec<String>)>,
    /// When each running service's leader started (ms since the epoch), by
    /// name: a worker just (re)started has not polled yet.
    pub started_ms: BTreeMap<String, u64>,
    pub timeout: Duration,
    /// Its gRPC port: a local worker talks to it there (the kernel's
    /// connection table proves a claimed PID).
    pub grpc_port: Option<u16>,
}

impl Context {
    /// What a stack tells about its built-in Temporal and its services.
    pub fn of(stack: &crate::config::service::Stack) -> Self {
        let s = &stack.settings;
        let db_path = s
            .args
            .windows(2)
            .find(|w| w[0] == "--db-filename")
            .map(|w| std::path::PathBuf::from(&w[1]));
        let mut started_ms = BTreeMap::new();
        let services = stack
            .services
            .iter()
            .map(|c| {
                let rec = crate::state::pidfile::read(&c.spec.paths.pid)
                    .record()
                    .filter(|r| crate::platform::exists(r.pid))
                    .cloned();
                if let Some(r) = &rec {
                    started_ms.insert(c.spec.name.clone(), r.started_at_ms);
                }
                (
                    c.spec.name.clone(),
                    rec.map(|r| r.pgid),
                    c.spec.task_queues.clone(),
                )
            })
            .collect();
        match (&s.external, s.enabled) {
            (Some(x), false) => Self {
                http: x.http.clone(),
                ui_url: x.ui_url.clone(),
                db_path: None,
                built_in: false,
                external: Some(x.grpc.clone()),
                services,
                started_ms,
                timeout: Duration::from_secs(1),
                grpc_port: x.grpc.rsplit(':').next().and_then(|p| p.parse().ok()),
            },
            _ => Self {
                http: format!("127.0.0.1:{}", s.http_port),
                ui_url: Some(format!("http://127.0.0.1:{}", s.ui_port)),
                db_path,
                built_in: s.enabled,
                external: None,
                services,
                started_ms,
                timeout: Duration::from_secs(1),
                grpc_port: Some(s.grpc_port),
            },
        }
    }

    /// The panel's content while Temporal does not run: what is known
    /// without asking it.
    pub fn not_running(&self, why: &str) -> TemporalInfo {
        let mut info = TemporalInfo {
            external: self.external.clone(),
            ui_url: self.ui_url.clone(),
            persistence: self.db_path.as_ref().map(|p| Persistence {
                path: p.display().to_string(),
                bytes: std::fs::metadata(p).ok().map(|m| m.len()),
            }),
            error: Some(why.to_string()),
            ..Default::default()
        };
        if self.built_in && self.db_path.is_none() {
            info.warnings.push(IN_MEMORY.into());
        }
        info
    }
}

const IN_MEMORY: &str = "Temporal keeps its data in memory: every workflow is lost when it stops";

/// One look at Temporal: an external one is asked (it is only watched);
/// the built-in one only when its readiness check just passed (`state`:
/// its state and that check, from an inspection). Otherwise, what is known
/// without asking.
pub fn look(cx: &Context, state: Option<(crate::probe::inspect::State, bool)>) -> TemporalInfo {
    look_again(cx, state, &mut Memory::default())
}

/// [`look`], remembering across looks (a refresh loop's): a running
/// workflow described lately is not described again every time.
pub fn look_again(
    cx: &Context,
    state: Option<(crate::probe::inspect::State, bool)>,
    memory: &mut Memory,
) -> TemporalInfo {
    use crate::probe::inspect::State;
    if cx.external.is_some() {
        return fetch_again(cx, memory);
    }
    match state {
        Some((State::Running, true)) => fetch_again(cx, memory),
        // Running by the supervisor's word, but not answering now: do not
        // wait on its API.
        Some((State::Running, false)) => {
            cx.not_running("Temporal does not answer its API right now")
        }
        Some((other, _)) => cx.not_running(&format!("Temporal is {}", other.name())),
        None => cx.not_running("Temporal: not inspected yet"),
    }
}

/// One refresh. Never panics; whatever fails is in `error`.
pub fn fetch(cx: &Context) -> TemporalInfo {
    fetch_again(cx, &mut Memory::default())
}

/// [`fetch`], remembering across refreshes (see [`look_again`]).
pub fn fetch_again(cx: &Context, memory: &mut Memory) -> TemporalInfo {
    let mut info = cx.not_running("");
    info.error = None;
    if let Err(e) = gather(&api_of(cx), cx, &mut info, memory) {
        info.error = Some(e.0);
    }
    info
}

/// A close look at one workflow run (see [`workflows::detail`]); `polled`:
/// a worker polls its queue, so its stack trace can be asked for.
pub fn detail(cx: &Context, target: &Target, polled: bool) -> Detail {
    workflows::detail(&api_of(cx), cx, &Here::now(cx), target, polled)
}

/// Cancel, terminate or reset one workflow run; what was done, or why not.
pub fn act(cx: &Context, target: &Target, what: Act) -> Result<String, String> {
    workflows::act(&api_of(cx), target, what).map_err(|e| e.0)
}

fn api_of(cx: &Context) -> Api {
    Api {
        agent: ureq::Agent::config_builder()
            .timeout_global(Some(cx.timeout))
            .http_status_as_error(false)
            .build()
            .new_agent(),
        base: format!("http://{}", cx.http),
    }
}

fn gather(
    api: &Api,
    cx: &Context,
    info: &mut TemporalInfo,
    memory: &mut Memory,
) -> Result<(), ApiError> {
    let cluster = api.get("/api/v1/cluster-info", &[])?;
    info.version = cluster["serverVersion"].as_str().map(String::from);
    let ns = api.get("/api/v1/namespaces", &[("pageSize", "100")])?;
    let names: Vec<String> = ns["namespaces"]
        .as_array()
        .ok_or("/api/v1/namespaces: no namespace list in the answer")?
        .iter()
        .filter_map(|n| n["namespaceInfo"]["name"].as_str().map(String::from))
        .filter(|n| n != "temporal-system")
        .take(MAX_NAMESPACES)
        .collect();
    let now_ms = crate::util::clock::now_ms() as i64;
    // Queues: (namespace, name) → running workflows and the oldest start.
    let mut queues = Queues::new();
    let mut waiting = Waiting::new();
    for name in &names {
        let path = format!("/api/v1/namespaces/{name}/workflow-count");
        let counts = api.get(&path, &[("query", "GROUP BY ExecutionStatus")])?;
        info.namespaces.push(Namespace {
            name: name.clone(),
            workflows: status_counts(&counts),
        });
        info.workflows
            .extend(running_on_queues(api, name, &mut queues, &mut waiting)?);
    }
    for name in &names {
        info.workflows.extend(workflows::closed(api, name)?);
    }
    let here = Here::now(cx);
    for name in &names {
        // Absent from an older server: the pollers say who works, then.
        let Ok(w) = api.get(&format!("/api/v1/namespaces/{name}/workers"), &[]) else {
            continue;
        };
        for worker in workers_of(&w, name, cx, &here) {
            queues
                .entry((name.clone(), worker.task_queue.clone()))
                .or_default();
            info.workers.push(worker);
        }
    }

    // Queues the services declare (in the default namespace).
    for (_, _, declared) in &cx.services {
        for q in declared {
            queues
                .entry(("default".to_string(), q.clone()))
                .or_default();
        }
    }
    let queues: Vec<_> = queues.into_iter().take(MAX_QUEUES).collect();
    let pollers = concurrently(&queues, |((namespace, name), _)| {
        pollers_of(api, cx, &here, namespace, name)
    });
    for (((namespace, name), (running, oldest)), pollers) in queues.into_iter().zip(pollers) {
        let pollers = pollers?;
        info.task_queues.push(TaskQueue {
            namespace,
            name,
            pollers,
            running,
            oldest_running_secs: oldest.map(|s| ((now_ms - s).max(0) / 1000) as u64),
        });
    }
    // Why running workflows are stuck, the oldest first (already in
    // order within a namespace).
    let mut running: Vec<&Workflow> = info
        .workflows
        .iter()
        .filter(|w| w.status == "running")
        .collect();
    running.sort_by_key(|w| w.start_ms.unwrap_or(i64::MAX));
    let unchecked = running.len().saturating_sub(stuck::MAX_DESCRIBED);
    let running: Vec<Workflow> = running
        .into_iter()
        .take(stuck::MAX_DESCRIBED)
        .cloned()
        .collect();
    info.stuck = stuck::stuck_of(api, cx, &here, &running, memory)?;
    info.stuck_unchecked = unchecked;
    info.warnings.extend(warnings(info, cx, &waiting, now_ms));
    info.warnings
        .extend(stuck::after_restart(&info.stuck, &cx.started_ms));
    Ok(())
}

/// What a developer acts on, from what was found.
fn warnings(
    info: &TemporalInfo,
    cx: &Context,
    waiting: &BTreeMap<(String, String), Vec<(String, i64)>>,
    now_ms: i64,
) -> Vec<String> {
    let mut out = Vec::new();
    for q in &info.task_queues {
        let polled = q.pollers.iter().any(|p| p.kind == "workflow");
        if !polled {
            if let Some(ws) = waiting.get(&(q.namespace.clone(), q.name.clone())) {
                if let Some((id, start)) = ws.iter().min_by_key(|w| w.1) {
                    let more = if ws.len() > 1 {
                        format!(" (and {} more)", ws.len() - 1)
                    } else {
                        String::new()
                    };
                    out.push(format!(
                        "workflow {id}{more} has waited {} s on task queue {}, which no worker polls",
                        (now_ms - start).max(0) / 1000,
                        q.name
                    ));
                }
            }
        }
        let mut strangers = BTreeSet::new();
        for p in &q.pollers {
            if let (Some(pid), None) = (p.pid, &p.service) {
                strangers.insert(pid);
            }
        }
        for pid in strangers {
            out.push(format!(
                "a poller on {} is a process not managed by stigmer (PID {pid})",
                q.name
            ));
        }
    }
    for (service, pgid, declared) in &cx.services {
        if pgid.is_none() {
            continue; // not running: nothing to poll with
        }
        let since = cx.started_ms.get(service).map(|s| now_ms - *s as i64);
        if since.is_some_and(|ms| ms < POLL_GRACE.as_millis() as i64) {
            continue; // just (re)started: its first poll may not be in yet
        }
        for qn in declared {
            let polls = info.task_queues.iter().any(|q| {
                &q.name == qn
                    && q.pollers
                        .iter()
                        .any(|p| p.service.as_deref() == Some(service.as_str()))
            });
            if !polls {
                out.push(format!(
                    "service {service} declares task queue {qn} but does not poll it"
                ));
            }
        }
    }
    out
}

/// `GROUP BY ExecutionStatus` counts: `{"groups":[{"groupValues":[payload],
/// "count":"1"}]}`, where the payload's data is base64 of `"Running"`.
fn status_counts(v: &Value) -> BTreeMap<String, u64> {
    use base64::Engine;
    let mut out = BTreeMap::new();
    for g in v["groups"].as_array().into_iter().flatten() {
        let count = g["count"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .or_else(|| g["count"].as_u64())
            .unwrap_or(0);
        let Some(data) = g["groupValues"][0]["data"].as_str() else {
            continue;
        };
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) else {
            continue;
        };
        let Ok(status) = serde_json::from_slice::<String>(&bytes) else {
            continue;
        };
        out.insert(snake(&status), count);
    }
    out.entry("running".into()).or_insert(0);
    out
}

/// `TimedOut` → `timed_out`.
fn snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// The PID a poller's identity names (`<pid>@<host>`), when the host is
/// this one and that process is alive here.
pub fn local_pid(identity: &str) -> Option<i32> {
    local_pid_on(identity, &hostname())
}

/// [`local_pid`] with this machine's name already read.
fn local_pid_on(identity: &str, ours: &str) -> Option<i32> {
    local_claim(identity, ours).filter(|pid| crate::platform::exists(*pid))
}

/// The PID an identity `<pid>@<host>` names when the host is this one,
/// alive or not.
fn local_claim(identity: &str, ours: &str) -> Option<i32> {
    let (pid, host) = identity.split_once('@')?;
    let pid: i32 = pid.trim().parse().ok().filter(|p| *p > 1)?;
    let host = host.split(['@', ' ']).next().unwrap_or(host);
    (host == ours || host == "localhost").then_some(pid)
}

/// Is `pid` alive, and was it already alive when its poll was last seen
/// (`seen_ms`)? A process that started after that is another one that
/// took a dead worker's PID.
fn alive_since_before(pid: i32, seen_ms: Option<i64>) -> bool {
    let Ok(st) = crate::process::read_stat(pid) else {
        return false;
    };
    let (Some(seen), Some(up)) = (seen_ms, crate::probe::inspect::uptime_secs()) else {
        return !st.is_zombie();
    };
    let age_ms = (up - st.start_ticks as f64 / crate::probe::inspect::ticks_per_sec()) * 1000.0;
    let started_ms = crate::util::clock::now_ms() as f64 - age_ms;
    // A second of slack for the two clocks' rounding.
    !st.is_zombie() && started_ms <= seen as f64 + 1000.0
}

/// How long after a service's (re)start its declared queues may go unpolled
/// before that is a warning. An SDK worker's first long poll reaches the
/// server within a second or two of its start; Temporal lists a poller
/// from its poll's arrival, so this covers a slow start on a busy machine
/// without hiding a worker that polls the wrong queue for long.
pub const POLL_GRACE: Duration = Duration::from_secs(20);

/// This machine's name, as SDKs put it in their identities.
fn hostname() -> String {
    crate::platform::hostname().unwrap_or_default()
}

/// The service whose running process group holds `pid`.
fn service_of(pid: i32, services: &[(String, Option<i32>, Vec<String>)]) -> Option<String> {
    let pgid = crate::platform::read_stat(pid).ok()?.pgid;
    services
        .iter()
        .find(|(_, g, _)| *g == Some(pgid))
        .map(|(n, _, _)| n.clone())
}

/// Queue name → running workflows and the oldest start.
type Queues = BTreeMap<(String, String), (u64, Option<i64>)>;
/// Queue name → the running workflows (id, start) on it.
type Waiting = BTreeMap<(String, String), Vec<(String, i64)>>;

/// The running workflows of namespace `name` (the oldest first), counted
/// by task queue.
fn running_on_queues(
    api: &Api,
    name: &str,
    queues: &mut Queues,
    waiting: &mut Waiting,
) -> Result<Vec<Workflow>, ApiError> {
    let path = format!("/api/v1/namespaces/{name}/workflows");
    let running = api.get_as(
        &path,
        &[
            ("query", "ExecutionStatus=\"Running\""),
            ("pageSize", &MAX_RUNNING.to_string()),
        ],
    )?;
    let mut rows = workflows::workflows_of(running, name);
    rows.truncate(MAX_RUNNING);
    rows.reverse(); // Temporal lists the newest first
    for w in &rows {
        let Some(q) = &w.task_queue else {
            continue;
        };
        let started = w.start_ms;
        let e = queues.entry((name.to_string(), q.clone())).or_default();
        e.0 += 1;
        if let Some(s) = started {
            e.1 = Some(e.1.map_or(s, |o| o.min(s)));
            waiting
                .entry((name.to_string(), q.clone()))
                .or_default()
                .push((w.workflow_id.clone(), s));
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_counts_decode_temporals_payloads() {
        let v: Value = serde_json::from_str(
            r#"{"count":"3","groups":[
                {"groupValues":[{"metadata":{},"data":"IlJ1bm5pbmci"}],"count":"1"},
                {"groupValues":[{"metadata":{},"data":"IlRpbWVkT3V0Ig=="}],"count":"2"},
                {"groupValues":[{"data":"not base64!"}],"count":"9"},
                {"count":"4"}]}"#,
        )
        .unwrap();
        let c = status_counts(&v);
        assert_eq!(c.get("running"), Some(&1));
        assert_eq!(c.get("timed_out"), Some(&2));
        assert_eq!(c.len(), 2);
        assert_eq!(
            status_counts(&serde_json::json!({})).get("running"),
            Some(&0)
        );
    }

    #[test]
    fn identities_name_local_live_processes_only() {
        let me = std::process::id() as i32;
        let host = hostname();
        assert_eq!(local_pid(&format!("{me}@{host}")), Some(me));
        assert_eq!(local_pid(&format!("{me}@some-other-host")), None);
        assert_eq!(local_pid("1@localhost"), None, "never PID 1");
        assert_eq!(local_pid("worker-7"), None);
        assert_eq!(local_pid("999999999@localhost"), None);
        // Our own group: the service whose group it is.
        let pgid = rustix::process::getpgrp().as_raw_nonzero().get();
        let services = vec![("api".to_string(), Some(pgid), vec![])];
        assert_eq!(service_of(me, &services), Some("api".into()));
        assert_eq!(service_of(me, &[]), None);
    }

    #[test]
    fn a_worker_just_restarted_is_not_yet_warned_about_and_a_dead_pid_is_exited() {
        let now = crate::util::clock::now_ms();
        let info = TemporalInfo::default();
        let mut cx = Context {
            services: vec![("worker".into(), Some(4242), vec!["hello".into()])],
            ..Default::default()
        };
        cx.started_ms.insert("worker".into(), now - 5_000);
        let w = warnings(&info, &cx, &BTreeMap::new(), now as i64);
        assert!(w.is_empty(), "5 s after its start: {w:?}");
        cx.started_ms.insert("worker".into(), now - 21_000);
        let w = warnings(&info, &cx, &BTreeMap::new(), now as i64);
        assert_eq!(
            w,
            vec!["service worker declares task queue hello but does not poll it"]
        );
        // Our own PID is alive and started before a poll seen now; a poll
        // seen long before it started names a PID it has since taken.
        let me = std::process::id() as i32;
        assert!(alive_since_before(me, Some(now as i64)));
        assert!(!alive_since_before(me, Some(1_000)));
        assert_eq!(local_claim(&format!("{me}@box"), "box"), Some(me));
        assert_eq!(local_claim(&format!("{me}@elsewhere"), "box"), None);
    }

    #[test]
    fn a_refused_or_malformed_api_is_an_error_never_a_panic() {
        // Nothing listens there.
        let cx = Context {
            http: "127.0.0.1:9".into(),
            built_in: true,
            timeout: Duration::from_millis(500),
            ..Default::default()
        };
        let info = fetch(&cx);
        assert!(info.error.is_some());
        assert!(info.warnings.iter().any(|w| w == IN_MEMORY));
        // A server answering garbage.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for s in l.incoming().take(1).flatten() {
                let mut s = s;
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\n<html>no!",
                );
            }
        });
        let info = fetch(&Context {
            http: format!("127.0.0.1:{port}"),
            timeout: Duration::from_secs(2),
            ..Default::default()
        });
        let e = info.error.unwrap();
        assert!(e.contains("not the JSON"), "{e}");
        // A server that accepts and never answers: bounded, and it says so.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let held = std::thread::spawn(move || {
            let s = l.accept();
            std::thread::sleep(Duration::from_millis(1500));
            drop(s);
        });
        let t0 = std::time::Instant::now();
        let info = fetch(&Context {
            http: format!("127.0.0.1:{port}"),
            timeout: Duration::from_millis(300),
            ..Default::default()
        });
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        let e = info.error.unwrap();
        assert!(e.contains("did not answer"), "{e}");
        let _ = held.join();
    }
}
