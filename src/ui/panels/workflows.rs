//! The workflows screen (`e`): the filtered list over the body, and the
//! selected workflow looked at closely below it.

use super::temporal::seen_ago;
use super::*;
use crate::temporal::{Detail, TemporalInfo, Workflow};
use crate::ui::workflows::{is_stuck, Screen};

const KEYS: &str =
    "↑↓ select · Enter look · f status · u queue · c cancel · x terminate · R reset · Esc back · e close";

pub(super) fn draw_workflows(app: &App, s: &Screen, f: &mut Frame, area: Rect, keys: Rect) {
    let empty = TemporalInfo::default();
    let t = app.temporal.as_ref().unwrap_or(&empty);
    let shown = s.shown(t);
    let [list, detail] = if s.open.is_some() {
        Layout::vertical([Constraint::Percentage(40), Constraint::Min(4)]).areas(area)
    } else {
        Layout::vertical([Constraint::Min(3), Constraint::Length(0)]).areas(area)
    };
    // The list, scrolled so the selected row shows.
    let inner = list.height.saturating_sub(2) as usize;
    let selected = s.selected.min(shown.len().saturating_sub(1));
    let first = (selected + 1).saturating_sub(inner.max(1));
    let mut lines: Vec<Line> = shown
        .iter()
        .enumerate()
        .skip(first)
        .take(inner)
        .map(|(i, w)| row(t, w, i == selected))
        .collect();
    if shown.is_empty() {
        lines.push(Line::styled(
            match (&t.error, t.workflows.is_empty()) {
                (Some(e), _) => format!("⚠ {e}"),
                (None, true) if app.temporal.is_none() => "asking Temporal…".into(),
                (None, true) => "no workflows yet".into(),
                (None, false) => "none with this filter (f: status, u: queue)".into(),
            },
            Style::new().fg(DIM),
        ));
    }
    let title = format!(
        "Workflows · {} · {} of {}",
        s.filter_name(),
        shown.len(),
        t.workflows.len()
    );
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(block(title, s.open.is_none())),
        list,
    );
    if let Some(target) = &s.open {
        let lines = match &app.detail {
            Some(d) if d.workflow_id == target.workflow_id && d.namespace == target.namespace => {
                detail_lines(d)
            }
            _ => vec![Line::styled("asking Temporal…", Style::new().fg(DIM))],
        };
        let inner = detail.height.saturating_sub(2) as usize;
        let offset = s.offset.min(lines.len().saturating_sub(inner));
        let title = format!(
            "{} · run {}{}",
            target.workflow_id,
            target.short_run(),
            if lines.len() > inner {
                format!(
                    " · lines {}–{} of {} (↑↓)",
                    offset + 1,
                    (offset + inner).min(lines.len()),
                    lines.len()
                )
            } else {
                String::new()
            }
        );
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((offset as u16, 0))
                .block(block(title, true)),
            detail,
        );
    }
    // What was just done (or why not) until the next key; its keys otherwise.
    let bottom = match &app.notice {
        Some(n) => Span::styled(n.clone(), Style::new().fg(WARN).bold()),
        None => Span::styled(KEYS, Style::new().fg(Color::Cyan)),
    };
    f.render_widget(Paragraph::new(bottom), keys);
}

/// One workflow: its status (stuck ones said so), id, type, queue and age.
fn row(t: &TemporalInfo, w: &Workflow, selected: bool) -> Line<'static> {
    let stuck = is_stuck(t, w);
    let (status, color) = match w.status.as_str() {
        _ if stuck => ("stuck".to_string(), BAD),
        "running" => ("running".to_string(), OK),
        "completed" => ("completed".to_string(), DIM),
        s => (s.replace('_', " "), WARN),
    };
    let age = match (&w.close_time, &w.start_time) {
        (Some(c), _) => seen_ago(Some(c)).map(|a| format!("closed {a} ago")),
        (None, Some(s)) => seen_ago(Some(s)).map(|a| format!("started {a} ago")),
        _ => None,
    }
    .unwrap_or_default();
    let mut style = Style::new();
    if selected {
        style = style.add_modifier(Modifier::REVERSED);
    }
    Line::from(vec![
        Span::styled(if selected { "▶ " } else { "  " }, style),
        Span::styled(format!("{status:<12}"), style.fg(color)),
        Span::styled(format!("{:<28} ", short(&w.workflow_id, 28)), style.bold()),
        Span::styled(
            format!(
                "{:<16} {:<16} {age}",
                short(w.workflow_type.as_deref().unwrap_or("?"), 16),
                short(w.task_queue.as_deref().unwrap_or("?"), 16)
            ),
            style,
        ),
    ])
}

