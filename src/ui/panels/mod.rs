//! Drawing: one file per panel; the layout is here, in `draw`.

use std::collections::HashMap;
use std::time::Instant;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::keys::{hints, KEYMAP};
use super::{App, Dialog, Focus, MIN_HEIGHT, MIN_WIDTH};
use crate::probe::inspect::{IdentityState, PidFileState};
use crate::process::scan::ProcEntry;
use crate::supervisor::Phase;
use crate::util::output::short;

mod bars;
mod dialogs;
mod events;
mod log;
mod processes;
mod service;
mod services;
mod temporal;
mod workflows;

pub use processes::process_rows;

const OK: Color = Color::Green;

const BAD: Color = Color::Red;

const WARN: Color = Color::Yellow;

const DIM: Color = Color::DarkGray;

fn block(title: String, focused: bool) -> Block<'static> {
    let b = Block::bordered().title(Span::styled(title, Style::new().bold()));
    if focused {
        b.border_type(BorderType::Thick)
            .border_style(Style::new().fg(Color::Cyan))
    } else {
        b.border_style(Style::new().fg(DIM))
    }
}

pub fn draw(app: &App, f: &mut Frame, now: Instant) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "Terminal too small: {}×{}. stigmer dash needs at least {MIN_WIDTH}×{MIN_HEIGHT}.\nEnlarge the window, or press q to quit.",
            area.width, area.height
        );
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    bars::draw_header(app, f, header, now);
    if let Some(s) = &app.workflows {
        // Its own keys in the footer: the screen takes every key.
        workflows::draw_workflows(app, s, f, body, footer);
        draw_dialog(app, f, area);
        return;
    }
    if app.zoom {
        // The focused panel alone, on the whole screen.
        match app.focus {
            Focus::Services if app.is_stack() => services::draw_services(app, f, body, now),
            Focus::Processes if app.show_temporal => temporal::draw_temporal(app, f, body),
            Focus::Processes => processes::draw_processes(app, f, body),
            Focus::Events => events::draw_events(app, f, body),
            _ => log::draw_log(app, f, body),
        }
    } else {
        let rows = Rows::of(body.height, app.is_stack(), app.services.len());
        let [services, top, mid, bottom] = Layout::vertical([
            Constraint::Length(rows.services),
            Constraint::Length(rows.top),
            Constraint::Length(rows.mid),
            Constraint::Min(rows.log),
        ])
        .areas(body);
        if app.is_stack() {
            services::draw_services(app, f, services, now);
        }
        let [service, right] =
            Layout::horizontal([Constraint::Percentage(52), Constraint::Percentage(48)]).areas(top);
        let [ports, lock] =
            Layout::vertical([Constraint::Length(5), Constraint::Min(4)]).areas(right);
        let [procs, events] =
            Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(mid);
        service::draw_service(app, f, service, now);
        service::draw_ports(app, f, ports);
        service::draw_lock(app, f, lock);
        if app.show_temporal {
            temporal::draw_temporal(app, f, procs);
        } else {
            processes::draw_processes(app, f, procs);
        }
        events::draw_events(app, f, events);
        log::draw_log(app, f, bottom);
    }
    bars::draw_footer(app, f, footer);
    draw_dialog(app, f, area);
}

/// The dialog over everything, if one is open.
fn draw_dialog(app: &App, f: &mut Frame, area: Rect) {
    match &app.dialog {
        Some(Dialog::Help) => dialogs::draw_help(f, area),
        Some(Dialog::ConfirmKill) => dialogs::draw_confirm(
            f,
            area,
            " Force kill ",
            vec![
                format!(
                    "SIGKILL the whole {} process group now?",
                    display_name(&app.info.name)
                ),
                "Unsaved work in flight is lost; persisted workflows survive.".into(),
            ],
        ),
        Some(Dialog::ConfirmClean(lines)) => {
            let mut text = vec![
                "Clean stale state — exactly this will be done:".to_string(),
                String::new(),
            ];
            text.extend(lines.iter().map(|l| format!("• {l}")));
            dialogs::draw_confirm(f, area, " Clean ", text)
        }
        Some(Dialog::ConfirmWorkflow(what, target)) => dialogs::draw_confirm(
            f,
            area,
            &format!(" {} ", what.verb()),
            vec![
                format!(
                    "{} workflow {} (run {}) in {}?",
                    what.verb(),
                    target.workflow_id,
                    target.short_run(),
                    target.namespace
                ),
                format!("{}.", what.meaning()),
            ],
        ),
        None => {}
    }
}

/// How the rows between header and footer are shared: the log gets at
/// least a third of the terminal (and what is left over); the panels above
/// it shrink first on a small terminal (`z` zooms any one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    pub services: u16,
    pub top: u16,
    pub mid: u16,
    pub log: u16,
}

impl Rows {
    pub fn of(body: u16, stack: bool, services: usize) -> Rows {
        let total = body + 2; // with header and footer
        let log_min = (total / 3).max(5);
        let services = if stack {
            (services as u16 + 4).min(10).min(body / 4)
        } else {
            0
        };
        let rest = body.saturating_sub(services + log_min);
        // The service/ports/lock panels: 9 rows while processes and events
        // keep 4, else about half of what is left; processes and events
        // get the rest, up to a quarter of the terminal.
        let top = if rest >= 13 { 9 } else { rest.div_ceil(2) };
        let mid = rest.saturating_sub(top).min(total / 4);
        let log = body.saturating_sub(services + top + mid);
        Rows {
            services,
            top,
            mid,
            log,
        }
    }
}

use crate::config::service::display_name;

/// A stable colour per service, for its name in the merged log.
fn service_color(i: usize) -> Color {
    const PALETTE: [Color; 6] = [
        Color::Cyan,
        Color::Magenta,
        Color::LightGreen,
        Color::LightBlue,
        Color::Yellow,
        Color::LightRed,
    ];
    PALETTE[i % PALETTE.len()]
}

/// The phase as a badge; a running service whose liveness checks failed
/// `failures` times in a row is shown "unhealthy".
fn phase_span(s: &crate::view::ServiceView, upper: bool) -> Span<'static> {
    let (word, style) = if s.phase == Phase::Running && s.unhealthy.is_some() {
        ("unhealthy", Style::new().fg(Color::White).bg(BAD).bold())
    } else if s.done() {
        ("completed", Style::new().fg(Color::Black).bg(OK))
    } else {
        (s.phase.name(), phase_style(s.phase))
    };
    let word = if upper {
        word.to_uppercase()
    } else {
        word.to_string()
    };
    Span::styled(format!(" {word} "), style)
}

fn phase_style(phase: Phase) -> Style {
    match phase {
        Phase::Running => Style::new().fg(Color::Black).bg(OK).bold(),
        Phase::Starting | Phase::Stopping => Style::new().fg(Color::Black).bg(WARN).bold(),
        Phase::Backoff | Phase::Failed => Style::new().fg(Color::White).bg(BAD).bold(),
        Phase::Stopped => Style::new().fg(Color::Black).bg(Color::Gray).bold(),
    }
}

fn human_secs(s: u64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
