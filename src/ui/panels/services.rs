//! The services panel of a stack: state, PID, uptime, restarts, readiness,
//! CPU and memory with ten minutes of sparklines, and the stack's totals.

use super::*;

/// One row per service: state, PID, uptime, restarts, readiness, CPU and
/// memory of its processes, and why it waits when it does.
/// Cells of a sparkline in the services panel (10 min: 2 s × 300 samples,
/// 75 s a cell).
pub(super) const SPARK: usize = 8;

pub(super) fn spark(values: Option<Vec<f64>>, floor: f64) -> Span<'static> {
    let v = values.unwrap_or_default();
    Span::styled(
        crate::ui::usage::sparkline(&v, SPARK, floor),
        Style::new().fg(Color::Cyan),
    )
}

pub(super) fn draw_services(app: &App, f: &mut Frame, area: Rect, now: Instant) {
    let header = Row::new([
        "", "service", "state", "PID", "up", "restarts", "ready", "CPU", "CPU 10m", "mem",
        "mem 10m", "note",
    ])
    .style(Style::new().fg(DIM));
    let mut rows: Vec<Row> = app
        .stack
        .iter()
        .enumerate()
        .map(|(i, v)| service_row(app, i, v, now))
        .collect();
    rows.push(total_row(app));
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

/// The stack's totals: CPU and memory now, and their last ten minutes.
fn total_row(app: &App) -> Row<'static> {
    let hs: Vec<&crate::ui::usage::History> = app.usage.iter().collect();
    let (cpu, mem) = app
        .stack
        .iter()
        .map(|v| v.seen.usage_total())
        .fold((0.0, 0), |(c, m), (c2, m2)| (c + c2, m + m2));
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
            Some(crate::ui::usage::total(&hs, crate::ui::usage::History::cpu)),
            100.0,
        ),
        Span::raw(format!("{:.0}M", mem as f64 / 1048576.0)),
        spark(
            Some(crate::ui::usage::total(&hs, crate::ui::usage::History::rss)),
            1048576.0,
        ),
        Span::raw(""),
    ])
    .style(Style::new().fg(DIM))
}

/// One service's line: its state, PID, uptime, restarts, readiness, CPU
/// and memory (now and ten minutes), and why it is not moving.
fn service_row(app: &App, i: usize, v: &crate::ui::Entry, now: Instant) -> Row<'static> {
    let s = &v.view;
    let st = v.seen.status.as_deref();
    let up = st
        .and_then(|st| st.uptime_secs)
        .map(|u| {
            let since = v
                .seen
                .at
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
    let (cpu, mem) = v.seen.usage_total();
    let note = s
        .note
        .clone()
        .or_else(|| (s.phase == Phase::Failed).then(|| s.message.clone().unwrap_or_default()))
        .or_else(|| s.unhealthy.clone())
        .or_else(|| s.done().then(|| s.completed.map(|r| r.words())).flatten())
        .or_else(|| {
            let (group, i) = app.services.get(i)?.replica.as_ref()?;
            Some(format!("replica {i} of {group}"))
        })
        .or_else(|| match s.watching {
            Some(true) => Some("watching its files".into()),
            Some(false) => Some("restart on change off (W)".into()),
            None => None,
        })
        .unwrap_or_default();
    let mark = if i == app.selected { "▶" } else { " " };
    Row::new(vec![
        Span::raw(mark),
        Span::styled(s.name.clone(), Style::new().fg(service_color(i)).bold()),
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
}
