//! Workflows one by one: the list (running ones, then the latest closed),
//! one workflow looked at closely (its pending activities, its last
//! failure, what its code is waiting on — the `__stack_trace` query, while
//! a worker polls), and what a developer does to one: cancel, terminate,
//! reset to its last workflow task. Each against the run the developer
//! saw, never whatever runs under that id by then.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::stuck::{num, who, Who};
use super::workers::Here;
use super::{Api, ApiError, Context};

/// Closed workflows listed per namespace (the newest).
pub const MAX_CLOSED: usize = 50;
/// Stack trace lines kept for the screen.
const STACK_TRACE_LINES: usize = 60;

/// A workflow as Temporal's list says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: Option<String>,
    pub workflow_type: Option<String>,
    pub task_queue: Option<String>,
    /// `running`, `completed`, `failed`, `canceled`, `terminated`,
    /// `timed_out`, `continued_as_new`.
    pub status: String,
    pub start_time: Option<String>,
    pub close_time: Option<String>,
    /// `start_time` in ms since the epoch.
    #[serde(skip)]
    pub start_ms: Option<i64>,
}

impl Workflow {
    pub fn target(&self) -> Target {
        Target {
            namespace: self.namespace.clone(),
            workflow_id: self.workflow_id.clone(),
            run_id: self.run_id.clone(),
        }
    }
}

/// One run of one workflow: what a look or an action is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: Option<String>,
}

impl Target {
    /// The run id's first 8 characters, as people tell runs apart.
    pub fn short_run(&self) -> &str {
        self.run_id
            .as_deref()
            .map_or("?", |r| r.get(..8).unwrap_or(r))
    }
}

/// `WORKFLOW_EXECUTION_STATUS_TIMED_OUT` → `timed_out`.
pub(super) fn status_word(s: &str) -> String {
    s.strip_prefix("WORKFLOW_EXECUTION_STATUS_")
        .unwrap_or(s)
        .to_ascii_lowercase()
}

