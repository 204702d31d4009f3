//! Drawing: one function per panel; the layout is in `draw`.

use std::collections::HashMap;
use std::time::Instant;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::keys::{hints, KEYMAP};
use super::{App, Dialog, Focus, MIN_HEIGHT, MIN_WIDTH};
use crate::inspect::{IdentityState, PidFileState};
use crate::output::short;
use crate::process::scan::ProcEntry;
use crate::supervisor::Phase;

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
    draw_header(app, f, header, now);
    if app.zoom {
        // The focused panel alone, on the whole screen.
        match app.focus {
            Focus::Services if app.is_stack() => draw_services(app, f, body, now),
            Focus::Processes if app.show_temporal => draw_temporal(app, f, body),
            Focus::Processes => draw_processes(app, f, body),
            Focus::Events => draw_events(app, f, body),
            _ => draw_log(app, f, body),
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
            draw_services(app, f, services, now);
        }
        let [service, right] =
            Layout::horizontal([Constraint::Percentage(52), Constraint::Percentage(48)]).areas(top);
        let [ports, lock] =
            Layout::vertical([Constraint::Length(5), Constraint::Min(4)]).areas(right);
        let [procs, events] =
            Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(mid);
        draw_service(app, f, service, now);
        draw_ports(app, f, ports);
        draw_lock(app, f, lock);
        if app.show_temporal {
            draw_temporal(app, f, procs);
        } else {
            draw_processes(app, f, procs);
        }
        draw_events(app, f, events);
        draw_log(app, f, bottom);
    }
    draw_footer(app, f, footer);
    match &app.dialog {
        Some(Dialog::Help) => draw_help(f, area),
        Some(Dialog::ConfirmKill) => draw_confirm(
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
            draw_confirm(f, area, " Clean ", text)
        }
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

/// "Temporal" for the built-in, the service's own name otherwise.
fn display_name(name: &str) -> &str {
    if name == crate::service::TEMPORAL {
        "Temporal"
    } else {
        name
    }
}

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

/// One row per service: state, PID, uptime, restarts, readiness, CPU and
/// memory of its processes, and why it waits when it does.
/// Cells of a sparkline in the services panel (10 min: 2 s × 300 samples,
/// 75 s a cell).
const SPARK: usize = 8;

fn spark(values: Option<Vec<f64>>, floor: f64) -> Span<'static> {
    let v = values.unwrap_or_default();
    Span::styled(
        super::usage::sparkline(&v, SPARK, floor),
        Style::new().fg(Color::Cyan),
    )
}

