//! Why a running workflow is stuck, from Temporal itself: its workflow
//! task keeps failing (the cause and message of the last failure, the
//! innermost lines of its stack trace, non-determinism named as such), or an
//! activity keeps being retried (its type, attempt, last failure, next
//! attempt, and the worker that ran it → its local process → its service).
//! Bounded: the oldest running workflows first, at most [`MAX_DESCRIBED`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::collections::HashMap;

use super::workers::Here;
use super::{
    alive_since_before, local_claim, service_of, Api, ApiError, Context, Target, Workflow,
};

/// Running workflows described per refresh (the rest is "+N more").
pub const MAX_DESCRIBED: usize = 20;
/// Stack trace lines kept (the innermost).
const STACK_LINES: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stuck {
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: Option<String>,
    pub workflow_type: Option<String>,
    pub task_queue: Option<String>,
    pub why: Why,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Why {
    /// Its workflow task failed and is being retried.
    WorkflowTaskFailing {
        attempt: u64,
        /// Temporal's cause, e.g. `WORKFLOW_WORKER_UNHANDLED_FAILURE`.
        cause: String,
        message: String,
        stack: Vec<String>,
        nondeterminism: bool,
        /// The worker whose task failed.
        worker: Option<Who>,
    },
    /// An activity failed and is being retried.
    ActivityRetrying {
        activity: String,
        attempt: u64,
        /// 0: no limit.
        maximum_attempts: u64,
        last_failure: String,
        next_attempt: Option<String>,
        worker: Option<Who>,
    },
}

/// A worker named by an identity, tied to a local process only when that
/// process talks to this Temporal (see `workers::Here`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Who {
    pub identity: String,
    pub pid: Option<i32>,
    pub service: Option<String>,
}

impl Stuck {
    /// One line for people.
    pub fn line(&self) -> String {
        let wf = format!(
            "{} ({})",
            self.workflow_id,
            self.workflow_type.as_deref().unwrap_or("?")
        );
        let who = |w: &Option<Who>| match w {
            Some(Who {
                pid: Some(p),
                service: Some(s),
                ..
            }) => format!(" on {s} (PID {p})"),
            Some(Who { pid: Some(p), .. }) => format!(" on PID {p} (not managed by stigmer)"),
            Some(Who { identity, .. }) => format!(" on {identity}"),
            None => String::new(),
        };
        match &self.why {
            Why::WorkflowTaskFailing {
                attempt,
                cause,
                message,
                nondeterminism,
                worker,
                ..
            } => format!(
                "{wf}: {} (attempt {attempt}, {cause}){}: {message}",
                if *nondeterminism {
                    "non-determinism: its workflow task fails"
                } else {
                    "its workflow task keeps failing"
                },
                who(worker)
            ),
            Why::ActivityRetrying {
                activity,
                attempt,
                maximum_attempts,
                last_failure,
                next_attempt,
                worker,
            } => {
                let max = if *maximum_attempts == 0 {
                    "no limit".to_string()
                } else {
                    maximum_attempts.to_string()
                };
                let next = next_attempt
                    .as_deref()
                    .map(|t| format!(", next at {}", t.get(11..19).unwrap_or(t)))
                    .unwrap_or_default();
                format!(
                    "{wf}: activity {activity} retrying (attempt {attempt} of {max}{next}){}: {last_failure}",
                    who(worker)
                )
            }
        }
    }
}

/// What earlier looks found, so a refresh loop describes only some of the
/// running workflows again each time (see [`stuck_of`]).
#[derive(Debug, Default)]
pub struct Memory {
    looks: u64,
    /// A run → the look that described it, and what it found.
    found: HashMap<Target, (u64, Option<Stuck>)>,
}

/// Described again per look, the longest unseen first, besides those not
/// described yet: each is at most `MAX_DESCRIBED / AGAIN` looks old.
const AGAIN: usize = 5;

