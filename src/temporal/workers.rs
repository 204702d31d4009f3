//! Who works for this Temporal: every worker from its heartbeats (the
//! server's worker list), and the check that ties a PID a worker names to a
//! local process — it must hold a connection to this Temporal's gRPC port.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    alive_since_before, hostname, local_claim, service_of, Api, ApiError, Context, Poller,
};

const MAX_WORKERS: usize = 100;

/// A worker, as its own heartbeats describe it, tied to a local process
/// only when that process talks to this Temporal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Worker {
    pub namespace: String,
    pub task_queue: String,
    pub identity: String,
    pub host: String,
    /// The SDK and its version: `temporal-python 1.35.0`.
    pub sdk: String,
    pub build_id: Option<String>,
    /// `running`, `shutting down`, `shutdown`.
    pub status: String,
    pub heartbeat: Option<String>,
    /// The local process, verified (it holds a connection to this Temporal).
    pub pid: Option<i32>,
    pub service: Option<String>,
    /// The local PID it reports when no such process talks to this
    /// Temporal: a claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed: Option<i32>,
    /// It runs on another machine.
    pub remote: bool,
}

/// The workers of namespace `ns` from its worker list (bounded), each with
/// its last heartbeat, mapped to a local process where one really talks
/// to this Temporal.
pub(super) fn workers_of(answer: &Value, ns: &str, cx: &Context, here: &Here) -> Vec<Worker> {
    let beats: BTreeMap<&str, &str> = answer["workersInfo"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let h = &i["workerHeartbeat"];
            Some((
                h["workerInstanceKey"].as_str()?,
                h["heartbeatTime"].as_str()?,
            ))
        })
        .collect();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    answer["workers"]
        .as_array()
        .into_iter()
        .flatten()
        .take(MAX_WORKERS)
        .map(|w| {
            let host = text(&w["hostName"]);
            let remote = !host.is_empty() && host != here.host && host != "localhost";
            let reported = w["processId"].as_str().and_then(|p| p.parse::<i32>().ok());
            let local = reported.filter(|p| *p > 1 && !remote);
            let (pid, claimed) = match local {
                Some(p) if here.talks(p) => (Some(p), None),
                Some(p) => (None, Some(p)),
                None => (None, None),
            };
            let status = text(&w["status"]);
            let key = w["workerInstanceKey"].as_str().unwrap_or_default();
            Worker {
                namespace: ns.to_string(),
                task_queue: text(&w["taskQueue"]),
                identity: text(&w["workerIdentity"]),
                sdk: format!("{} {}", text(&w["sdkName"]), text(&w["sdkVersion"])),
                build_id: w["deploymentVersion"]["buildId"].as_str().map(String::from),
                status: status
                    .trim_start_matches("WORKER_STATUS_")
                    .to_ascii_lowercase()
                    .replace('_', " "),
                heartbeat: beats.get(key).map(|t| t.to_string()),
                service: pid.and_then(|p| service_of(p, &cx.services)),
                pid,
                claimed,
                host,
                remote,
            }
        })
        .collect()
}

/// This machine, as a poller's identity is checked against it: its name,
/// and which local processes hold a connection to this Temporal's gRPC
/// port.
pub(super) struct Here {
    pub(super) host: String,
    port: Option<u16>,
    /// `socket:[inode]` of every connection to the gRPC port: asked of the
    /// kernel at most once a look, and only when a PID is not known to
    /// hold one already (the dump walks the kernel's whole TCP table).
    talking: OnceLock<HashSet<String>>,
}

/// (gRPC port, PID) → the sockets to that port it was last seen holding.
/// Still among its open files, they prove it talks to Temporal without
/// asking the kernel for every connection again.
static KNOWN: Mutex<BTreeMap<(u16, i32), HashSet<String>>> = Mutex::new(BTreeMap::new());
/// Processes remembered at most (a worker that comes and goes each time
/// with a new PID must not grow it without end).
const KNOWN_MAX: usize = 256;

impl Here {
    pub(super) fn now(cx: &Context) -> Self {
        Self {
            host: hostname(),
            port: cx.grpc_port,
            talking: OnceLock::new(),
        }
    }

