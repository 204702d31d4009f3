//! The header (the selected service at a glance, who supervises) and the
//! footer (notices, or the key hints from the key map).

use super::*;

pub(super) fn draw_header(app: &App, f: &mut Frame, area: Rect, now: Instant) {
    let s = &app.entry.view;
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
        let since = app
            .entry
            .seen
            .at
            .map(|t| now.saturating_duration_since(t).as_secs())
            .unwrap_or(0);
        let up = up + since;
        spans.push(Span::raw(format!("  up {}", human_secs(up))));
    }
    spans.push(Span::raw(format!("  restarts {}", s.restarts)));
    match s.watching {
        Some(true) => spans.push(Span::raw("  watch: on")),
        Some(false) => spans.push(Span::styled("  watch: off", Style::new().fg(WARN))),
        None => {}
    }
    if let (true, Some(pid)) = (app.watch_only, app.attached_to) {
        spans.push(Span::styled(
            format!("  watching only (supervisor PID {pid} runs another file)"),
            Style::new().fg(WARN),
        ));
    } else if let Some(pid) = app.attached_to {
        spans.push(Span::styled(
            format!("  attached to supervisor PID {pid}"),
            Style::new().fg(DIM),
        ));
    } else if s.supervisor.is_none() {
        spans.push(Span::styled(
            "  watching only (nobody supervises)",
            Style::new().fg(WARN),
        ));
    }
    spans.push(Span::styled(
        format!("  {}", app.info.home.display()),
        Style::new().fg(DIM),
    ));
    if let Some(c) = &app.config {
        spans.push(Span::styled(format!("  runs {c}"), Style::new().fg(DIM)));
    }
    f.render_widget(Line::from(spans), area);
}

pub(super) fn draw_footer(app: &App, f: &mut Frame, area: Rect) {
    let line = match &app.notice {
        Some(n) => Line::styled(n.clone(), Style::new().fg(WARN)),
        None if app.config_trouble.is_some() => Line::styled(
            format!("config: {}", app.config_trouble.clone().unwrap_or_default()),
            Style::new().fg(BAD),
        ),
        None if app.quit == Some(crate::ui::Quit::Stop) => Line::styled(
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