/// Why each of `running` (the oldest, at most [`MAX_DESCRIBED`]) is stuck,
/// for those that are. Those described before are described again
/// [`AGAIN`] per look (the first look describes them all).
pub(super) fn stuck_of(
    api: &Api,
    cx: &Context,
    here: &Here,
    running: &[Workflow],
    memory: &mut Memory,
) -> Result<Vec<Stuck>, ApiError> {
    memory.looks += 1;
    let looked = &running[..running.len().min(MAX_DESCRIBED)];
    let key = |w: &Workflow| w.target();
    let keys: Vec<_> = looked.iter().map(key).collect();
    memory.found.retain(|k, _| keys.contains(k));
    let (new, mut known): (Vec<&Workflow>, Vec<&Workflow>) = looked
        .iter()
        .partition(|w| !memory.found.contains_key(&key(w)));
    known.sort_by_key(|w| memory.found.get(&key(w)).map(|(at, _)| *at));
    let ask: Vec<&Workflow> = new
        .into_iter()
        .chain(known.into_iter().take(AGAIN))
        .collect();
    // Concurrent (each call bounded by the agent's timeout), in order.
    let found = super::concurrently(&ask, |w| describe(api, cx, here, w));
    for (w, r) in ask.iter().zip(found) {
        memory.found.insert(key(w), (memory.looks, r?));
    }
    Ok(keys
        .iter()
        .filter_map(|k| memory.found.get(k).and_then(|(_, s)| s.clone()))
        .collect())
}

/// Why one running workflow run is stuck, if it is.
fn describe(api: &Api, cx: &Context, here: &Here, w: &Workflow) -> Result<Option<Stuck>, ApiError> {
    let path = format!(
        "/api/v1/namespaces/{}/workflows/{}",
        w.namespace, w.workflow_id
    );
    let run: Vec<(&str, &str)> = w
        .run_id
        .as_deref()
        .map(|r| ("execution.runId", r))
        .into_iter()
        .collect();
    let d = api.get(&path, &run)?;
    let why = match failing_task(&d) {
        Some(attempt) => {
            let mut query = run.clone();
            query.push(("maximumPageSize", "50"));
            let h = api.get(&format!("{path}/history-reverse"), &query)?;
            task_failure(&h, attempt, cx, here)
        }
        None => retrying_activity(&d, cx, here),
    };
    let info = &d["workflowExecutionInfo"];
    Ok(why.map(|why| Stuck {
        namespace: w.namespace.clone(),
        workflow_id: w.workflow_id.clone(),
        run_id: info["execution"]["runId"].as_str().map(String::from),
        workflow_type: info["type"]["name"].as_str().map(String::from),
        task_queue: w.task_queue.clone(),
        why,
    }))
}

/// Workflows whose task fails with a non-determinism error on a worker
/// that (re)started at `started_ms` (by service): its code changed under
/// running workflows. One warning each, naming the workflow, the worker and
/// the restart.
pub(super) fn after_restart(
    stuck: &[Stuck],
    started_ms: &std::collections::BTreeMap<String, u64>,
) -> Vec<String> {
    stuck
        .iter()
        .filter_map(|s| {
            let Why::WorkflowTaskFailing {
                nondeterminism: true,
                worker: Some(Who {
                    service: Some(service),
                    pid,
                    ..
                }),
                ..
            } = &s.why
            else {
                return None;
            };
            let at = started_ms.get(service)?;
            let when = crate::util::clock::rfc3339_ms(*at);
            Some(format!(
                "workflow {} ({}) fails with a non-determinism error on {service} (PID {}) since its restart at {} UTC: its code changed under running workflows; reset it to before the change (`temporal workflow reset --workflow-id {} --type LastWorkflowTask`) or guard the change with a patch",
                s.workflow_id,
                s.workflow_type.as_deref().unwrap_or("?"),
                pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
                when.get(11..19).unwrap_or(&when),
                s.workflow_id,
            ))
        })
        .collect()
}

