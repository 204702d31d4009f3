//! The help overlay (from the key map) and the confirmation dialogs.

use super::*;

pub(super) fn draw_help(f: &mut Frame, area: Rect) {
    // Two columns, so the whole table fits an 80×24 terminal.
    let entry = |b: &crate::ui::keys::Binding| {
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

pub(super) fn draw_confirm(f: &mut Frame, area: Rect, title: &str, text: Vec<String>) {
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
