//! The dashboard's model and drawing. No I/O here: the app holds the latest
//! supervisor snapshot and the log lines it was handed, turns keys into
//! supervisor commands, and renders. `crate::dash` does the I/O around it.

mod act;
pub mod events;
pub mod keys;
pub mod log;
pub mod panels;
pub mod usage;
pub mod workflows;

use std::path::PathBuf;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;

use crate::config::service::Ctx;
use crate::probe::inspect::Status;
use crate::supervisor::inspector::Seen;
use crate::supervisor::{Command, StackCommand};
use crate::view::ServiceView;
use log::LogView;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Services,
    Processes,
    Events,
    Log,
}

impl Focus {
    const ALL: [Focus; 4] = [Focus::Log, Focus::Services, Focus::Processes, Focus::Events];
    /// The next panel; the services panel exists only for a stack.
    fn step(self, by: isize, stack: bool) -> Focus {
        let all: Vec<Focus> = Self::ALL
            .into_iter()
            .filter(|f| stack || *f != Focus::Services)
            .collect();
        let i = all.iter().position(|f| *f == self).unwrap_or(0) as isize;
        all[(i + by).rem_euclid(all.len() as isize) as usize]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    Help,
    ConfirmKill,
    /// What clean would do, line by line.
    ConfirmClean(Vec<String>),
    /// Cancel, terminate or reset this workflow run?
    ConfirmWorkflow(crate::temporal::Act, crate::temporal::Target),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quit {
    /// Leave the service running.
    Leave,
    /// Stop the service first.
    Stop,
}

/// What does not change while the dash runs (for the selected service).
#[derive(Debug, Clone)]
pub struct Info {
    pub name: String,
    pub home: PathBuf,
    pub log_path: PathBuf,
    pub lock_path: PathBuf,
    pub grpc: u16,
    pub ui: u16,
    pub http: u16,
    /// The program, or why it cannot be found (with the install hint).
    pub program: Result<PathBuf, crate::config::NoProgram>,
    /// The ports it declares.
    pub ports: Vec<u16>,
    /// A replica: of which service, and its number.
    pub replica: Option<(String, String)>,
}

impl Info {
    pub fn of(ctx: &Ctx) -> Self {
        let s = &ctx.settings;
        Self {
            name: ctx.spec.name.clone(),
            home: s.state.root().to_path_buf(),
            log_path: ctx.spec.paths.log.clone(),
            lock_path: ctx.spec.paths.lock.clone(),
            grpc: s.grpc_port,
            ui: s.ui_port,
            http: s.http_port,
            program: ctx.spec.program.clone(),
            ports: ctx.spec.ports.iter().map(|p| p.port).collect(),
            replica: ctx
                .spec
                .env
                .iter()
                .rev()
                .find(|(k, _)| k == crate::config::service::REPLICA_VAR)
                .and_then(|(_, i)| {
                    let group = ctx.spec.name.strip_suffix(&format!("-{i}"))?;
                    Some((group.to_string(), i.clone()))
                }),
        }
    }
}

/// One service on screen: its supervisor's view and what inspecting it
/// found (the dashboard draws these two, and nothing else).
#[derive(Debug, Clone)]
pub struct Entry {
    pub view: ServiceView,
    pub seen: Seen,
}

impl Entry {
    pub fn new(view: ServiceView, seen: Seen) -> Self {
        Self { view, seen }
    }

    /// A service nobody supervises and nobody has looked at yet.
    pub fn unseen(name: &str) -> Self {
        Self::new(ServiceView::unsupervised(name), Seen::default())
    }
}

pub struct App {
    /// The selected service.
    pub info: Info,
    /// The selected service on screen.
    pub entry: Entry,
    pub services: Vec<Info>,
    /// Every service on screen, in the config's order.
    pub stack: Vec<Entry>,
    pub selected: usize,
    pub focus: Focus,
    /// The log on screen: the selected service's, or all merged.
    pub log: LogView,
    /// The other views, by service index; index `services.len()` is the
    /// merged one. The one on screen is held in `log`, its slot empty.
    pub views: Vec<LogView>,
    pub shown: usize,
    pub dialog: Option<Dialog>,
    pub quit: Option<Quit>,
    pub proc_offset: usize,
    pub events: tui_logger::TuiWidgetState,
    /// A one-line note for the user (e.g. "nothing to clean").
    pub notice: Option<String>,
    /// The PID of the supervisor this dash is attached to, if any.
    pub attached_to: Option<i32>,
    /// JSON lines rendered as "message  key=value …", coloured.
    pub pretty_json: bool,
    /// Text to put on the clipboard (OSC 52) at the next draw.
    pub clipboard: Option<String>,
    /// Inside Temporal (refreshed every 2 s while it is ready).
    pub temporal: Option<crate::temporal::TemporalInfo>,
    /// The Temporal panel instead of the processes (`w`).
    pub show_temporal: bool,
    /// The focused panel on the whole screen (`z`).
    pub zoom: bool,
    /// Lines of the Temporal panel scrolled past.
    pub temporal_offset: usize,
    /// The stack has a Temporal to look into (built-in or external).
    pub has_temporal: bool,
    /// A URL to open in a browser (`o`), for the I/O around the UI.
    pub open_url: Option<String>,
    /// CPU and memory over the last ten minutes, by service index.
    pub usage: Vec<usage::History>,
    /// The config file the stack runs, and what is wrong with it (a
    /// refused reload, a supervisor running another file).
    pub config: Option<String>,
    pub config_trouble: Option<String>,
    /// Which stuck workflow `F` shows next.
    pub failure_cursor: usize,
    /// The supervisor attached to runs another file: this dash only watches.
    pub watch_only: bool,
    /// `L`: the config is to be reloaded (by the I/O around the UI).
    pub reload_asked: bool,
    /// Ask the supervisor who it is again (it reloaded).
    pub recheck: bool,
    /// The workflows screen (`e`), when open.
    pub workflows: Option<workflows::Screen>,
    /// The latest close look at the workflow the screen has open.
    pub detail: Option<crate::temporal::Detail>,
    /// A confirmed cancel, terminate or reset, for the I/O around the UI.
    pub workflow_act: Option<(crate::temporal::Target, crate::temporal::Act)>,
    /// Where the log was drawn last (for the mouse).
    pub log_area: std::cell::Cell<ratatui::layout::Rect>,
    pub dirty: bool,
}

impl App {
    /// The dash of Temporal alone.
    pub fn new(info: Info, entry: Entry) -> Self {
        Self::for_stack(vec![info], vec![entry])
    }

    pub fn for_stack(services: Vec<Info>, stack: Vec<Entry>) -> Self {
        let n = services.len();
        let mut app = Self {
            entry: Entry::unseen(&services[0].name),
            info: services[0].clone(),
            services,
            stack,
            selected: 0,
            focus: Focus::Log,
            log: LogView::new(),
            views: (0..=n).map(|_| LogView::new()).collect(),
            shown: 0,
            dialog: None,
            quit: None,
            proc_offset: 0,
            events: tui_logger::TuiWidgetState::new(),
            notice: None,
            attached_to: None,
            pretty_json: false,
            clipboard: None,
            log_area: Default::default(),
            usage: Vec::new(),
            temporal: None,
            show_temporal: false,
            zoom: false,
            temporal_offset: 0,
            has_temporal: false,
            open_url: None,
            config: None,
            config_trouble: None,
            reload_asked: false,
            watch_only: false,
            failure_cursor: 0,
            recheck: false,
            workflows: None,
            detail: None,
            workflow_act: None,
            dirty: true,
        };
        app.sync_selected();
        app
    }

    pub fn is_stack(&self) -> bool {
        self.services.len() > 1
    }

    pub fn merged_shown(&self) -> bool {
        self.shown == self.services.len()
    }

    fn sync_selected(&mut self) {
        if let Some(v) = self.stack.get(self.selected) {
            self.entry = v.clone();
        }
    }

    pub fn status(&self) -> Option<&Status> {
        self.entry.seen.status.as_deref()
    }

    /// Why the selected service is not moving (waiting for a dependency…).
    pub fn note(&self) -> Option<&str> {
        self.entry.view.note.as_deref()
    }

    /// The dash of Temporal alone gets a single service.
    pub fn set_entry(&mut self, entry: Entry) {
        if let Some(v) = self.stack.get_mut(self.selected) {
            *v = entry;
        }
        self.sync_selected();
        self.dirty = true;
    }

    pub fn set_stack(&mut self, stack: Vec<Entry>) {
        self.usage.resize_with(stack.len(), Default::default);
        for (h, v) in self.usage.iter_mut().zip(&stack) {
            if let Some(at) = v.seen.at {
                let (cpu, rss) = v.seen.usage_total();
                h.record(at, cpu, rss);
            }
        }
        self.stack = stack;
        self.sync_selected();
        self.dirty = true;
    }

    /// The stack now has these services (a reload): each one's log and
    /// history go with its name; the selection stays on the same service
    /// when it is still there; the merged log starts afresh (its lines
    /// carry the old positions).
    pub fn set_services(&mut self, services: Vec<Info>) {
        if services.is_empty() {
            return;
        }
        let was_merged = self.merged_shown();
        self.show_view(self.selected.min(self.services.len() - 1));
        std::mem::swap(&mut self.log, &mut self.views[self.shown]);
        let mut old: Vec<(String, LogView, usage::History)> = self
            .services
            .iter()
            .zip(std::mem::take(&mut self.views))
            .zip(
                std::mem::take(&mut self.usage)
                    .into_iter()
                    .chain(std::iter::repeat_with(Default::default)),
            )
            .map(|((i, v), u)| (i.name.clone(), v, u))
            .collect();
        let selected = self.info.name.clone();
        let (mut views, mut usage) = (vec![], vec![]);
        for s in &services {
            match old.iter().position(|(n, ..)| *n == s.name) {
                Some(i) => {
                    let (_, v, u) = old.swap_remove(i);
                    views.push(v);
                    usage.push(u);
                }
                None => {
                    views.push(LogView::new());
                    usage.push(Default::default());
                }
            }
        }
        views.push(LogView::new()); // the merged one
        self.selected = services
            .iter()
            .position(|s| s.name == selected)
            .unwrap_or(0);
        self.info = services[self.selected].clone();
        self.services = services;
        self.views = views;
        self.usage = usage;
        self.stack
            .retain(|e| self.services.iter().any(|s| s.name == e.view.name));
        // The one on screen lives in `log`, its slot empty.
        self.shown = if was_merged && self.is_stack() {
            self.services.len()
        } else {
            self.selected
        };
        std::mem::swap(&mut self.log, &mut self.views[self.shown]);
        self.proc_offset = 0;
        self.sync_selected();
        self.dirty = true;
    }

    /// New lines of the service called `name`.
    pub fn push_log_named(&mut self, name: &str, lines: Vec<String>) {
        if let Some(i) = self.services.iter().position(|s| s.name == name) {
            self.push_log_of(i, lines);
        }
    }

    /// Lines of the selected service (or of Temporal alone).
    pub fn push_log(&mut self, lines: Vec<String>) {
        self.push_log_of(self.selected, lines);
    }

    /// New lines of service `i`: to its view and, shared, to the merged one.
    pub fn push_log_of(&mut self, i: usize, lines: Vec<String>) {
        if lines.is_empty() || i >= self.services.len() {
            return;
        }
        let n = lines.len();
        self.view_mut(i).push_of(i as u16, lines);
        if self.is_stack() {
            let shared: Vec<log::LogLine> = self.view_mut(i).newest(n).cloned().collect();
            self.view_mut(self.services.len()).push_lines(shared);
        }
        self.dirty = true;
    }

    fn view_mut(&mut self, i: usize) -> &mut LogView {
        if i == self.shown {
            &mut self.log
        } else {
            &mut self.views[i]
        }
    }

    fn show_view(&mut self, i: usize) {
        if i == self.shown {
            return;
        }
        std::mem::swap(&mut self.log, &mut self.views[self.shown]);
        std::mem::swap(&mut self.log, &mut self.views[i]);
        self.shown = i;
    }

    fn select(&mut self, by: isize) {
        let n = self.services.len() as isize;
        if n < 2 {
            return;
        }
        self.selected = (self.selected as isize + by).rem_euclid(n) as usize;
        self.info = self.services[self.selected].clone();
        self.proc_offset = 0;
        self.sync_selected();
        if !self.merged_shown() {
            self.show_view(self.selected);
        }
    }

    fn for_selected(&self, c: Command) -> StackCommand {
        StackCommand::Service(self.info.name.clone(), c)
    }

    /// A key in, maybe a command for the supervisor out.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<StackCommand> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        self.dirty = true;
        if let Some(mut input) = self.log.input.clone() {
            match key.code {
                KeyCode::Esc => self.log.clear_search(),
                KeyCode::Enter => {
                    let q = self.log.input.take().unwrap_or_default();
                    match self.log.input_error.take() {
                        // The last valid search stays.
                        Some(why) => self.notice = Some(format!("/{q}: {why}")),
                        None if self.log.current.is_none() && !q.is_empty() => {
                            self.notice = Some(format!("no match for /{q}/"))
                        }
                        None => {}
                    }
                }
                KeyCode::Backspace => {
                    input.pop();
                    self.log.type_search(input);
                }
                KeyCode::Char(c) => {
                    input.push(c);
                    self.log.type_search(input);
                }
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
                    yes.then(|| self.for_selected(Command::Kill))
                }
                Dialog::ConfirmClean(_) if close => {
                    self.dialog = None;
                    yes.then(|| self.for_selected(Command::Clean))
                }
                Dialog::ConfirmWorkflow(what, target) if close => {
                    self.dialog = None;
                    if yes {
                        self.notice = Some(format!("{}: asking Temporal…", what.verb()));
                        self.workflow_act = Some((target, what));
                    }
                    None
                }
                _ => None,
            };
        }
        self.notice = None;
        if self.workflows.is_some() {
            self.workflows_key(key);
            return None;
        }
        if key.code == KeyCode::Esc {
            // Esc undoes what is on: a selection, else a search.
            if self.log.selecting() {
                self.log.toggle_selection();
            } else if self.log.search.is_some() || self.log.only_matching {
                self.log.clear_search();
                self.notice = Some("search cleared".into());
            } else if self.zoom {
                self.zoom = false;
            }
            return None;
        }
        let action = keys::lookup(key.code, key.modifiers)?;
        self.act(action)
    }