/// A `ListWorkflowExecutions` answer: only what is shown is read.
#[derive(Debug, Default, Deserialize)]
pub(super) struct List {
    #[serde(default)]
    executions: Vec<Row>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Row {
    execution: Execution,
    #[serde(rename = "type")]
    ty: Named,
    status: Option<String>,
    start_time: Option<String>,
    close_time: Option<String>,
    task_queue: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Execution {
    workflow_id: Option<String>,
    run_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Named {
    name: Option<String>,
}

/// The workflows of a list in namespace `ns` (one without an id is left
/// out).
pub(super) fn workflows_of(list: List, ns: &str) -> Vec<Workflow> {
    list.executions
        .into_iter()
        .filter_map(|w| {
            Some(Workflow {
                namespace: ns.to_string(),
                workflow_id: w.execution.workflow_id?,
                run_id: w.execution.run_id,
                workflow_type: w.ty.name,
                task_queue: w.task_queue,
                status: status_word(w.status.as_deref().unwrap_or("unknown")),
                start_ms: w
                    .start_time
                    .as_deref()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .map(|t| t.as_millisecond()),
                start_time: w.start_time,
                close_time: w.close_time,
            })
        })
        .collect()
}

/// The latest closed workflows of namespace `ns`, newest first.
pub(super) fn closed(api: &Api, ns: &str) -> Result<Vec<Workflow>, ApiError> {
    let list = api.get_as(
        &format!("/api/v1/namespaces/{ns}/workflows"),
        &[
            ("query", "ExecutionStatus!=\"Running\""),
            ("pageSize", &MAX_CLOSED.to_string()),
        ],
    )?;
    Ok(workflows_of(list, ns)
        .into_iter()
        .take(MAX_CLOSED)
        .collect())
}

/// One workflow looked at closely.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Detail {
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: Option<String>,
    pub workflow_type: Option<String>,
    pub task_queue: Option<String>,
    pub status: String,
    pub history_length: Option<u64>,
    /// The pending workflow task's attempt (above 1: it has failed).
    pub task_attempt: Option<u64>,
    pub pending_activities: Vec<Pending>,
    /// The newest failure in its history.
    pub last_failure: Option<Failure>,
    /// What its code waits on (`__stack_trace`), asked only while a worker
    /// polls its queue; `stack_trace_error` says why there is none.
    pub stack_trace: Vec<String>,
    pub stack_trace_error: Option<String>,
    /// The event a reset to its last workflow task goes back to.
    pub reset_point: Option<u64>,
    /// Why the rest is missing.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub activity: String,
    /// `scheduled`, `started`, `cancel requested`, `paused`.
    pub state: String,
    pub attempt: u64,
    /// 0: no limit.
    pub maximum_attempts: u64,
    pub last_failure: Option<String>,
    pub next_attempt: Option<String>,
    pub worker: Option<Who>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// What failed: `workflow task failed`, `activity task failed`, …
    pub event: String,
    pub event_id: Option<u64>,
    pub time: Option<String>,
    pub cause: Option<String>,
    pub message: String,
    pub worker: Option<Who>,
}

/// A look at `target`: describe, the newest history, and (when `polled`:
/// a worker polls its queue, so it can answer) its stack trace. Never
/// panics; what failed is in `error`.
pub(super) fn detail(
    api: &Api,
    cx: &Context,
    here: &Here,
    target: &Target,
    polled: bool,
) -> Detail {
    let mut d = Detail {
        namespace: target.namespace.clone(),
        workflow_id: target.workflow_id.clone(),
        run_id: target.run_id.clone(),
        ..Default::default()
    };
    if let Err(e) = look(api, cx, here, target, polled, &mut d) {
        d.error = Some(e.0);
    }
    d
}

fn path_of(target: &Target) -> String {
    format!(
        "/api/v1/namespaces/{}/workflows/{}",
        target.namespace, target.workflow_id
    )
}

fn run_query(target: &Target) -> Vec<(&'static str, &str)> {
    target
        .run_id
        .as_deref()
        .map(|r| ("execution.runId", r))
        .into_iter()
        .collect()
}

fn look(
    api: &Api,
    cx: &Context,
    here: &Here,
    target: &Target,
    polled: bool,
    d: &mut Detail,
) -> Result<(), ApiError> {
    let path = path_of(target);
    let described = api.get(&path, &run_query(target))?;
    let info = &described["workflowExecutionInfo"];
    d.run_id = info["execution"]["runId"].as_str().map(String::from);
    d.workflow_type = info["type"]["name"].as_str().map(String::from);
    d.task_queue = info["taskQueue"]
        .as_str()
        .or(described["executionConfig"]["taskQueue"]["name"].as_str())
        .map(String::from);
    d.status = status_word(info["status"].as_str().unwrap_or("unknown"));
    d.history_length = num(&info["historyLength"]);
    d.task_attempt = num(&described["pendingWorkflowTask"]["attempt"]);
    d.pending_activities = pending_of(&described, cx, here);
    let mut query = run_query(target);
    query.push(("maximumPageSize", "100"));
    let history = api.get(&format!("{path}/history-reverse"), &query)?;
    d.last_failure = last_failure(&history, cx, here);
    d.reset_point = reset_point(&history);
    if d.status != "running" {
        d.stack_trace_error = Some(format!("it is {}", d.status.replace('_', " ")));
    } else if !polled {
        d.stack_trace_error = Some("no worker polls its task queue to answer".into());
    } else if d.task_attempt.is_some_and(|a| a > 1) {
        // Temporal refuses the query then (HTTP 400).
        d.stack_trace_error =
            Some("its workflow task keeps failing: no code of it runs to answer".into());
    } else {
        match stack_trace(api, target) {
            Ok(t) => d.stack_trace = t,
            Err(e) => d.stack_trace_error = Some(e.0),
        }
    }
    Ok(())
}

fn pending_of(described: &Value, cx: &Context, here: &Here) -> Vec<Pending> {
    described["pendingActivities"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| Pending {
            activity: a["activityType"]["name"]
                .as_str()
                .unwrap_or("?")
                .to_string(),
            state: a["state"]
                .as_str()
                .unwrap_or("")
                .trim_start_matches("PENDING_ACTIVITY_STATE_")
                .replace('_', " ")
                .to_ascii_lowercase(),
            attempt: num(&a["attempt"]).unwrap_or(1),
            maximum_attempts: num(&a["maximumAttempts"]).unwrap_or(0),
            last_failure: a["lastFailure"]["message"].as_str().map(String::from),
            next_attempt: a["nextAttemptScheduleTime"].as_str().map(String::from),
            worker: who(a["lastWorkerIdentity"].as_str(), cx, here),
        })
        .collect()
}

/// The newest failure event of a history read newest first.
fn last_failure(history: &Value, cx: &Context, here: &Here) -> Option<Failure> {
    const FAILED: [(&str, &str); 4] = [
        ("WORKFLOW_TASK_FAILED", "workflowTaskFailedEventAttributes"),
        ("ACTIVITY_TASK_FAILED", "activityTaskFailedEventAttributes"),
        (
            "WORKFLOW_EXECUTION_FAILED",
            "workflowExecutionFailedEventAttributes",
        ),
        (
            "ACTIVITY_TASK_TIMED_OUT",
            "activityTaskTimedOutEventAttributes",
        ),
    ];
    history["history"]["events"]
        .as_array()?
        .iter()
        .find_map(|e| {
            let ty = e["eventType"].as_str()?.trim_start_matches("EVENT_TYPE_");
            let (_, key) = FAILED.iter().find(|(t, _)| *t == ty)?;
            let a = &e[*key];
            Some(Failure {
                event: ty.replace('_', " ").to_ascii_lowercase(),
                event_id: num(&e["eventId"]),
                time: e["eventTime"].as_str().map(String::from),
                cause: a["cause"].as_str().map(|c| {
                    c.trim_start_matches("WORKFLOW_TASK_FAILED_CAUSE_")
                        .to_string()
                }),
                message: a["failure"]["message"].as_str().unwrap_or("").to_string(),
                worker: who(a["identity"].as_str(), cx, here),
            })
        })
}

/// The newest `WorkflowTaskCompleted` event: where a reset to the last
/// workflow task goes back to (Temporal's `LastWorkflowTask`).
fn reset_point(history: &Value) -> Option<u64> {
    history["history"]["events"]
        .as_array()?
        .iter()
        .find(|e| e["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_COMPLETED")
        .and_then(|e| num(&e["eventId"]))
}

/// The `__stack_trace` query: what the workflow's code waits on now.
fn stack_trace(api: &Api, target: &Target) -> Result<Vec<String>, ApiError> {
    let body = json!({
        "execution": {"workflowId": target.workflow_id, "runId": target.run_id},
        "query": {"queryType": "__stack_trace"},
    });
    let answer = api.post(&format!("{}/query/__stack_trace", path_of(target)), &body)?;
    Ok(trace_lines(&query_text(&answer["queryResult"])))
}

/// A query's result: the HTTP API writes a JSON payload as its value; a
/// payload it cannot render stays `{metadata, data: base64}`.
fn query_text(result: &Value) -> String {
    use base64::Engine;
    let first = match result {
        Value::Array(a) => a.first().cloned().unwrap_or_default(),
        Value::Object(o) => o
            .get("payloads")
            .and_then(|p| p.get(0))
            .cloned()
            .unwrap_or_default(),
        other => other.clone(),
    };
    match first {
        Value::String(s) => s,
        Value::Object(ref o) if o.contains_key("data") => {
            let raw = o["data"].as_str().unwrap_or("");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(raw)
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).to_string();
            serde_json::from_str::<String>(&text).unwrap_or(text)
        }
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A stack trace for the screen: blank lines dropped, the query's own task
/// (a Python SDK's trace lists it) left out, at most
/// [`STACK_TRACE_LINES`].
fn trace_lines(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with("Stack for ") {
            skipping = line.contains("__stack_trace");
        }
        if skipping || line.trim().is_empty() {
            continue;
        }
        out.push(line.trim_end().to_string());
    }
    out.truncate(STACK_TRACE_LINES);
    out
}

/// What a developer does to one workflow run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    /// Asks the workflow to cancel itself (its code may clean up).
    Cancel,
    /// Ends it now; its code is not told.
    Terminate,
    /// A new run from its last completed workflow task; this one ends.
    Reset,
}

impl Act {
    pub fn verb(self) -> &'static str {
        match self {
            Act::Cancel => "cancel",
            Act::Terminate => "terminate",
            Act::Reset => "reset",
        }
    }

    /// What it does, for the question asked first.
    pub fn meaning(self) -> &'static str {
        match self {
            Act::Cancel => "Temporal asks the workflow to cancel; its code may clean up first",
            Act::Terminate => "the run ends now; its code is not told and cleans nothing up",
            Act::Reset => {
                "a new run replays it up to its last completed workflow task and goes on from there; this run is terminated"
            }
        }
    }
}

