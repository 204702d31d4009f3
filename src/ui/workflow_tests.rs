//! The workflows screen: filters, the close look asked for, and every
//! action asked first — keys in, what the I/O around the UI is to do out.

use super::*;
use crate::temporal::stuck::{Stuck, Who, Why};
use crate::temporal::{Act, Detail, Poller, Target, TaskQueue, TemporalInfo, Workflow};

fn wf(id: &str, status: &str, queue: &str) -> Workflow {
    Workflow {
        namespace: "default".into(),
        workflow_id: id.into(),
        run_id: Some(format!("{id}-run-0001")),
        workflow_type: Some(
            if id.starts_with("broken") {
                "Broken"
            } else {
                "Greet"
            }
            .into(),
        ),
        task_queue: Some(queue.into()),
        status: status.into(),
        start_time: None,
        close_time: None,
        start_ms: None,
    }
}

fn with_workflows() -> App {
    let mut a = app(snapshot(Phase::Running, running(4242)));
    a.has_temporal = true;
    a.temporal = Some(TemporalInfo {
        workflows: vec![
            wf("broken-1", "running", "hello"),
            wf("greet-1", "running", "hello"),
            wf("report-7", "running", "reports"),
            wf("greet-0", "completed", "hello"),
            wf("greet-old", "terminated", "hello"),
        ],
        stuck: vec![Stuck {
            namespace: "default".into(),
            workflow_id: "broken-1".into(),
            run_id: Some("broken-1-run-0001".into()),
            workflow_type: Some("Broken".into()),
            task_queue: Some("hello".into()),
            why: Why::WorkflowTaskFailing {
                attempt: 4,
                cause: "WORKFLOW_WORKER_UNHANDLED_FAILURE".into(),
                message: "a bug".into(),
                stack: vec![],
                nondeterminism: false,
                worker: None,
            },
        }],
        task_queues: vec![TaskQueue {
            namespace: "default".into(),
            name: "hello".into(),
            pollers: vec![Poller {
                kind: "workflow".into(),
                identity: "4711@here".into(),
                last_access: None,
                pid: Some(4711),
                service: Some("worker".into()),
                exited: false,
                claimed: None,
            }],
            running: 2,
            oldest_running_secs: Some(30),
        }],
        ..Default::default()
    });
    a
}

fn ids(a: &App) -> Vec<String> {
    let s = a.workflows.as_ref().expect("the screen is open");
    s.shown(a.temporal.as_ref().unwrap())
        .iter()
        .map(|w| w.workflow_id.clone())
        .collect()
}

#[test]
fn the_workflows_screen_filters_by_status_and_queue() {
    let mut a = with_workflows();
    assert_eq!(a.on_key(key(KeyCode::Char('e'))), None);
    assert_eq!(ids(&a).len(), 5, "all, running first");
    a.on_key(key(KeyCode::Char('f')));
    assert_eq!(ids(&a), ["broken-1", "greet-1", "report-7"], "running");
    a.on_key(key(KeyCode::Char('f')));
    assert_eq!(ids(&a), ["broken-1"], "stuck");
    a.on_key(key(KeyCode::Char('f')));
    assert_eq!(ids(&a), ["greet-0"], "completed");
    for _ in 0..6 {
        a.on_key(key(KeyCode::Char('f')));
    }
    assert_eq!(ids(&a).len(), 5, "round to all");
    a.on_key(key(KeyCode::Char('u')));
    assert_eq!(ids(&a).len(), 4, "on hello");
    assert_eq!(a.workflows.as_ref().unwrap().filter_name(), "all on hello");
    a.on_key(key(KeyCode::Char('u')));
    assert_eq!(ids(&a), ["report-7"], "on reports");
    a.on_key(key(KeyCode::Char('u')));
    assert_eq!(ids(&a).len(), 5, "every queue again");
    // Keys that mean something else outside mean nothing to the supervisor
    // here: `t` is not a stop, `q` closes the screen, not the dash.
    assert_eq!(a.on_key(key(KeyCode::Char('t'))), None);
    a.on_key(key(KeyCode::Char('q')));
    assert!(a.workflows.is_none() && a.quit.is_none());
}

