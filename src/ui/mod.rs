//! The dashboard's model and drawing. No I/O here: the app holds the latest
//! supervisor snapshot and the log lines it was handed, turns keys into
//! supervisor commands, and renders. `crate::dash` does the I/O around it.

pub mod keys;
pub mod log;
pub mod panels;

use std::path::PathBuf;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, MouseEvent, MouseEventKind};
use ratatui::Frame;

use crate::inspect::Status;
use crate::lifecycle::{clean_from, Ctx};
use crate::supervisor::{Command, Snapshot};
use keys::UiAction;
use log::LogView;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Processes,
    Events,
    Log,
}

impl Focus {
    const ALL: [Focus; 3] = [Focus::Log, Focus::Processes, Focus::Events];
    fn step(self, by: isize) -> Focus {
        let i = Self::ALL.iter().position(|f| *f == self).unwrap_or(0) as isize;
        Self::ALL[(i + by).rem_euclid(Self::ALL.len() as isize) as usize]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    Help,
    ConfirmKill,
    /// What clean would do, line by line.
    ConfirmClean(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quit {
    /// Leave the service running.
    Leave,
    /// Stop the service first.
    Stop,
}

/// What does not change while the dash runs.
#[derive(Debug, Clone)]
pub struct Info {
    pub home: PathBuf,
    pub log_path: PathBuf,
    pub grpc: u16,
    pub ui: u16,
    pub http: u16,
    /// The program, or why it cannot be found (with the install hint).
    pub program: Result<PathBuf, String>,
}

impl Info {
    pub fn of(ctx: &Ctx) -> Self {
        let s = &ctx.settings;
        Self {
            home: s.state.root().to_path_buf(),
            log_path: s.state.log_path(),
            grpc: s.grpc_port,
            ui: s.ui_port,
            http: s.http_port,
            program: ctx.spec.program.clone(),
        }
    }
}

pub struct App {
    pub info: Info,
    pub ctx: Ctx,
    pub snap: Snapshot,
    pub focus: Focus,
    pub log: LogView,
    pub dialog: Option<Dialog>,
    pub quit: Option<Quit>,
    pub proc_offset: usize,
    pub events: tui_logger::TuiWidgetState,
    /// A one-line note for the user (e.g. "nothing to clean").
    pub notice: Option<String>,
    pub dirty: bool,
}

impl App {
    pub fn new(ctx: Ctx, snap: Snapshot) -> Self {
        Self {
            info: Info::of(&ctx),
            ctx,
            snap,
            focus: Focus::Log,
            log: LogView::new(),
            dialog: None,
            quit: None,
            proc_offset: 0,
            events: tui_logger::TuiWidgetState::new(),
            notice: None,
            dirty: true,
        }
    }

    pub fn status(&self) -> Option<&Status> {
        self.snap.status.as_deref()
    }

    pub fn set_snapshot(&mut self, snap: Snapshot) {
        self.snap = snap;
        self.dirty = true;
    }

    pub fn push_log(&mut self, lines: Vec<String>) {
        if !lines.is_empty() {
            self.log.push(lines);
            self.dirty = true;
        }
    }

    /// A key in, maybe a command for the supervisor out.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Command> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        self.dirty = true;
        if let Some(input) = self.log.input.as_mut() {
            match key.code {
                KeyCode::Esc => self.log.input = None,
                KeyCode::Enter => {
                    let q = self.log.input.take().unwrap_or_default();
                    self.log.set_search(q.clone());
                    if self.log.current.is_none() && !q.is_empty() {
                        self.notice = Some(format!("no match for {q:?}"));
                    }
                }
                KeyCode::Backspace => {
                    input.pop();
                }
                KeyCode::Char(c) => input.push(c),
                _ => {}
            }
            return None;
        }
        if let Some(d) = self.dialog.clone() {
            let yes = matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y'));
            let close = yes
                || matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::Char('n') | KeyCode::Char('N')
                );
            return match d {
                Dialog::Help => {
                    if matches!(
                        key.code,
                        KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Enter
                    ) {
                        self.dialog = None;
                    }
                    None
                }
                Dialog::ConfirmKill if close => {
                    self.dialog = None;
                    yes.then_some(Command::Kill)
                }
                Dialog::ConfirmClean(_) if close => {
                    self.dialog = None;
                    yes.then_some(Command::Clean)
                }
                _ => None,
            };
        }
        self.notice = None;
        let action = keys::lookup(key.code, key.modifiers)?;
        self.act(action)
    }

    pub fn on_mouse(&mut self, m: MouseEvent) {
        match m.kind {
            MouseEventKind::ScrollUp => self.log.scroll_up(3),
            MouseEventKind::ScrollDown => self.log.scroll_down(3),
            _ => return,
        }
        self.dirty = true;
    }

    fn act(&mut self, action: UiAction) -> Option<Command> {
        match action {
            UiAction::Start => return Some(Command::Start),
            UiAction::Stop => return Some(Command::Stop),
            UiAction::Restart => return Some(Command::Restart),
            UiAction::Kill => self.dialog = Some(Dialog::ConfirmKill),
            UiAction::Clean => {
                let plan = self
                    .status()
                    .map(|st| clean_from(&self.ctx, st, true))
                    .unwrap_or_default();
                if plan.actions.is_empty() {
                    self.notice = Some(
                        "nothing to clean: no stale PID file, orphan or escaped process".into(),
                    );
                } else {
                    self.dialog = Some(Dialog::ConfirmClean(plan.actions));
                }
            }
            UiAction::Quit => self.quit = Some(Quit::Leave),
            UiAction::QuitAndStop => {
                self.quit = Some(Quit::Stop);
                return Some(Command::Shutdown { stop: true });
            }
            UiAction::Help => self.dialog = Some(Dialog::Help),
            UiAction::FocusNext => self.focus = self.focus.step(1),
            UiAction::FocusPrev => self.focus = self.focus.step(-1),
            UiAction::Up | UiAction::Down | UiAction::PageUp | UiAction::PageDown => {
                let n = if matches!(action, UiAction::PageUp | UiAction::PageDown) {
                    10
                } else {
                    1
                };
                let up = matches!(action, UiAction::Up | UiAction::PageUp);
                match self.focus {
                    Focus::Log => {
                        if up {
                            self.log.scroll_up(n)
                        } else {
                            self.log.scroll_down(n)
                        }
                    }
                    Focus::Processes => {
                        self.proc_offset = if up {
                            self.proc_offset.saturating_sub(n)
                        } else {
                            self.proc_offset + n
                        }
                    }
                    Focus::Events => self.events.transition(if up {
                        tui_logger::TuiWidgetEvent::PrevPageKey
                    } else {
                        tui_logger::TuiWidgetEvent::NextPageKey
                    }),
                }
            }
            UiAction::Top => self.log.top(),
            UiAction::Follow => self.log.follow(),
            UiAction::ToggleFollow => self.log.toggle_follow(),
            UiAction::Search => {
                self.focus = Focus::Log;
                self.log.input = Some(String::new());
            }
            UiAction::NextMatch | UiAction::PrevMatch => {
                if self.log.search.is_none() {
                    self.notice = Some("no search yet: press / to search".into());
                } else if !self.log.find(action == UiAction::NextMatch) {
                    self.notice = Some("no more matches".into());
                }
            }
        }
        None
    }

    pub fn draw(&self, f: &mut Frame, now: Instant) {
        panels::draw(self, f, now);
    }
}

#[cfg(test)]
mod tests;
