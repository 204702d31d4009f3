//! The selected service's own panels: its state and health layers, its
//! ports and their owners, its lock file and PID file.

use super::*;

pub(super) fn draw_service(app: &App, f: &mut Frame, area: Rect, now: Instant) {
    let s = &app.entry.view;
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
    lines.push(status_line(app, now));
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

pub(super) fn draw_ports(app: &App, f: &mut Frame, area: Rect) {
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

pub(super) fn draw_lock(app: &App, f: &mut Frame, area: Rect) {
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

/// What is going on right now, most urgent first.
fn status_line(app: &App, now: Instant) -> Line<'static> {
    let s = &app.entry.view;
    let st = app.status();

    if app.info.program.is_err() && app.info.name == crate::config::service::TEMPORAL {
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
    } else if let Some(until) = s
        .backoff_until_ms
        .map(crate::util::clock::instant_of_ms)
        .filter(|_| s.phase == Phase::Backoff)
    {
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
    } else if app.info.name == crate::config::service::TEMPORAL {
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
    }
}
