//! The supervisor's events (tui-logger, lines wrapped between words).

use super::*;

pub(super) fn draw_events(app: &App, f: &mut Frame, area: Rect) {
    let w = tui_logger::TuiLoggerWidget::default()
        .block(block("Events".into(), app.focus == Focus::Events))
        .formatter(Box::new(crate::ui::events::EventLines {
            error: Style::new().fg(BAD),
            warn: Style::new().fg(WARN),
        }))
        .state(&app.events);
    f.render_widget(w, area);
}
