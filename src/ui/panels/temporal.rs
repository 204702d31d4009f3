//! Inside Temporal (`w`): version, data, namespaces, task queues and
//! their pollers tied to PIDs and services, warnings; it scrolls.

use super::*;

/// Inside Temporal: version, UI, data, warnings first, then namespaces
/// with their workflows by status, then each task queue with its pollers,
/// tied to local PIDs and services.
pub(super) fn draw_temporal(app: &App, f: &mut Frame, area: Rect) {
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
    let mut lines: Vec<Line> = vec![server_line(t)];
    if let Some(e) = &t.error {
        lines.push(Line::styled(format!("⚠ {e}"), Style::new().fg(WARN)));
    }
    for w in &t.warnings {
        lines.push(Line::styled(format!("⚠ {w}"), Style::new().fg(BAD)));
    }
    lines.extend(stuck_lines(t));
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
        lines.extend(queue_lines(app, q));
    }
    if !t.workers.is_empty() {
        lines.push(Line::styled("workers (by heartbeat)", Style::new().bold()));
    }
    for w in &t.workers {
        lines.push(worker_line(app, w));
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

/// Stuck workflows, each with why (and the first lines of a failing
/// task's stack trace).
fn stuck_lines(t: &crate::temporal::TemporalInfo) -> Vec<Line<'static>> {
    use crate::temporal::stuck::Why;
    let mut lines = vec![];
    if !t.stuck.is_empty() {
        lines.push(Line::styled("stuck workflows", Style::new().bold().fg(BAD)));
    }
    for s in &t.stuck {
        lines.push(Line::styled(
            format!("  ✖ {}", s.line()),
            Style::new().fg(BAD),
        ));
        if let Why::WorkflowTaskFailing { stack, .. } = &s.why {
            for l in stack.iter().take(3) {
                lines.push(Line::styled(
                    format!("      {}", l.trim()),
                    Style::new().fg(DIM),
                ));
            }
        }
    }
    if t.stuck_unchecked > 0 {
        lines.push(Line::styled(
            format!(
                "  +{} more running workflows not checked",
                t.stuck_unchecked
            ),
            Style::new().fg(DIM),
        ));
    }
    lines
}

/// The server's version, its web UI and where its data lives.
fn server_line(t: &crate::temporal::TemporalInfo) -> Line<'static> {
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
    Line::from(vec![
        Span::styled(
            format!("server {} ", t.version.as_deref().unwrap_or("?")),
            Style::new().bold(),
        ),
        Span::raw(format!(
            " UI {} (o)  {data}",
            t.ui_url.as_deref().unwrap_or("-")
        )),
    ])
}

/// A task queue: what runs on it, then each poller and whose it is.
fn queue_lines(app: &App, q: &crate::temporal::TaskQueue) -> Vec<Line<'static>> {
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
    let mut lines = vec![Line::from(spans)];
    for p in &q.pollers {
        let (who, color) = match (&p.service, p.pid) {
            (Some(s), Some(pid)) => {
                let k = app.services.iter().position(|c| &c.name == s).unwrap_or(0);
                (format!("{s} PID {pid}"), service_color(k))
            }
            (None, Some(pid)) => (format!("PID {pid} (not stigmer's)"), WARN),
            _ if p.claimed.is_some() => (
                format!(
                    "{} (claims PID {}, which has no connection to this Temporal: unverified)",
                    p.identity,
                    p.claimed.unwrap_or_default()
                ),
                DIM,
            ),
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
    lines
}

/// `12 s`, `3 min` since an RFC 3339 time.
pub(super) fn seen_ago(at: Option<&str>) -> Option<String> {
    let t = at?.parse::<jiff::Timestamp>().ok()?;
    let secs = (jiff::Timestamp::now().as_second() - t.as_second()).max(0);
    Some(if secs < 120 {
        format!("{secs} s")
    } else {
        format!("{} min", secs / 60)
    })
}

/// A worker as its heartbeats say, and whose it is.
fn worker_line(app: &App, w: &crate::temporal::Worker) -> Line<'static> {
    let (who, color) = match (&w.service, w.pid, w.claimed) {
        (Some(s), Some(pid), _) => {
            let k = app.services.iter().position(|c| &c.name == s).unwrap_or(0);
            (format!("{s} PID {pid}"), service_color(k))
        }
        (None, Some(pid), _) => (format!("PID {pid} (not stigmer's)"), WARN),
        (_, _, Some(pid)) => (
            format!("{} (claims PID {pid}: unverified)", w.identity),
            DIM,
        ),
        _ if w.remote => (format!("{} on {}", w.identity, w.host), DIM),
        _ => (w.identity.clone(), DIM),
    };
    let build = w
        .build_id
        .as_deref()
        .map(|b| format!(" build {}", &b[..b.len().min(8)]))
        .unwrap_or_default();
    let beat = seen_ago(w.heartbeat.as_deref())
        .map(|s| format!(" · heartbeat {s} ago"))
        .unwrap_or_default();
    Line::from(vec![
        Span::styled(format!("  {:<16} ", w.task_queue), Style::new().fg(DIM)),
        Span::styled(who, Style::new().fg(color)),
        Span::styled(
            format!("  {} {}{build}{beat}", w.sdk, w.status),
            Style::new().fg(DIM),
        ),
    ])
}
