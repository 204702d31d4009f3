//! The workflows screen (`e`): Temporal's workflows one by one, filtered
//! by status and task queue; the selected one looked at closely (asked for
//! by the I/O around the UI, see [`App::wanted_detail`]); cancel,
//! terminate and reset, each asked first. Data only, no I/O.

use crossterm::event::{KeyCode, KeyEvent};

use super::{App, Dialog};
use crate::temporal::{Act, Target, TemporalInfo, Workflow};

/// The status filter's steps (`f`); `stuck` is a running workflow that
/// stigmer found stuck.
pub const FILTERS: [&str; 9] = [
    "all",
    "running",
    "stuck",
    "completed",
    "failed",
    "canceled",
    "terminated",
    "timed_out",
    "continued_as_new",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Screen {
    /// Into the filtered list.
    pub selected: usize,
    /// Into [`FILTERS`].
    pub status: usize,
    /// Only workflows on this task queue.
    pub queue: Option<String>,
    /// The selected one looked at closely (Enter).
    pub open: Option<Target>,
    /// Lines of the close look scrolled past.
    pub offset: usize,
}

impl Screen {
    /// The workflows shown, in order.
    pub fn shown<'a>(&self, t: &'a TemporalInfo) -> Vec<&'a Workflow> {
        let status = FILTERS[self.status % FILTERS.len()];
        t.workflows
            .iter()
            .filter(|w| match status {
                "all" => true,
                "stuck" => is_stuck(t, w),
                s => w.status == s,
            })
            .filter(|w| self.queue.is_none() || w.task_queue == self.queue)
            .collect()
    }

    pub fn filter_name(&self) -> String {
        let s = FILTERS[self.status % FILTERS.len()].replace('_', " ");
        match &self.queue {
            Some(q) => format!("{s} on {q}"),
            None => s,
        }
    }
}

/// Whether stigmer found `w` stuck (its run, when both name one).
pub fn is_stuck(t: &TemporalInfo, w: &Workflow) -> bool {
    w.status == "running"
        && t.stuck.iter().any(|s| {
            s.namespace == w.namespace
                && s.workflow_id == w.workflow_id
                && (s.run_id.is_none() || s.run_id == w.run_id)
        })
}

/// The task queues workflows are on, in order, each once.
fn queues(t: &TemporalInfo) -> Vec<String> {
    let mut out: Vec<String> = t
        .workflows
        .iter()
        .filter_map(|w| w.task_queue.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

impl App {
    /// `e`: the workflows screen on or off.
    pub(super) fn toggle_workflows(&mut self) {
        if self.workflows.take().is_some() {
            return;
        }
        if !self.has_temporal && self.temporal.is_none() {
            self.notice = Some("no Temporal in this stack (built-in off, no address)".into());
            return;
        }
        self.workflows = Some(Screen::default());
        self.detail = None;
    }

    /// A key while the workflows screen is open: its own keys (shown on
    /// it); `?` and the quit keys keep their meaning.
    pub(super) fn workflows_key(&mut self, key: KeyEvent) {
        let Some(mut s) = self.workflows.take() else {
            return;
        };
        // Borrowed, not copied: it holds up to a thousand workflows.
        let empty = TemporalInfo::default();
        let t = self.temporal.as_ref().unwrap_or(&empty);
        let n = s.shown(t).len();
        match key.code {
            KeyCode::Esc if s.open.is_some() => s.open = None,
            KeyCode::Esc | KeyCode::Char('e') | KeyCode::Char('q') => {
                self.detail = None;
                return; // closed
            }
            KeyCode::Up | KeyCode::Char('k') | KeyCode::Char('K') if s.open.is_some() => {
                s.offset = s.offset.saturating_sub(1)
            }
            KeyCode::Down | KeyCode::Char('j') | KeyCode::Char('J') if s.open.is_some() => {
                s.offset += 1
            }
            KeyCode::Up | KeyCode::Char('k') | KeyCode::Char('K') => {
                s.selected = s.selected.saturating_sub(1)
            }
            KeyCode::Down | KeyCode::Char('j') | KeyCode::Char('J') => {
                s.selected = (s.selected + 1).min(n.saturating_sub(1))
            }
            KeyCode::PageUp => s.offset = s.offset.saturating_sub(10),
            KeyCode::PageDown => s.offset += 10,
            KeyCode::Char('f') => {
                s.status = (s.status + 1) % FILTERS.len();
                s.selected = 0;
                s.open = None;
            }
            KeyCode::Char('u') => {
                let qs = queues(t);
                s.queue = match s
                    .queue
                    .as_ref()
                    .and_then(|q| qs.iter().position(|x| x == q))
                {
                    None => qs.first().cloned(),
                    Some(i) => qs.get(i + 1).cloned(),
                };
                s.selected = 0;
                s.open = None;
            }
            KeyCode::Enter => match s.shown(t).get(s.selected) {
                Some(w) if s.open.as_ref() == Some(&w.target()) => s.open = None,
                Some(w) => {
                    s.open = Some(w.target());
                    s.offset = 0;
                    self.detail = None;
                }
                None => self.notice = Some("no workflow here".into()),
            },
            KeyCode::Char(c @ ('c' | 'x' | 'R')) => {
                let what = match c {
                    'c' => Act::Cancel,
                    'x' => Act::Terminate,
                    _ => Act::Reset,
                };
                match s.shown(t).get(s.selected) {
                    Some(w) if w.status != "running" => {
                        self.notice = Some(format!(
                            "{} is {}: only a running workflow can be {}",
                            w.workflow_id,
                            w.status.replace('_', " "),
                            match what {
                                Act::Cancel => "canceled",
                                Act::Terminate => "terminated",
                                Act::Reset => "reset here",
                            }
                        ))
                    }
                    Some(w) => self.dialog = Some(Dialog::ConfirmWorkflow(what, w.target())),
                    None => self.notice = Some("no workflow selected".into()),
                }
            }
            KeyCode::Char('?') => self.dialog = Some(Dialog::Help),
            _ => {}
        }
        self.workflows = Some(s);
    }

    /// The workflow to look at closely, and whether a worker polls its
    /// queue (so its stack trace can be asked for): for the I/O around
    /// the UI, which asks Temporal.
    pub fn wanted_detail(&self) -> Option<(Target, bool)> {
        let target = self.workflows.as_ref()?.open.clone()?;
        let t = self.temporal.as_ref()?;
        let queue = t
            .workflows
            .iter()
            .find(|w| w.target() == target)
            .and_then(|w| w.task_queue.clone());
        let polled = queue.is_some_and(|q| {
            t.task_queues.iter().any(|tq| {
                tq.namespace == target.namespace
                    && tq.name == q
                    && tq.pollers.iter().any(|p| p.kind == "workflow")
            }) || t
                .workers
                .iter()
                .any(|w| w.namespace == target.namespace && w.task_queue == q)
        });
        Some((target, polled))
    }
}
