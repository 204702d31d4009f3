//! What each key's action does to the model: data only, no I/O. A command
//! for the supervisor comes back as a `StackCommand` for the I/O around
//! the UI to send.

use super::keys::UiAction;
use super::{App, Dialog, Focus, Quit, CLIPBOARD_MAX};
use crate::supervisor::{Command, StackCommand};

impl App {
    pub(super) fn act(&mut self, action: UiAction) -> Option<StackCommand> {
        match action {
            UiAction::Start => return Some(self.for_selected(Command::Start)),
            UiAction::Stop => return Some(self.for_selected(Command::Stop)),
            UiAction::Restart => return Some(self.for_selected(Command::Restart)),
            UiAction::StartAll => return Some(StackCommand::StartAll),
            UiAction::StopAll => return Some(StackCommand::StopAll),
            UiAction::QuitAndStop => {
                self.quit = Some(Quit::Stop);
                return Some(StackCommand::Shutdown { stop: true });
            }
            UiAction::NextService => self.select(1),
            UiAction::PrevService => self.select(-1),
            UiAction::ToggleMergedLog => self.toggle_merged(),
            UiAction::Kill => self.dialog = Some(Dialog::ConfirmKill),
            UiAction::Clean => self.ask_clean(),
            UiAction::Quit => self.quit = Some(Quit::Leave),
            UiAction::Help => self.dialog = Some(Dialog::Help),
            UiAction::FocusNext => self.focus = self.focus.step(1, self.is_stack()),
            UiAction::FocusPrev => self.focus = self.focus.step(-1, self.is_stack()),
            UiAction::Up | UiAction::Down | UiAction::PageUp | UiAction::PageDown => {
                self.scroll(action)
            }
            UiAction::PrettyJson => self.pretty_json = !self.pretty_json,
            UiAction::Zoom => self.zoom = !self.zoom,
            UiAction::Reload => self.reload_asked = true,
            UiAction::JumpToFailure => self.jump_to_failure(),
            UiAction::ToggleWatch => return Some(self.for_selected(Command::ToggleWatch)),
            UiAction::ToggleTemporal => self.toggle_temporal(),
            UiAction::Workflows => self.toggle_workflows(),
            UiAction::OpenUi => match self.temporal.as_ref().and_then(|t| t.ui_url.clone()) {
                Some(url) => self.open_url = Some(url),
                None => self.notice = Some("no Temporal web UI known".into()),
            },
            UiAction::Copy | UiAction::CopyAll => self.copy(action == UiAction::Copy),
            _ => self.log_action(action),
        }
        None
    }

    /// The log's own actions: search, levels, following, selection.
    fn log_action(&mut self, action: UiAction) {
        match action {
            UiAction::Top => self.log.top(),
            UiAction::Follow => self.log.follow(),
            UiAction::ToggleFollow => self.log.toggle_follow(),
            UiAction::Search => {
                self.focus = Focus::Log;
                self.log.input = Some(String::new());
                self.log.input_error = None;
            }
            UiAction::CycleLevel => {
                self.log.cycle_level();
                self.notice = Some(match self.log.min_level {
                    None => "showing every level".into(),
                    Some(l) => format!("showing {} and above", l.name()),
                });
            }
            UiAction::OnlyMatching => {
                if self.log.search.is_none() && !self.log.only_matching {
                    self.notice = Some("no search yet: press / to search, then &".into());
                } else {
                    self.log.toggle_only_matching();
                }
            }
            UiAction::Select => {
                self.focus = Focus::Log;
                self.log.toggle_selection();
            }
            UiAction::NextMatch | UiAction::PrevMatch => {
                if self.log.search.is_none() {
                    self.notice = Some("no search yet: press / to search".into());
                } else if !self.log.find(action == UiAction::NextMatch) {
                    self.notice = Some("no more matches".into());
                }
            }
            _ => {}
        }
    }

    fn toggle_merged(&mut self) {
        if !self.is_stack() {
            self.notice = Some("one service: its log is the whole log".into());
        } else if self.merged_shown() {
            self.show_view(self.selected);
        } else {
            self.show_view(self.services.len());
        }
    }