/// A worker named by Temporal, tied to a service where it is ours.
fn who(w: &Option<crate::temporal::stuck::Who>) -> String {
    match w {
        Some(crate::temporal::stuck::Who {
            pid: Some(p),
            service: Some(s),
            ..
        }) => format!(" on {s} (PID {p})"),
        Some(crate::temporal::stuck::Who { pid: Some(p), .. }) => {
            format!(" on PID {p} (not stigmer's)")
        }
        Some(w) => format!(" on {}", w.identity),
        None => String::new(),
    }
}

fn detail_lines(d: &Detail) -> Vec<Line<'static>> {
    let head = Style::new().bold();
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{} ", d.workflow_type.as_deref().unwrap_or("?")),
            head,
        ),
        Span::raw(format!(
            "on {} · {} · {} events",
            d.task_queue.as_deref().unwrap_or("?"),
            d.status.replace('_', " "),
            d.history_length.unwrap_or(0)
        )),
    ])];
    if let Some(e) = &d.error {
        lines.push(Line::styled(format!("⚠ {e}"), Style::new().fg(WARN)));
    }
    if let Some(a) = d.task_attempt.filter(|a| *a > 1) {
        lines.push(Line::styled(
            format!("workflow task: attempt {a}, failing"),
            Style::new().fg(BAD),
        ));
    }
    if !d.pending_activities.is_empty() {
        lines.push(Line::styled("pending activities", head));
    }
    for p in &d.pending_activities {
        let max = match p.maximum_attempts {
            0 => "no limit".to_string(),
            m => m.to_string(),
        };
        let next = p
            .next_attempt
            .as_deref()
            .map(|t| format!(", next at {}", t.get(11..19).unwrap_or(t)))
            .unwrap_or_default();
        let color = if p.attempt > 1 { BAD } else { Color::Reset };
        lines.push(Line::styled(
            format!(
                "  {} {} (attempt {} of {max}{next}){}{}",
                p.activity,
                p.state,
                p.attempt,
                who(&p.worker),
                p.last_failure
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            Style::new().fg(color),
        ));
    }
    match &d.last_failure {
        Some(x) => lines.push(Line::styled(
            format!(
                "last failure: {} (event {}{}){}{}: {}",
                x.event,
                x.event_id.unwrap_or(0),
                x.time
                    .as_deref()
                    .map(|t| format!(" at {}", t.get(11..19).unwrap_or(t)))
                    .unwrap_or_default(),
                x.cause
                    .as_deref()
                    .map(|c| format!(" {c}"))
                    .unwrap_or_default(),
                who(&x.worker),
                x.message
            ),
            Style::new().fg(BAD),
        )),
        None => lines.push(Line::styled(
            "no failure in its history",
            Style::new().fg(DIM),
        )),
    }
    lines.push(Line::styled(
        match d.reset_point {
            Some(p) => format!("R resets it to its last workflow task (event {p})"),
            None => "no completed workflow task: R cannot reset it".into(),
        },
        Style::new().fg(DIM),
    ));
    lines.push(Line::styled("stack trace (__stack_trace)", head));
    match &d.stack_trace_error {
        Some(why) => lines.push(Line::styled(format!("  none: {why}"), Style::new().fg(DIM))),
        None => lines.extend(
            d.stack_trace
                .iter()
                .map(|l| Line::styled(format!("  {l}"), Style::new().fg(Color::Cyan))),
        ),
    }
    lines
}