#[test]
fn a_workflow_is_looked_at_on_enter_with_its_stack_trace_only_while_polled() {
    let mut a = with_workflows();
    a.on_key(key(KeyCode::Char('e')));
    assert_eq!(a.wanted_detail(), None, "nothing open yet");
    a.on_key(key(KeyCode::Enter));
    let (target, polled) = a.wanted_detail().expect("broken-1 looked at");
    assert_eq!(target.workflow_id, "broken-1");
    assert_eq!(target.run_id.as_deref(), Some("broken-1-run-0001"));
    assert!(polled, "a worker polls hello");
    a.on_key(key(KeyCode::Esc));
    assert_eq!(a.wanted_detail(), None, "Esc closes the look first");
    assert!(a.workflows.is_some());
    a.on_key(key(KeyCode::Down));
    a.on_key(key(KeyCode::Down));
    a.on_key(key(KeyCode::Enter));
    let (target, polled) = a.wanted_detail().unwrap();
    assert_eq!(target.workflow_id, "report-7");
    assert!(!polled, "nobody polls reports: no stack trace asked for");
    a.on_key(key(KeyCode::Esc));
    a.on_key(key(KeyCode::Esc));
    assert!(a.workflows.is_none(), "the second Esc closes the screen");
}

#[test]
fn cancel_terminate_and_reset_are_asked_first_and_only_for_running_workflows() {
    let mut a = with_workflows();
    a.on_key(key(KeyCode::Char('e')));
    for (k, what) in [('c', Act::Cancel), ('x', Act::Terminate), ('R', Act::Reset)] {
        a.on_key(key(KeyCode::Char(k)));
        let Some(Dialog::ConfirmWorkflow(asked, target)) = a.dialog.clone() else {
            panic!("{k}: not asked first: {:?}", a.dialog)
        };
        assert_eq!(asked, what);
        assert_eq!(target.workflow_id, "broken-1");
        a.on_key(key(KeyCode::Char('n')));
        assert!(
            a.dialog.is_none() && a.workflow_act.is_none(),
            "n: nothing done"
        );
        a.on_key(key(KeyCode::Char(k)));
        a.on_key(key(KeyCode::Char('y')));
        assert_eq!(
            a.workflow_act.take(),
            Some((
                Target {
                    namespace: "default".into(),
                    workflow_id: "broken-1".into(),
                    run_id: Some("broken-1-run-0001".into()),
                },
                what
            )),
            "{k}: the run that was shown"
        );
    }
    // A closed one: said why not, nothing asked.
    for _ in 0..3 {
        a.on_key(key(KeyCode::Down));
    }
    a.on_key(key(KeyCode::Char('x')));
    assert!(a.dialog.is_none());
    assert_eq!(
        a.notice.as_deref(),
        Some("greet-0 is completed: only a running workflow can be terminated")
    );
}

#[test]
fn snapshot_workflows_screen_with_a_close_look() {
    let mut a = with_workflows();
    a.on_key(key(KeyCode::Char('e')));
    a.on_key(key(KeyCode::Down));
    a.on_key(key(KeyCode::Enter));
    a.detail = Some(Detail {
        namespace: "default".into(),
        workflow_id: "greet-1".into(),
        run_id: Some("greet-1-run-0001".into()),
        workflow_type: Some("Greet".into()),
        task_queue: Some("hello".into()),
        status: "running".into(),
        history_length: Some(11),
        task_attempt: Some(1),
        pending_activities: vec![crate::temporal::workflows::Pending {
            activity: "greet".into(),
            state: "scheduled".into(),
            attempt: 3,
            maximum_attempts: 0,
            last_failure: Some("<urlopen error [Errno 111] Connection refused>".into()),
            next_attempt: Some("2026-12-02T13:40:05Z".into()),
            worker: Some(Who {
                identity: "4711@here".into(),
                pid: Some(4711),
                service: Some("worker".into()),
            }),
        }],
        last_failure: Some(crate::temporal::workflows::Failure {
            event: "activity task failed".into(),
            event_id: Some(9),
            time: Some("2026-12-02T13:40:03.120Z".into()),
            cause: None,
            message: "<urlopen error [Errno 111] Connection refused>".into(),
            worker: None,
        }),
        stack_trace: vec![
            "Stack for <Task pending name='run (workflow: Greet, id: greet-1)'>:".into(),
            "  File \"worker.py\", line 36, in run".into(),
        ],
        stack_trace_error: None,
        reset_point: Some(4),
        error: None,
    });
    let text = screen(&a, 110, 30);
    assert!(text.contains("Workflows · all · 5 of 5"), "{text}");
    assert!(text.contains("stuck       broken-1"), "{text}");
    insta::assert_snapshot!(text);
    // A confirmation over it names the run and what it does.
    a.on_key(key(KeyCode::Char('R')));
    let text = screen(&a, 110, 30);
    assert!(
        text.contains("reset workflow greet-1 (run greet-1-) in default?"),
        "{text}"
    );
}

#[test]
fn what_was_done_shows_on_the_screen() {
    let mut a = with_workflows();
    a.on_key(key(KeyCode::Char('e')));
    a.on_key(key(KeyCode::Char('x')));
    a.on_key(key(KeyCode::Char('y')));
    let text = screen(&a, 110, 30);
    assert!(text.contains("terminate: asking Temporal…"), "{text}");
}