/// `act` on `target`; what was done, for people.
pub(super) fn act(api: &Api, target: &Target, act: Act) -> Result<String, ApiError> {
    let path = path_of(target);
    let execution = json!({"workflowId": target.workflow_id, "runId": target.run_id});
    let reason = format!("stigmer dash: {}", act.verb());
    let id = &target.workflow_id;
    match act {
        Act::Cancel => {
            let body = json!({"workflowExecution": execution, "reason": reason, "identity": "stigmer",
                "requestId": request_id()});
            api.post(&format!("{path}/cancel"), &body)?;
            Ok(format!("asked {id} to cancel"))
        }
        Act::Terminate => {
            let body =
                json!({"workflowExecution": execution, "reason": reason, "identity": "stigmer"});
            api.post(&format!("{path}/terminate"), &body)?;
            Ok(format!("terminated {id}"))
        }
        Act::Reset => {
            let mut query = run_query(target);
            query.push(("maximumPageSize", "100"));
            let history = api.get(&format!("{path}/history-reverse"), &query)?;
            let Some(point) = reset_point(&history) else {
                return Err(ApiError(format!(
                    "{id} has no completed workflow task to reset to (its first task never completed): terminate it, fix the code, start it again"
                )));
            };
            let body = json!({"workflowExecution": execution, "reason": reason,
                "workflowTaskFinishEventId": point.to_string(), "requestId": request_id()});
            let answer = api.post(&format!("{path}/reset"), &body)?;
            let run = answer["runId"].as_str().unwrap_or("?");
            Ok(format!(
                "reset {id} to event {point}: new run {}",
                &run[..run.len().min(8)]
            ))
        }
    }
}