fn draw_services(app: &App, f: &mut Frame, area: Rect, now: Instant) {
    let header = Row::new([
        "", "service", "state", "PID", "up", "restarts", "ready", "CPU", "CPU 10m", "mem",
        "mem 10m", "note",
    ])
    .style(Style::new().fg(DIM));
    let mut rows: Vec<Row> = app
        .stack
        .services
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let s = &v.snap;
            let st = s.status.as_deref();
            let up = st
                .and_then(|st| st.uptime_secs)
                .map(|u| {
                    let since = s
                        .status_at
                        .map(|t| now.saturating_duration_since(t).as_secs())
                        .unwrap_or(0);
                    human_secs(u + since)
                })
                .unwrap_or_else(|| "-".into());
            let ready = match st {
                Some(st) if st.ready() => Span::styled("yes", Style::new().fg(OK)),
                Some(st) if st.pid.is_some() => Span::styled("no", Style::new().fg(WARN)),
                _ => Span::styled("-", Style::new().fg(DIM)),
            };
            let (cpu, mem) = s.usage_total();
            let note = v
                .note
                .clone()
                .or_else(|| {
                    (s.phase == Phase::Failed).then(|| s.message.clone().unwrap_or_default())
                })
                .or_else(|| s.unhealthy.clone())
                .unwrap_or_default();
            let mark = if i == app.selected { "▶" } else { " " };
            Row::new(vec![
                Span::raw(mark),
                Span::styled(v.name.clone(), Style::new().fg(service_color(i)).bold()),
                phase_span(s, false),
                Span::raw(s.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into())),
                Span::raw(up),
                Span::raw(s.restarts.to_string()),
                ready,
                Span::raw(if s.pid.is_some() {
                    format!("{cpu:.1}%")
                } else {
                    "-".into()
                }),
                spark(app.usage.get(i).map(|h| h.cpu()), 100.0),
                Span::raw(if s.pid.is_some() {
                    format!("{:.0}M", mem as f64 / 1048576.0)
                } else {
                    "-".into()
                }),
                spark(app.usage.get(i).map(|h| h.rss()), 1048576.0),
                Span::styled(note, Style::new().fg(WARN)),
            ])
            .style(if i == app.selected {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            })
        })
        .collect();
    // The stack's totals.
    let hs: Vec<&super::usage::History> = app.usage.iter().collect();
    let (cpu, mem) = app
        .stack
        .services
        .iter()
        .map(|v| v.snap.usage_total())
        .fold((0.0, 0), |(c, m), (c2, m2)| (c + c2, m + m2));
    rows.push(
        Row::new(vec![
            Span::raw(""),
            Span::styled("total", Style::new().fg(DIM).bold()),
            Span::raw(""),
            Span::raw(""),
            Span::raw(""),
            Span::raw(""),
            Span::raw(""),
            Span::raw(format!("{cpu:.1}%")),
            spark(
                Some(super::usage::total(&hs, super::usage::History::cpu)),
                100.0,
            ),
            Span::raw(format!("{:.0}M", mem as f64 / 1048576.0)),
            spark(
                Some(super::usage::total(&hs, super::usage::History::rss)),
                1048576.0,
            ),
            Span::raw(""),
        ])
        .style(Style::new().fg(DIM)),
    );
    let table = Table::new(
        rows,
        [
            Constraint::Length(1),
            Constraint::Length(14),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(SPARK as u16),
            Constraint::Length(6),
            Constraint::Length(SPARK as u16),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .block(block(
        "Services · [ ] select · S start all · T stop all · a all logs".into(),
        app.focus == Focus::Services,
    ));
    f.render_widget(table, area);
}

/// The phase as a badge; a running service whose liveness checks failed
/// `failures` times in a row is shown "unhealthy".
fn phase_span(s: &crate::ui::Snapshot, upper: bool) -> Span<'static> {
    let (word, style) = if s.phase == Phase::Running && s.unhealthy.is_some() {
        ("unhealthy", Style::new().fg(Color::White).bg(BAD).bold())
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

fn draw_header(app: &App, f: &mut Frame, area: Rect, now: Instant) {
    let s = &app.snap;
    let st = app.status();
    let state_word = st.map(|st| st.state.name()).unwrap_or("…");
    let mut spans = vec![
        Span::styled(
            " stigmer ",
            Style::new().fg(Color::Black).bg(Color::Cyan).bold(),
        ),
        Span::raw(format!(" {} ", display_name(&app.info.name))),
        phase_span(s, true),
        Span::raw(format!(" service: {state_word}")),
    ];
    if let Some(pid) = st.and_then(|st| st.pid) {
        spans.push(Span::raw(format!("  PID {pid}")));
    }
    if let Some(up) = st.and_then(|st| st.uptime_secs) {
        let since = s
            .status_at
            .map(|t| now.saturating_duration_since(t).as_secs())
            .unwrap_or(0);
        let up = up + since;
        spans.push(Span::raw(format!("  up {}", human_secs(up))));
    }
    spans.push(Span::raw(format!("  restarts {}", s.restarts)));
    if let Some(pid) = app.attached_to {
        spans.push(Span::styled(
            format!("  attached to supervisor PID {pid}"),
            Style::new().fg(DIM),
        ));
    } else if !s.supervising {
        spans.push(Span::styled(
            "  watching only (another supervisor)",
            Style::new().fg(WARN),
        ));
    }
    spans.push(Span::styled(
        format!("  {}", app.info.home.display()),
        Style::new().fg(DIM),
    ));
    f.render_widget(Line::from(spans), area);
}

fn draw_service(app: &App, f: &mut Frame, area: Rect, now: Instant) {
    let s = &app.snap;
    let mut lines: Vec<Line> = Vec::new();
    let st = app.status();
    let pid = st.and_then(|st| st.pid);
    lines.push(Line::from(vec![
        Span::raw(format!(
            "PID {}  PGID {}  ",
            pid.map(|p| p.to_string()).unwrap_or("-".into()),
            st.and_then(|st| st.pgid)
                .map(|p| p.to_string())
                .unwrap_or("-".into())
        )),
        Span::raw(match s.last_exit {
            Some(e) => format!("last: {e}"),
            None => "last exit: -".into(),
        }),
    ]));
    // What is going on right now, most urgent first.
    let status_line = if app.info.program.is_err() && app.info.name == crate::service::TEMPORAL {
        Line::styled(
            "Temporal CLI not found: see the log panel for how to install it",
            Style::new().fg(BAD),
        )
    } else if app.info.program.is_err() {
        Line::styled("program not found: see the log panel", Style::new().fg(BAD))
    } else if let Some(note) = app.note() {
        Line::styled(note.to_string(), Style::new().fg(WARN))
    } else if s.phase == Phase::Stopping {
        let left: Vec<String> = s.stopping_alive.iter().map(|p| p.pid.to_string()).collect();
        Line::styled(
            format!(
                "stopping… {} process(es) alive {}",
                left.len(),
                left.join(" ")
            ),
            Style::new().fg(WARN),
        )
    } else if let Some(until) = s.backoff_until.filter(|_| s.phase == Phase::Backoff) {
        let left = until.saturating_duration_since(now);
        Line::styled(
            format!(
                "backoff: restart in {:.1}s ({} failures in window)",
                left.as_secs_f64(),
                s.failures_in_window
            ),
            Style::new().fg(WARN),
        )
    } else if let Some(m) = &s.message {
        let color = if s.phase == Phase::Failed {
            BAD
        } else {
            Color::Gray
        };
        Line::styled(m.clone(), Style::new().fg(color))
    } else if let Some(a) = st.and_then(|st| st.advice.clone()) {
        Line::styled(a, Style::new().fg(WARN))
    } else if app.info.name == crate::service::TEMPORAL {
        Line::raw(format!(
            "gRPC :{}  UI http://127.0.0.1:{}",
            app.info.grpc, app.info.ui
        ))
    } else {
        let ports: Vec<String> = app.info.ports.iter().map(|p| format!(":{p}")).collect();
        Line::raw(if ports.is_empty() {
            "no ports declared".to_string()
        } else {
            format!("ports {}", ports.join(" "))
        })
    };
    lines.push(status_line);
    if let Some(st) = st {
        for h in &st.health {
            let (mark, color) = if h.ok { ("✔", OK) } else { ("✘", BAD) };
            lines.push(Line::from(vec![
                Span::styled(format!("{mark} "), Style::new().fg(color)),
                Span::raw(format!("{:<9}", h.layer)),
                Span::styled(format!("{:>8.2}ms ", h.latency_ms), Style::new().fg(DIM)),
                Span::raw(h.detail.clone()),
            ]));
        }
    } else {
        lines.push(Line::raw("inspecting…"));
    }
    let title = format!("Service · {}", display_name(&app.info.name));
    // One line per item, truncated: wrapping would push health layers out.
    f.render_widget(Paragraph::new(lines).block(block(title, false)), area);
}

fn draw_ports(app: &App, f: &mut Frame, area: Rect) {
    let rows: Vec<Row> = app
        .status()
        .map(|st| {
            st.ports
                .iter()
                .map(|p| {
                    let (state, color) = if p.open {
                        ("open", OK)
                    } else {
                        ("closed", DIM)
                    };
                    let owner = match (p.owner_pid, &p.owner_cmd) {
                        (Some(pid), Some(cmd)) => format!("{pid} {}", short(cmd, 60)),
                        (Some(pid), None) => pid.to_string(),
                        _ if p.open => "owner not visible".into(),
                        _ => String::new(),
                    };
                    let warn = if p.ours == Some(false) {
                        "⚠ NOT OURS "
                    } else {
                        ""
                    };
                    Row::new(vec![
                        Span::raw(p.role.name()),
                        Span::raw(p.port.to_string()),
                        Span::styled(state, Style::new().fg(color)),
                        Span::raw(
                            p.latency_ms
                                .map(|l| format!("{l:.2}ms"))
                                .unwrap_or_default(),
                        ),
                        Span::styled(
                            format!("{warn}{owner}"),
                            Style::new().fg(if warn.is_empty() { Color::Reset } else { BAD }),
                        ),
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Fill(1),
        ],
    )
    .block(block("Ports".into(), false));
    f.render_widget(table, area);
}

fn draw_lock(app: &App, f: &mut Frame, area: Rect) {
    let mut lines = vec![];
    if let Some(st) = app.status() {
        let held = if st.lock.held {
            let who: Vec<String> = st
                .lock
                .holders
                .iter()
                .map(|h| {
                    format!(
                        "{} {} ({})",
                        h.pid,
                        short(&h.cmd, 30),
                        h.age_secs.map(human_secs).unwrap_or("?".into())
                    )
                })
                .collect();
            Line::from(vec![
                Span::styled("held ", Style::new().fg(OK)),
                Span::raw(if who.is_empty() {
                    "(holder not visible)".into()
                } else {
                    format!("by {}", who.join(", "))
                }),
            ])
        } else {
            Line::styled("free", Style::new().fg(DIM))
        };
        lines.push(held);
        let pf = &st.pid_file;
        let id = pf
            .identity
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let color = match (pf.state, &pf.identity) {
            (PidFileState::Valid, Some(IdentityState::Match)) => OK,
            (PidFileState::Missing, _) => DIM,
            _ => WARN,
        };
        let rec = pf
            .record
            .as_ref()
            .map(|r| format!(" pid {} ticks {}", r.pid, r.start_ticks))
            .unwrap_or_default();
        lines.push(Line::styled(
            format!(
                "pid file {}{rec} {}{}",
                pf.state,
                id,
                pf.detail
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
            Style::new().fg(color),
        ));
    }
    let title = format!(
        "Lock · {}",
        app.info
            .lock_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(block(title, false)),
        area,
    );
}

/// Group members as a tree by parent, then escaped and orphaned processes.
pub fn process_rows(app: &App) -> Vec<(ProcEntry, String, &'static str)> {
    let Some(st) = app.status() else {
        return vec![];
    };
    let mut out = Vec::new();
    let members = &st.members;
    let pids: Vec<i32> = members.iter().map(|p| p.pid).collect();
    let mut children: HashMap<i32, Vec<&ProcEntry>> = HashMap::new();
    for p in members {
        children.entry(p.ppid).or_default().push(p);
    }
    fn walk<'a>(
        p: &'a ProcEntry,
        depth: usize,
        children: &HashMap<i32, Vec<&'a ProcEntry>>,
        out: &mut Vec<(ProcEntry, String, &'static str)>,
    ) {
        let prefix = if depth == 0 {
            String::new()
        } else {
            format!("{}└ ", "  ".repeat(depth - 1))
        };
        let reason = if matches!(p.state, 'Z' | 'X') {
            "zombie"
        } else {
            ""
        };
        out.push((p.clone(), prefix, reason));
        if depth < 16 {
            for c in children.get(&p.pid).into_iter().flatten() {
                walk(c, depth + 1, children, out);
            }
        }
    }
    for root in members.iter().filter(|p| !pids.contains(&p.ppid)) {
        walk(root, 0, &children, &mut out);
    }
    for p in &st.escaped {
        out.push((p.clone(), String::new(), "escaped"));
    }
    for p in &st.orphans {
        out.push((p.clone(), String::new(), "orphan"));
    }
    out
}

fn draw_processes(app: &App, f: &mut Frame, area: Rect) {
    let rows_data = process_rows(app);
    let n = rows_data.len();
    // PPID is what the tree shows already; drop it when space is short.
    let wide = area.width >= 60;
    let rows: Vec<Row> = rows_data
        .into_iter()
        .skip(app.proc_offset.min(n.saturating_sub(1)))
        .map(|(p, prefix, reason)| {
            let (cpu, mem) = app
                .snap
                .usage
                .get(&p.pid)
                .copied()
                .unwrap_or((0.0, p.rss_bytes));
            let mark = match reason {
                "escaped" => Span::styled("ESC ", Style::new().fg(BAD).bold()),
                "orphan" => Span::styled("ORPH", Style::new().fg(BAD).bold()),
                "zombie" => Span::styled("ZOMB", Style::new().fg(WARN).bold()),
                _ => Span::raw(""),
            };
            let mut cells = vec![Span::raw(format!("{prefix}{}", p.pid))];
            if wide {
                cells.push(Span::raw(p.ppid.to_string()));
            }
            cells.extend([
                Span::raw(p.pgid.to_string()),
                Span::raw(p.state.to_string()),
                mark,
                Span::raw(format!("{cpu:.1}")),
                Span::raw(format!("{:.0}M", mem as f64 / 1_048_576.0)),
            ]);
            // The task queues this process polls, from Temporal's pollers.
            let polls = polled_by(app, p.pid);
            if polls.is_empty() {
                cells.push(Span::raw(p.cmd.clone()));
            } else {
                cells.push(Span::styled(
                    format!("⇄ {} · {}", polls.join(", "), p.cmd),
                    Style::new().fg(Color::Cyan),
                ));
            }
            Row::new(cells)
        })
        .collect();
    let mut names = vec!["PID"];
    let mut widths = vec![Constraint::Length(8)];
    if wide {
        names.push("PPID");
        widths.push(Constraint::Length(7));
    }
    names.extend(["PGID", "S", "", "CPU%", "MEM", "COMMAND"]);
    widths.extend([
        Constraint::Length(7),
        Constraint::Length(1),
        Constraint::Length(4),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Fill(1),
    ]);
    let header = Row::new(names).style(Style::new().fg(DIM));
    let empty = n == 0;
    let table = Table::new(rows, widths).header(header).block(block(
        format!("Processes{}", if empty { " · none" } else { "" }),
        app.focus == Focus::Processes,
    ));
    f.render_widget(table, area);
}

/// Inside Temporal: version, UI, data, warnings first, then namespaces
/// with their workflows by status, then each task queue with its pollers,
/// tied to local PIDs and services.
fn draw_temporal(app: &App, f: &mut Frame, area: Rect) {
    let Some(t) = &app.temporal else {
        f.render_widget(
            Paragraph::new("asking Temporal…").block(block(
                "Temporal · w processes".into(),
                app.focus == Focus::Processes,
            )),
            area,
        );
        return;
    };
    let mut lines: Vec<Line> = Vec::new();
    let data = match &t.persistence {
        Some(p) => format!(
            "data {} ({})",
            std::path::Path::new(&p.path)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            p.bytes
                .map(|b| format!("{:.1} MB", b as f64 / 1048576.0))
                .unwrap_or_else(|| "not yet".into())
        ),
        None => "data in memory".into(),
    };
    lines.push(Line::from(vec![
        Span::styled(
            format!("server {} ", t.version.as_deref().unwrap_or("?")),
            Style::new().bold(),
        ),
        Span::raw(format!(
            " UI {} (o)  {data}",
            t.ui_url.as_deref().unwrap_or("-")
        )),
    ]));
    if let Some(e) = &t.error {
        lines.push(Line::styled(format!("⚠ {e}"), Style::new().fg(WARN)));
    }
    for w in &t.warnings {
        lines.push(Line::styled(format!("⚠ {w}"), Style::new().fg(BAD)));
    }
    for n in &t.namespaces {
        let counts: Vec<String> = n
            .workflows
            .iter()
            .filter(|(k, v)| **v > 0 || k.as_str() == "running")
            .map(|(k, v)| format!("{} {v}", k.replace('_', " ")))
            .collect();
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", n.name), Style::new().fg(Color::Cyan)),
            Span::raw(counts.join(" · ")),
        ]));
    }
    for q in &t.task_queues {
        let mut spans = vec![Span::styled(
            format!("  {:<16} ", q.name),
            Style::new().bold(),
        )];
        if q.running > 0 {
            spans.push(Span::raw(format!(
                "{} running{}  ",
                q.running,
                q.oldest_running_secs
                    .map(|s| format!(" (oldest {s} s)"))
                    .unwrap_or_default()
            )));
        }
        if q.pollers.is_empty() {
            spans.push(Span::styled("no pollers", Style::new().fg(BAD)));
        }
        lines.push(Line::from(spans));
        for p in &q.pollers {
            let (who, color) = match (&p.service, p.pid) {
                (Some(s), Some(pid)) => {
                    let k = app.services.iter().position(|c| &c.name == s).unwrap_or(0);
                    (format!("{s} PID {pid}"), service_color(k))
                }
                (None, Some(pid)) => (format!("PID {pid} (not stigmer's)"), WARN),
                _ if p.exited => (
                    format!(
                        "{} exited{}",
                        p.identity,
                        seen_ago(p.last_access.as_deref())
                            .map(|s| format!(", last seen {s} ago"))
                            .unwrap_or_default()
                    ),
                    DIM,
                ),
                _ => (format!("{} (not a local process)", p.identity), DIM),
            };
            lines.push(Line::from(vec![
                Span::styled(format!("      {:<9}", p.kind), Style::new().fg(DIM)),
                Span::styled(who, Style::new().fg(color)),
            ]));
        }
    }
    // Scrolls like the log: ↑↓ PgUp PgDn while focused (Tab), z to zoom.
    let inner = area.height.saturating_sub(2) as usize;
    let offset = app.temporal_offset.min(lines.len().saturating_sub(inner));
    let title = if lines.len() > inner {
        format!(
            "Temporal · lines {}–{} of {} (↑↓) · w processes",
            offset + 1,
            (offset + inner).min(lines.len()),
            lines.len()
        )
    } else {
        "Temporal · w processes".into()
    };
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((offset as u16, 0))
            .block(block(title, app.focus == Focus::Processes)),
        area,
    );
}

/// `12 s`, `3 min` since an RFC 3339 time.
fn seen_ago(at: Option<&str>) -> Option<String> {
    let t = at?.parse::<jiff::Timestamp>().ok()?;
    let secs = (jiff::Timestamp::now().as_second() - t.as_second()).max(0);
    Some(if secs < 120 {
        format!("{secs} s")
    } else {
        format!("{} min", secs / 60)
    })
}

/// The task queues process `pid` polls (Temporal's view, tied to PIDs).
fn polled_by(app: &App, pid: i32) -> Vec<String> {
    let mut qs: Vec<String> = app
        .temporal
        .iter()
        .flat_map(|t| &t.task_queues)
        .filter(|q| q.pollers.iter().any(|p| p.pid == Some(pid)))
        .map(|q| q.name.clone())
        .collect();
    qs.dedup();
    qs
}

fn draw_events(app: &App, f: &mut Frame, area: Rect) {
    let w = tui_logger::TuiLoggerWidget::default()
        .block(block("Events".into(), app.focus == Focus::Events))
        .formatter(Box::new(super::events::EventLines {
            error: Style::new().fg(BAD),
            warn: Style::new().fg(WARN),
        }))
        .state(&app.events);
    f.render_widget(w, area);
}

fn draw_log(app: &App, f: &mut Frame, area: Rect) {
    let v = &app.log;
    let merged = app.merged_shown();
    if let (Err(why), false) = (&app.info.program, merged) {
        let text = vec![Line::styled(why.clone(), Style::new().fg(BAD).bold())];
        let title = format!("Log · {}", app.info.log_path.display());
        f.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .block(block(title, app.focus == Focus::Log)),
            area,
        );
        return;
    }
    // While a search is typed, its prompt takes the bottom row.
    let prompt = v.input.is_some() as usize;
    let inner_h = (area.height.saturating_sub(2) as usize).saturating_sub(prompt);
    let end = v.len().saturating_sub(v.offset);
    let start = v.first_shown(inner_h);
    app.log_area.set(area);
    let selection = v.selection();
    let lines: Vec<Line> = (start..end)
        .filter_map(|k| {
            let seq = v.seq(k)?;
            let l = v.line(seq)?;
            let selected = selection.is_some_and(|(a, b)| (a..=b).contains(&k));
            Some(log_line(app, l, v.is_current(seq), selected))
        })
        .collect();
    let mode = if v.follow {
        "following".to_string()
    } else {
        format!("paused, {} newer", v.offset)
    };
    let mut extra = String::new();
    if let (None, Some(s)) = (&v.input, &v.search) {
        extra += &format!(" · /{}/ {} matches", s.pattern, v.match_count);
    }
    if v.only_matching && v.search.is_some() {
        extra += " · only matching";
    }
    if let Some(l) = v.min_level {
        extra += &format!(" · {}+", l.name());
    }
    let filtered = v.min_level.is_some() || (v.only_matching && v.search.is_some());
    if filtered {
        extra += &format!(" · {} of {}", v.len(), v.total());
    }
    let mut lines = lines;
    if filtered && v.is_empty() && v.total() > 0 {
        lines = vec![Line::styled(
            format!(
                "no line passes the filter: 0 of {}{} ({} shows more, Esc clears the search)",
                v.total(),
                v.min_level
                    .map(|l| format!(" at {}+", l.name()))
                    .unwrap_or_default(),
                "l"
            ),
            Style::new().fg(DIM),
        )];
    }
    if let Some((a, b)) = selection {
        extra += &format!(" · selecting {} (y copies)", b - a + 1);
    }
    if app.pretty_json {
        extra += " · JSON pretty";
    }
    let title = if merged {
        format!("Log · all services · {mode}{extra}")
    } else {
        let file = app
            .info
            .log_path
            .strip_prefix(&app.info.home)
            .unwrap_or(&app.info.log_path);
        format!("Log · {} · {mode}{extra}", file.display())
    };
    f.render_widget(
        Paragraph::new(lines).block(block(title, app.focus == Focus::Log)),
        area,
    );
    if let Some(input) = &v.input {
        let row = Rect::new(
            area.x + 1,
            (area.y + area.height).saturating_sub(2),
            area.width.saturating_sub(2),
            1,
        );
        let tail = match &v.input_error {
            Some(why) => Span::styled(format!("  {why}"), Style::new().fg(BAD)),
            None if input.is_empty() => Span::styled(
                "  type a pattern (regex; case-insensitive unless it has capitals) · Enter keeps it · Esc clears",
                Style::new().fg(DIM),
            ),
            None => Span::styled(
                format!("  {} matches · Enter keeps it · Esc clears", v.match_count),
                Style::new().fg(DIM),
            ),
        };
        f.render_widget(Clear, row);
        f.render_widget(
            Line::from(vec![
                Span::styled(format!("/{input}▏"), Style::new().fg(Color::Cyan).bold()),
                tail,
            ]),
            row,
        );
    }
}

/// One log line: its service's name in its colour (merged view), its
/// text coloured by its level, its own ANSI colours rendered, JSON pretty
/// when asked; the current match and the selection stand out.
fn log_line(app: &App, l: &super::log::LogLine, current: bool, selected: bool) -> Line<'static> {
    use crate::loglevel::Level;
    let mut spans: Vec<Span<'static>> = Vec::new();
    if app.merged_shown() {
        // The service's name in its colour.
        let k = l.service as usize;
        let name = app.services.get(k).map(|c| c.name.as_str()).unwrap_or("?");
        spans.push(Span::styled(
            format!("{name:>w$} │ ", w = name_width(app)),
            Style::new().fg(service_color(k)),
        ));
    }
    let (text, ansi) = (&*l.text, l.ansi.as_deref());
    let level_style = match l.level {
        Some(Level::Error) => Style::new().fg(BAD),
        Some(Level::Warn) => Style::new().fg(WARN),
        Some(Level::Debug | Level::Trace) => Style::new().fg(DIM),
        _ => Style::new(),
    };
    let pretty = app.pretty_json.then(|| pretty_json(text)).flatten();
    match (pretty, ansi) {
        (Some(p), _) => spans.extend(p),
        (None, Some(a)) => {
            use ansi_to_tui::IntoText;
            match a.as_bytes().into_text() {
                Ok(t) => spans.extend(t.lines.into_iter().flat_map(|l| l.spans)),
                Err(_) => spans.push(Span::raw(text.to_string())),
            }
        }
        (None, None) => spans.push(Span::raw(text.to_string())),
    }
    let matched = !current && app.log.search.as_ref().is_some_and(|s| s.is_match(&l.text));
    let mut style = level_style;
    if matched {
        style = style.add_modifier(Modifier::BOLD).fg(WARN);
    }
    if current {
        style = Style::new().bg(WARN).fg(Color::Black);
    }
    if selected {
        style = style.add_modifier(Modifier::REVERSED);
    }
    Line::from(spans).style(style)
}

/// A JSON object line as "message  key=value …": the message first (bold),
/// keys dim; `None` when the line is not a JSON object.
fn pretty_json(text: &str) -> Option<Vec<Span<'static>>> {
    let t = text.trim();
    if !t.starts_with('{') {
        return None;
    }
    let serde_json::Value::Object(map) = serde_json::from_str(t).ok()? else {
        return None;
    };
    let msg_key = ["msg", "message", "event", "text"]
        .into_iter()
        .find(|k| map.contains_key(*k));
    let plain = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut spans = vec![];
    if let Some(v) = msg_key.and_then(|k| map.get(k)) {
        spans.push(Span::styled(plain(v), Style::new().bold()));
    }
    for (k, v) in map.iter().filter(|(k, _)| Some(k.as_str()) != msg_key) {
        spans.push(Span::styled(format!("  {k}="), Style::new().fg(DIM)));
        spans.push(Span::styled(plain(v), Style::new().fg(Color::Cyan)));
    }
    Some(spans)
}