    pub fn on_mouse(&mut self, m: MouseEvent) {
        match m.kind {
            MouseEventKind::ScrollUp => self.log.scroll_up(3),
            MouseEventKind::ScrollDown => self.log.scroll_down(3),
            // Press and drag over the log select lines; `y` copies them.
            MouseEventKind::Down(MouseButton::Left) | MouseEventKind::Drag(MouseButton::Left) => {
                let a = self.log_area.get();
                let inside = m.column >= a.x
                    && m.column < a.x + a.width
                    && m.row > a.y
                    && m.row + 1 < a.y + a.height;
                if !inside {
                    return;
                }
                let k = self.log.first_shown(a.height.saturating_sub(2) as usize)
                    + (m.row - a.y - 1) as usize;
                if matches!(m.kind, MouseEventKind::Down(_)) {
                    self.focus = Focus::Log;
                    self.log.mouse_down(k);
                } else {
                    self.log.mouse_drag(k);
                }
            }
            _ => return,
        }
        self.dirty = true;
    }

    pub fn draw(&self, f: &mut Frame, now: Instant) {
        panels::draw(self, f, now);
    }
}

/// The most a copy sends: terminals cap OSC 52 payloads (xterm and tmux
/// at about 100 KB of base64).
pub const CLIPBOARD_MAX: usize = 64 * 1024;

/// The OSC 52 sequence that puts `text` on the system clipboard; inside
/// tmux, wrapped so tmux passes it to the terminal outside (with
/// `allow-passthrough`) besides taking it itself (with `set-clipboard`).
pub fn osc52(text: &str, in_tmux: bool) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    let seq = format!("\x1b]52;c;{b64}\x07");
    if in_tmux {
        format!("{seq}\x1bPtmux;\x1b\x1b]52;c;{b64}\x07\x1b\\")
    } else {
        seq
    }
}

#[cfg(test)]
mod tests;