    /// Nobody talks to it (tests of what is read from Temporal's JSON).
    #[cfg(test)]
    pub(super) fn none() -> Self {
        Self {
            host: hostname(),
            port: None,
            talking: OnceLock::new(),
        }
    }

    /// Does `pid` hold a connection to this Temporal? (What an identity
    /// says is a claim; this is the kernel's word.)
    pub(super) fn talks(&self, pid: i32) -> bool {
        let Some(port) = self.port else {
            return false;
        };
        let known = KNOWN.lock().ok().and_then(|k| k.get(&(port, pid)).cloned());
        if let Some(sockets) = known {
            if !crate::platform::scan_fds(pid, None, &sockets).1.is_empty() {
                return true;
            }
        }
        let talking = self.talking.get_or_init(|| {
            crate::platform::connections_to(port)
                .into_iter()
                .map(|i| format!("socket:[{i}]"))
                .collect()
        });
        let held = crate::platform::scan_fds(pid, None, talking).1;
        if let Ok(mut k) = KNOWN.lock() {
            if held.is_empty() {
                k.remove(&(port, pid));
            } else {
                if k.len() >= KNOWN_MAX {
                    k.clear();
                }
                k.insert(
                    (port, pid),
                    held.iter().map(|i| format!("socket:[{i}]")).collect(),
                );
            }
        }
        !held.is_empty()
    }
}

/// Who polls the queue `name`, for workflows and activities, each mapped
/// to a local process (and service) when its identity names one.
pub(super) fn pollers_of(
    api: &Api,
    cx: &Context,
    here: &Here,
    namespace: &str,
    name: &str,
) -> Result<Vec<Poller>, ApiError> {
    let mut pollers = Vec::new();
    let path = format!("/api/v1/namespaces/{namespace}/task-queues/{name}");
    // Both kinds in one call (the server's "enhanced" describe); an older
    // or newer server that does not answer so is asked once per kind.
    let both = api.get(
        &path,
        &[
            ("apiMode", "DESCRIBE_TASK_QUEUE_MODE_ENHANCED"),
            ("reportPollers", "true"),
        ],
    );
    let answers: Vec<(&str, Value)> = match both {
        Ok(d) if d["versionsInfo"].is_object() => {
            let mut by_kind = vec![("workflow", Value::Null), ("activity", Value::Null)];
            for version in d["versionsInfo"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                for (i, (_, found)) in by_kind.iter_mut().enumerate() {
                    // Task queue types: 1 workflow, 2 activity.
                    let of = &version["typesInfo"][(i + 1).to_string()]["pollers"];
                    if let Some(list) = of.as_array() {
                        let mut all = found.as_array().cloned().unwrap_or_default();
                        all.extend(list.iter().cloned());
                        *found = Value::Array(all);
                    }
                }
            }
            by_kind
                .into_iter()
                .map(|(k, v)| (k, serde_json::json!({ "pollers": v })))
                .collect()
        }
        _ => {
            let mut out = vec![];
            for (kind, tq_type) in [
                ("workflow", "TASK_QUEUE_TYPE_WORKFLOW"),
                ("activity", "TASK_QUEUE_TYPE_ACTIVITY"),
            ] {
                out.push((kind, api.get(&path, &[("taskQueueType", tq_type)])?));
            }
            out
        }
    };
    for (kind, d) in answers {
        for p in d["pollers"].as_array().into_iter().flatten() {
            let identity = p["identity"].as_str().unwrap_or_default().to_string();
            let last_access = p["lastAccessTime"].as_str().map(String::from);
            let seen_ms = last_access
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_millisecond());
            let (pid, exited, claimed) = match local_claim(&identity, &here.host) {
                Some(pid) if !alive_since_before(pid, seen_ms) => (None, true, None),
                Some(pid) if here.talks(pid) => (Some(pid), false, None),
                Some(pid) => (None, false, Some(pid)),
                None => (None, false, None),
            };
            pollers.push(Poller {
                kind: kind.into(),
                last_access,
                service: pid.and_then(|pid| service_of(pid, &cx.services)),
                pid,
                identity,
                exited,
                claimed,
            });
        }
    }
    Ok(pollers)
}