/// A number Temporal's JSON writes as a number or a string (int64).
pub(super) fn num(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// The pending workflow task's attempt, when it has failed before.
fn failing_task(d: &Value) -> Option<u64> {
    num(&d["pendingWorkflowTask"]["attempt"]).filter(|a| *a > 1)
}

pub(super) fn who(identity: Option<&str>, cx: &Context, here: &Here) -> Option<Who> {
    let identity = identity.filter(|i| !i.is_empty())?.to_string();
    let pid = local_claim(&identity, &here.host)
        .filter(|p| alive_since_before(*p, None) && here.talks(*p));
    Some(Who {
        service: pid.and_then(|p| service_of(p, &cx.services)),
        pid,
        identity,
    })
}

/// The last `WorkflowTaskFailed` event of a history read newest first.
fn task_failure(history: &Value, attempt: u64, cx: &Context, here: &Here) -> Option<Why> {
    let events = history["history"]["events"].as_array()?;
    let failed = events
        .iter()
        .find(|e| e["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_FAILED")?;
    let a = &failed["workflowTaskFailedEventAttributes"];
    let cause = a["cause"]
        .as_str()
        .unwrap_or("unknown")
        .trim_start_matches("WORKFLOW_TASK_FAILED_CAUSE_")
        .to_string();
    let message = a["failure"]["message"].as_str().unwrap_or("").to_string();
    // The innermost frames: where the workflow's own code failed (a
    // Python trace lists them last; the SDK's frames come first).
    let lines: Vec<&str> = a["failure"]["stackTrace"]
        .as_str()
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let stack: Vec<String> = lines[lines.len().saturating_sub(STACK_LINES)..]
        .iter()
        .map(|l| l.to_string())
        .collect();
    let nondeterminism =
        cause.contains("NON_DETERMINISTIC") || message.to_ascii_lowercase().contains("nondetermin");
    Some(Why::WorkflowTaskFailing {
        attempt,
        cause,
        message,
        stack,
        nondeterminism,
        worker: who(a["identity"].as_str(), cx, here),
    })
}

/// The pending activity being retried (attempt above 1, with a failure).
fn retrying_activity(d: &Value, cx: &Context, here: &Here) -> Option<Why> {
    let a = d["pendingActivities"]
        .as_array()?
        .iter()
        .find(|a| num(&a["attempt"]).is_some_and(|n| n > 1) && a["lastFailure"].is_object())?;
    Some(Why::ActivityRetrying {
        activity: a["activityType"]["name"]
            .as_str()
            .unwrap_or("?")
            .to_string(),
        attempt: num(&a["attempt"]).unwrap_or(0),
        maximum_attempts: num(&a["maximumAttempts"]).unwrap_or(0),
        last_failure: a["lastFailure"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        next_attempt: a["nextAttemptScheduleTime"].as_str().map(String::from),
        worker: who(a["lastWorkerIdentity"].as_str(), cx, here),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_task_and_a_retrying_activity_are_read_from_temporals_json() {
        let cx = Context::default();
        let here = Here::none();
        let d: Value = serde_json::from_str(
            r#"{"workflowExecutionInfo":{"execution":{"workflowId":"w","runId":"r"},"type":{"name":"Greet"}},
                "pendingWorkflowTask":{"attempt":4},
                "pendingActivities":[]}"#,
        )
        .unwrap();
        assert_eq!(failing_task(&d), Some(4));
        let h: Value = serde_json::from_str(
            r#"{"history":{"events":[
                {"eventType":"EVENT_TYPE_WORKFLOW_TASK_STARTED"},
                {"eventType":"EVENT_TYPE_WORKFLOW_TASK_FAILED","workflowTaskFailedEventAttributes":{
                  "cause":"WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR",
                  "failure":{"message":"[TMPRL1100] Nondeterminism error","stackTrace":"a\n\nb\nc\nd\ne\nf"},
                  "identity":"1@elsewhere"}}]}}"#,
        )
        .unwrap();
        let Some(Why::WorkflowTaskFailing {
            cause,
            stack,
            nondeterminism,
            worker,
            ..
        }) = task_failure(&h, 4, &cx, &here)
        else {
            panic!("no failure read")
        };
        assert_eq!(cause, "NON_DETERMINISTIC_ERROR");
        assert!(nondeterminism);
        assert_eq!(stack, ["b", "c", "d", "e", "f"], "the innermost frames");
        assert_eq!(
            worker.unwrap().pid,
            None,
            "another host's PID is no local process"
        );
        let d: Value = serde_json::from_str(
            r#"{"pendingActivities":[{"activityType":{"name":"greet"},"attempt":"3","maximumAttempts":0,
                "lastFailure":{"message":"Connection refused"},"nextAttemptScheduleTime":"2026-12-02T03:40:05Z"}]}"#,
        )
        .unwrap();
        let Some(why) = retrying_activity(&d, &cx, &here) else {
            panic!("no retry read")
        };
        let s = Stuck {
            namespace: "default".into(),
            workflow_id: "w".into(),
            run_id: None,
            workflow_type: Some("Greet".into()),
            task_queue: None,
            why,
        };
        assert_eq!(
            s.line(),
            "w (Greet): activity greet retrying (attempt 3 of no limit, next at 03:40:05): Connection refused"
        );
        // Non-determinism on a worker of ours since its restart: said so.
        let nde = Stuck {
            namespace: "default".into(),
            workflow_id: "w".into(),
            run_id: None,
            workflow_type: Some("Waits".into()),
            task_queue: None,
            why: Why::WorkflowTaskFailing {
                attempt: 2,
                cause: "NON_DETERMINISTIC_ERROR".into(),
                message: "m".into(),
                stack: vec![],
                nondeterminism: true,
                worker: Some(Who {
                    identity: "7@h".into(),
                    pid: Some(7),
                    service: Some("worker".into()),
                }),
            },
        };
        let started = [("worker".to_string(), 1_796_000_000_000u64)].into();
        let w = after_restart(std::slice::from_ref(&nde), &started);
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("workflow w (Waits) fails with a non-determinism error on worker (PID 7) since its restart at "), "{}", w[0]);
        assert!(
            after_restart(&[s], &started).is_empty(),
            "not a non-determinism"
        );
        // Nothing stuck: no retry, no failed task.
        let ok: Value = serde_json::from_str(r#"{"pendingWorkflowTask":{"attempt":1}}"#).unwrap();
        assert_eq!(failing_task(&ok), None);
        assert!(retrying_activity(&ok, &cx, &here).is_none());
    }

    /// A server that answers every describe with a workflow that is not
    /// stuck, counting the describes of each workflow.
    fn counting_server() -> (
        u16,
        std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>,
    ) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
        let counts = seen.clone();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let id = path
                    .split('?')
                    .next()
                    .unwrap_or("")
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .to_string();
                *counts.lock().unwrap().entry(id).or_insert(0) += 1;
                let body = r#"{"workflowExecutionInfo":{},"pendingWorkflowTask":{"attempt":1}}"#;
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (port, seen)
    }

    #[test]
    fn a_refresh_loop_describes_new_runs_at_once_and_known_ones_in_turn() {
        let (port, counts) = counting_server();
        let cx = Context {
            http: format!("127.0.0.1:{port}"),
            timeout: std::time::Duration::from_secs(2),
            ..Default::default()
        };
        let api = super::super::api_of(&cx);
        let here = Here::none();
        let wf = |i: usize| Workflow {
            namespace: "default".into(),
            workflow_id: format!("w{i:02}"),
            run_id: Some(format!("r{i}")),
            workflow_type: None,
            task_queue: Some("q".into()),
            status: "running".into(),
            start_time: None,
            close_time: None,
            start_ms: None,
        };
        let mut running: Vec<Workflow> = (0..12).map(wf).collect();
        let mut memory = Memory::default();
        let total = |c: &std::collections::BTreeMap<String, usize>| c.values().sum::<usize>();
        stuck_of(&api, &cx, &here, &running, &mut memory).unwrap();
        assert_eq!(total(&counts.lock().unwrap()), 12, "the first look: all");
        stuck_of(&api, &cx, &here, &running, &mut memory).unwrap();
        assert_eq!(total(&counts.lock().unwrap()), 12 + AGAIN);
        stuck_of(&api, &cx, &here, &running, &mut memory).unwrap();
        stuck_of(&api, &cx, &here, &running, &mut memory).unwrap();
        let c = counts.lock().unwrap().clone();
        assert_eq!(total(&c), 12 + 3 * AGAIN);
        assert!(
            c.values().all(|n| *n >= 2),
            "in turn: every one described again within three looks: {c:?}"
        );
        // A new run is described at the next look, besides AGAIN known ones.
        running.push(wf(12));
        stuck_of(&api, &cx, &here, &running, &mut memory).unwrap();
        let c = counts.lock().unwrap().clone();
        assert_eq!(c.get("w12"), Some(&1));
        assert_eq!(total(&c), 12 + 4 * AGAIN + 1);
        // A fresh memory (a one-shot `status`) describes them all.
        stuck_of(&api, &cx, &here, &running, &mut Memory::default()).unwrap();
        assert_eq!(total(&counts.lock().unwrap()), 12 + 4 * AGAIN + 1 + 13);
    }
}
