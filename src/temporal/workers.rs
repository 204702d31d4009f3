//! Who works for this Temporal: every worker from its heartbeats (the
//! server's worker list), and the check that ties a PID a worker names to a
//! local process — it must hold a connection to this Temporal's gRPC port.

use std::collections::BTreeMap;

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
/// and the sockets connected to this Temporal's gRPC port.
pub(super) struct Here {
    pub(super) host: String,
    /// `socket:[inode]` of every connection to the gRPC port.
    talking: std::collections::HashSet<String>,
}

impl Here {
    pub(super) fn now(cx: &Context) -> Self {
        let talking = cx
            .grpc_port
            .map(crate::platform::connections_to)
            .unwrap_or_default()
            .into_iter()
            .map(|i| format!("socket:[{i}]"))
            .collect();
        Self {
            host: hostname(),
            talking,
        }
    }

    /// Nobody talks to it (tests of what is read from Temporal's JSON).
    #[cfg(test)]
    pub(super) fn none() -> Self {
        Self {
            host: hostname(),
            talking: Default::default(),
        }
    }

    /// Does `pid` hold a connection to this Temporal? (What an identity
    /// says is a claim; this is the kernel's word.)
    pub(super) fn talks(&self, pid: i32) -> bool {
        !crate::platform::scan_fds(pid, None, &self.talking)
            .1
            .is_empty()
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
    for (kind, tq_type) in [
        ("workflow", "TASK_QUEUE_TYPE_WORKFLOW"),
        ("activity", "TASK_QUEUE_TYPE_ACTIVITY"),
    ] {
        let path = format!("/api/v1/namespaces/{namespace}/task-queues/{name}");
        let d = api.get(&path, &[("taskQueueType", tq_type)])?;
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