/// A fresh id for a request Temporal deduplicates.
fn request_id() -> String {
    format!(
        "stigmer-{}-{}",
        std::process::id(),
        crate::util::clock::now_ms()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_the_history_and_a_query_are_read_from_temporals_json() {
        let list: List = serde_json::from_str(
            r#"{"executions":[
              {"execution":{"workflowId":"w2","runId":"r2"},"type":{"name":"Waits"},"startTime":"2026-12-02T13:17:07.832715Z",
               "closeTime":"2026-12-02T13:17:07.872331Z","status":"WORKFLOW_EXECUTION_STATUS_TIMED_OUT","taskQueue":"q1"},
              {"execution":{},"status":"WORKFLOW_EXECUTION_STATUS_RUNNING"}]}"#,
        )
        .unwrap();
        let w = workflows_of(list, "default");
        assert_eq!(w.len(), 1, "one without an id is left out");
        assert_eq!(w[0].status, "timed_out");
        assert_eq!(w[0].task_queue.as_deref(), Some("q1"));
        assert_eq!(w[0].target().run_id.as_deref(), Some("r2"));

        let history: Value = serde_json::from_str(
            r#"{"history":{"events":[
              {"eventId":"9","eventType":"EVENT_TYPE_WORKFLOW_TASK_SCHEDULED"},
              {"eventId":"8","eventType":"EVENT_TYPE_ACTIVITY_TASK_FAILED","eventTime":"2026-12-02T13:00:00Z",
               "activityTaskFailedEventAttributes":{"failure":{"message":"Connection refused"},"identity":"1@elsewhere"}},
              {"eventId":"4","eventType":"EVENT_TYPE_WORKFLOW_TASK_COMPLETED"},
              {"eventId":"3","eventType":"EVENT_TYPE_WORKFLOW_TASK_FAILED",
               "workflowTaskFailedEventAttributes":{"cause":"WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR","failure":{"message":"old"}}}]}}"#,
        )
        .unwrap();
        let (cx, here) = (Context::default(), Here::none());
        let f = last_failure(&history, &cx, &here).expect("a failure");
        assert_eq!(f.event, "activity task failed", "the newest");
        assert_eq!(f.message, "Connection refused");
        assert_eq!(f.event_id, Some(8));
        assert_eq!(f.worker.unwrap().pid, None, "another host");
        assert_eq!(reset_point(&history), Some(4));
        let none: Value = serde_json::from_str(r#"{"history":{"events":[]}}"#).unwrap();
        assert_eq!(reset_point(&none), None);
        assert!(last_failure(&none, &cx, &here).is_none());

        // The HTTP API renders a JSON payload; otherwise base64 of JSON.
        let plain: Value = serde_json::from_str(
            r#"["Stack for <Task name='query: __stack_trace (workflow: W)'>:\n  File \"sdk.py\"\n\n\nStack for <Task name='run (workflow: W)'>:\n  File \"w.py\", line 14, in run\n    await workflow.wait_condition(lambda: self.go)\n"]"#,
        )
        .unwrap();
        assert_eq!(
            trace_lines(&query_text(&plain)),
            [
                "Stack for <Task name='run (workflow: W)'>:",
                "  File \"w.py\", line 14, in run",
                "    await workflow.wait_condition(lambda: self.go)"
            ]
        );
        let payloads: Value = serde_json::from_str(
            r#"{"payloads":[{"metadata":{},"data":"ImNvcm91dGluZSByb290Ig=="}]}"#,
        )
        .unwrap();
        assert_eq!(query_text(&payloads), "coroutine root");
        assert_eq!(query_text(&Value::Null), "");
    }

    #[test]
    fn pending_activities_say_their_state_attempt_and_failure() {
        let d: Value = serde_json::from_str(
            r#"{"pendingActivities":[{"activityType":{"name":"greet"},"state":"PENDING_ACTIVITY_STATE_SCHEDULED",
              "attempt":3,"maximumAttempts":"5","lastFailure":{"message":"refused"},"lastWorkerIdentity":""}]}"#,
        )
        .unwrap();
        let p = pending_of(&d, &Context::default(), &Here::none());
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].state.as_str(), p[0].attempt, p[0].maximum_attempts),
            ("scheduled", 3, 5)
        );
        assert_eq!(p[0].last_failure.as_deref(), Some("refused"));
        assert!(p[0].worker.is_none(), "no identity: no worker");
        assert!(Act::Reset.meaning().contains("new run"));
    }
}
