//! The events panel's lines: the time, then the event, wrapped at word
//! boundaries with the continuation indented under the text (a narrow
//! panel never cuts `killed by SIGKILL` in the middle of a word).

use ratatui::style::Style;
use ratatui::text::Line;
use tui_logger::{LevelFilter, LogFormatter};

pub struct EventLines {
    pub error: Style,
    pub warn: Style,
}

/// `HH:MM:SS ` before each event.
const TIME: usize = 9;

impl LogFormatter for EventLines {
    fn min_width(&self) -> u16 {
        TIME as u16 + 8
    }

    fn format(&self, width: usize, evt: &tui_logger::ExtLogRecord) -> Vec<Line<'_>> {
        let style = if evt.level == LevelFilter::Error {
            self.error
        } else if evt.level == LevelFilter::Warn {
            self.warn
        } else {
            Style::new()
        };
        let time = evt.timestamp.strftime("%H:%M:%S ").to_string();
        // tracing's message field comes with a leading space.
        wrap(&time, evt.msg().trim_start(), width)
            .into_iter()
            .map(|l| Line::styled(l, style))
            .collect()
    }
}

/// `first` then `text` in lines of at most `width` columns, broken between
/// words; every line after the first indented by `first`'s width. A word
/// longer than a line is broken, as nothing else can be done.
pub fn wrap(first: &str, text: &str, width: usize) -> Vec<String> {
    let indent = " ".repeat(first.chars().count());
    let opts = textwrap::Options::new(width.max(first.len() + 1))
        .initial_indent(first)
        .subsequent_indent(&indent)
        .break_words(true);
    text.lines()
        .flat_map(|l| textwrap::wrap(l, &opts).into_iter().map(|c| c.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_wrap_between_words_under_their_text() {
        let lines = wrap(
            "12:00:00 ",
            "temporal: exited (PID 4242): killed by SIGKILL; restarting in 0 ms",
            30,
        );
        assert_eq!(
            lines,
            vec![
                "12:00:00 temporal: exited (PID",
                "         4242): killed by",
                "         SIGKILL; restarting",
                "         in 0 ms",
            ]
        );
        assert!(lines.iter().all(|l| l.chars().count() <= 30));
    }
}