    /// `F`: the next stuck workflow's failure, in the log of the service
    /// whose worker failed it — the lines matching its message marked (`n`
    /// and `N` go through them), the newest (the failure's time) in view.
    fn jump_to_failure(&mut self) {
        use crate::temporal::stuck::Why;
        let stuck = self
            .temporal
            .as_ref()
            .map(|t| t.stuck.clone())
            .unwrap_or_default();
        if stuck.is_empty() {
            self.notice = Some("no stuck workflow (w shows what Temporal holds)".into());
            return;
        }
        let s = &stuck[self.failure_cursor % stuck.len()];
        self.failure_cursor += 1;
        let (message, worker) = match &s.why {
            Why::WorkflowTaskFailing {
                message, worker, ..
            } => (message, worker),
            Why::ActivityRetrying {
                last_failure,
                worker,
                ..
            } => (last_failure, worker),
        };
        let service = worker.as_ref().and_then(|w| w.service.clone());
        let Some(i) = service
            .as_ref()
            .and_then(|n| self.services.iter().position(|x| &x.name == n))
        else {
            let who = worker
                .as_ref()
                .map_or("an unknown worker", |w| w.identity.as_str());
            self.notice = Some(format!(
                "{}: failed on {who}, not a service of this stack: no log here",
                s.workflow_id
            ));
            return;
        };
        self.selected = i;
        self.info = self.services[i].clone();
        self.proc_offset = 0;
        self.sync_selected();
        self.show_view(i);
        self.focus = Focus::Log;
        let words: String = message
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(60)
            .collect();
        let _ = self.log.set_search(&regex::escape(words.trim()));
        self.log.input = None;
        self.notice = Some(format!(
            "{}: {} — in {}'s log, {} lines marked (n/N: the others; Esc clears)",
            s.workflow_id,
            crate::util::output::short(message, 60),
            self.info.name,
            self.log.match_count
        ));
    }

    /// `c`: what a clean would do, to confirm; or that there is nothing.
    fn ask_clean(&mut self) {
        let plan = self
            .status()
            .map(crate::lifecycle::clean::plan)
            .unwrap_or_default();
        if plan.actions.is_empty() {
            self.notice =
                Some("nothing to clean: no stale PID file, orphan or escaped process".into());
        } else {
            self.dialog = Some(Dialog::ConfirmClean(plan.actions));
        }
    }

    fn toggle_temporal(&mut self) {
        if self.has_temporal || self.temporal.is_some() {
            self.show_temporal = !self.show_temporal;
        } else {
            self.notice = Some("no Temporal in this stack (built-in off, no address)".into());
        }
    }

    /// Up, down, a page either way: in the focused panel.
    fn scroll(&mut self, action: UiAction) {
        let n = if matches!(action, UiAction::PageUp | UiAction::PageDown) {
            10
        } else {
            1
        };
        let up = matches!(action, UiAction::Up | UiAction::PageUp);
        let step = |at: usize| if up { at.saturating_sub(n) } else { at + n };
        match self.focus {
            Focus::Services => self.select(if up { -1 } else { 1 }),
            Focus::Log if self.log.selecting() => {
                let h = self.log_area.get().height.saturating_sub(2) as usize;
                self.log
                    .move_cursor(if up { -(n as isize) } else { n as isize }, h)
            }
            Focus::Log if up => self.log.scroll_up(n),
            Focus::Log => self.log.scroll_down(n),
            Focus::Processes if self.show_temporal => {
                self.temporal_offset = step(self.temporal_offset)
            }
            Focus::Processes => self.proc_offset = step(self.proc_offset),
            Focus::Events => self.events.transition(if up {
                tui_logger::TuiWidgetEvent::PrevPageKey
            } else {
                tui_logger::TuiWidgetEvent::NextPageKey
            }),
        }
    }

    /// `y` (the selection) or `Y` (what the log shows) to the clipboard.
    fn copy(&mut self, selection: bool) {
        let text = if selection {
            self.log.selected_text()
        } else {
            self.log.shown_text()
        };
        let n = text.lines().count();
        if text.len() > CLIPBOARD_MAX {
            self.notice = Some(format!(
                "{n} lines is more than a terminal's clipboard takes ({} KiB); select fewer",
                CLIPBOARD_MAX / 1024
            ));
        } else {
            self.notice = Some(format!("copied {n} line(s) to the clipboard (OSC 52)"));
            self.clipboard = Some(text);
            self.log.anchor = None;
        }
    }
}
