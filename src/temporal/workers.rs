//! Who works for this Temporal: every worker from its heartbeats (the
//! server's worker list), and the check that ties a PID a worker names to a
//! local process — it must hold a connection to this Temporal's gRPC port.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{hostname, service_of, Context};

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

    /// Does `pid` hold a connection to this Temporal? (What an identity
    /// says is a claim; this is the kernel's word.)
    pub(super) fn talks(&self, pid: i32) -> bool {
        !crate::platform::scan_fds(pid, None, &self.talking)
            .1
            .is_empty()
    }
}
