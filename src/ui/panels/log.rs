//! The log panel: the selected service's log or all merged, coloured by
//! level, filtered, searched (its prompt in the bottom row), selected.

use super::*;

pub(super) fn draw_log(app: &App, f: &mut Frame, area: Rect) {
    let v = &app.log;
    let merged = app.merged_shown();
    if let (Err(why), false) = (&app.info.program, merged) {
        let text = vec![Line::styled(why.to_string(), Style::new().fg(BAD).bold())];
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
    let filtered = v.min_level.is_some() || (v.only_matching && v.search.is_some());
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
    let extra = title_extra(app, selection);
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
        draw_prompt(f, area, v, input);
    }
}

/// One log line: its service's name in its colour (merged view), its
/// text coloured by its level, its own ANSI colours rendered, JSON pretty
/// when asked; the current match and the selection stand out.
pub(super) fn log_line(
    app: &App,
    l: &crate::ui::log::LogLine,
    current: bool,
    selected: bool,
) -> Line<'static> {
    use crate::logs::level::Level;
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
pub(super) fn pretty_json(text: &str) -> Option<Vec<Span<'static>>> {
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

pub(super) fn name_width(app: &App) -> usize {
    app.services.iter().map(|c| c.name.len()).max().unwrap_or(0)
}

/// What the log's title adds: the search, the filters, the selection.
fn title_extra(app: &App, selection: Option<(usize, usize)>) -> String {
    let v = &app.log;
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
    if let Some((a, b)) = selection {
        extra += &format!(" · selecting {} (y copies)", b - a + 1);
    }
    if app.pretty_json {
        extra += " · JSON pretty";
    }
    extra
}

/// The search being typed, on the panel's bottom row.
fn draw_prompt(f: &mut Frame, area: Rect, v: &crate::ui::log::LogView, input: &str) {
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