fn name_width(app: &App) -> usize {
    app.services.iter().map(|c| c.name.len()).max().unwrap_or(0)
}

fn draw_footer(app: &App, f: &mut Frame, area: Rect) {
    let line = match &app.notice {
        Some(n) => Line::styled(n.clone(), Style::new().fg(WARN)),
        None if app.quit == Some(super::Quit::Stop) => Line::styled(
            if app.is_stack() {
                "stopping every service (dependents first), then quitting…"
            } else {
                "stopping Temporal, then quitting…"
            },
            Style::new().fg(WARN),
        ),
        None => Line::styled(hints(), Style::new().fg(DIM)),
    };
    f.render_widget(line, area);
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

fn draw_help(f: &mut Frame, area: Rect) {
    // Two columns, so the whole table fits an 80×24 terminal.
    let entry = |b: &super::keys::Binding| {
        vec![
            Span::styled(
                format!("{:>7} ", b.label),
                Style::new().bold().fg(Color::Cyan),
            ),
            Span::raw(format!("{:<38}", b.help)),
        ]
    };
    let half = KEYMAP.len().div_ceil(2);
    let mut lines: Vec<Line> = (0..half)
        .map(|i| {
            let mut spans = entry(&KEYMAP[i]);
            if let Some(b) = KEYMAP.get(i + half) {
                spans.extend(entry(b));
            }
            Line::from(spans)
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "  mouse wheel scrolls the log · Esc closes this, ends a selection, clears a search",
        Style::new().fg(DIM),
    ));
    let r = centered(area, 96, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).block(block("Keys".into(), true)), r);
}

fn draw_confirm(f: &mut Frame, area: Rect, title: &str, text: Vec<String>) {
    let mut lines: Vec<Line> = text.into_iter().map(Line::raw).collect();
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled(" y ", Style::new().bg(BAD).fg(Color::White).bold()),
        Span::raw(" yes    "),
        Span::styled(" n ", Style::new().bg(Color::Gray).fg(Color::Black).bold()),
        Span::raw(" no (Esc)"),
    ]));
    let r = centered(area, 72, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(title.to_string(), true)),
        r,
    );
}
