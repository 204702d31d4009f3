//! The log view's state: a bounded ring of lines, each with its level
//! (detected, or inherited from the line before: a stack trace stays with
//! its error), the filters on it (minimum level; only lines matching the
//! search), scrolling, follow/pause, search and the selection to copy.
//!
//! Rows are the lines the filters let through. With no filter every line is
//! a row; with one, the rows are an index of sequence numbers kept up to
//! date as lines arrive, so a frame never re-filters the whole ring.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::logs::level::{self as loglevel, Level};
pub use crate::logs::query::Search;

pub const LOG_CAPACITY: usize = 50_000;

/// One line. Shared, not copied, between a service's view and the merged
/// one (the text is reference-counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The text without ANSI escape sequences (searched, copied).
    pub text: Arc<str>,
    /// The text as written, when it had ANSI colours (rendered).
    pub ansi: Option<Arc<str>>,
    /// Its level, or the one it inherited; `None` before any level.
    pub level: Option<Level>,
    /// Which service wrote it (its index in the stack).
    pub service: u16,
}

impl LogLine {
    /// A line as a service wrote it; `prev` is the level of the line before.
    pub fn new(raw: String, prev: Option<Level>) -> Self {
        let (text, ansi): (Arc<str>, _) = if raw.contains('\x1b') {
            let plain = strip_ansi(&raw);
            (plain.into(), Some(raw.into()))
        } else {
            (raw.into(), None)
        };
        let level = loglevel::carry(prev, &text);
        Self {
            text,
            ansi,
            level,
            service: 0,
        }
    }
}

#[derive(Debug, Default)]
pub struct LogView {
    lines: VecDeque<LogLine>,
    /// Sequence number of `lines[0]`.
    first_seq: u64,
    /// With a filter on: the sequence numbers of the lines shown.
    rows: Option<VecDeque<u64>>,
    /// Rows between the bottom of the view and the newest row.
    pub offset: usize,
    pub follow: bool,
    pub search: Option<Search>,
    /// The search being typed.
    pub input: Option<String>,
    /// Why the search being typed is not a valid pattern, if it is not.
    pub input_error: Option<String>,
    /// How many lines the search matched when it was set.
    pub match_count: usize,
    /// Sequence number of the current match.
    pub current: Option<u64>,
    /// Show only the lines the search matches (`&`).
    pub only_matching: bool,
    /// Hide lines below this level (unlabelled lines count as info).
    pub min_level: Option<Level>,
    /// Where a selection began (a sequence number), while selecting.
    pub anchor: Option<u64>,
    /// Where it ends when the mouse chose; else the bottom row.
    pub cursor: Option<u64>,
    pub seen: u64,
    pub dropped: u64,
}

impl LogView {
    pub fn new() -> Self {
        Self {
            follow: true,
            ..Default::default()
        }
    }

    pub fn last_level(&self) -> Option<Level> {
        self.lines.back().and_then(|l| l.level)
    }

    /// New lines as service `service` wrote them.
    pub fn push(&mut self, batch: Vec<String>) {
        self.push_of(0, batch);
    }

    pub fn push_of(&mut self, service: u16, batch: Vec<String>) {
        let mut prev = self.last_level();
        let lines = batch
            .into_iter()
            .map(|raw| {
                let mut l = LogLine::new(raw, prev);
                l.service = service;
                prev = l.level;
                l
            })
            .collect();
        self.push_lines(lines);
    }

    /// The newest `n` lines held (to share with the merged view).
    pub fn newest(&self, n: usize) -> impl Iterator<Item = &LogLine> {
        self.lines.iter().skip(self.lines.len().saturating_sub(n))
    }

    /// New lines whose levels are already known (the merged view).
    pub fn push_lines(&mut self, batch: Vec<LogLine>) {
        for line in batch {
            self.seen += 1;
            if self.lines.len() == LOG_CAPACITY {
                self.lines.pop_front();
                self.first_seq += 1;
                self.dropped += 1;
                if let Some(rows) = &mut self.rows {
                    while rows.front().is_some_and(|s| *s < self.first_seq) {
                        rows.pop_front();
                    }
                }
                if self.current.is_some_and(|c| c < self.first_seq) {
                    self.current = None;
                }
            }
            let seq = self.first_seq + self.lines.len() as u64;
            let shown = self.passes(&line);
            self.lines.push_back(line);
            if let Some(rows) = &mut self.rows {
                if shown {
                    rows.push_back(seq);
                }
            }
            if shown && !self.follow {
                // Keep the paused view on the same line while new ones arrive.
                self.offset += 1;
            }
        }
        if self.follow {
            self.offset = 0;
        }
        self.offset = self.offset.min(self.len().saturating_sub(1));
    }

    fn passes(&self, l: &LogLine) -> bool {
        let level_ok = self
            .min_level
            .is_none_or(|min| l.level.unwrap_or(Level::Info) >= min);
        let match_ok =
            !self.only_matching || self.search.as_ref().is_none_or(|s| s.is_match(&l.text));
        level_ok && match_ok
    }

    fn filtered(&self) -> bool {
        self.min_level.is_some() || (self.only_matching && self.search.is_some())
    }

    /// Rebuilds the rows after a filter changed: one pass over the ring.
    pub fn refilter(&mut self) {
        let bottom = self.seq_at_bottom();
        self.rows = self.filtered().then(|| {
            self.lines
                .iter()
                .enumerate()
                .filter(|(_, l)| self.passes(l))
                .map(|(i, _)| self.first_seq + i as u64)
                .collect()
        });
        // Keep the same line at the bottom when it is still shown.
        self.offset = match bottom.and_then(|s| self.row_of(s)) {
            Some(k) if !self.follow => self.len().saturating_sub(1) - k,
            _ => 0,
        };
        if self.offset == 0 {
            self.follow = true;
        }
    }

    /// How many rows the filters let through.
    pub fn len(&self) -> usize {
        self.rows.as_ref().map_or(self.lines.len(), VecDeque::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every line held, filters or not.
    pub fn total(&self) -> usize {
        self.lines.len()
    }

    /// The sequence number of row `k` (0 is the oldest row).
    pub fn seq(&self, k: usize) -> Option<u64> {
        match &self.rows {
            Some(rows) => rows.get(k).copied(),
            None => (k < self.lines.len()).then(|| self.first_seq + k as u64),
        }
    }

    pub fn line(&self, seq: u64) -> Option<&LogLine> {
        let i = seq.checked_sub(self.first_seq)?;
        self.lines.get(i as usize)
    }

    pub fn row(&self, k: usize) -> Option<&LogLine> {
        self.line(self.seq(k)?)
    }

    /// The row showing line `seq`, if it is shown.
    pub fn row_of(&self, seq: u64) -> Option<usize> {
        match &self.rows {
            Some(rows) => rows.binary_search(&seq).ok(),
            None => {
                let i = seq.checked_sub(self.first_seq)? as usize;
                (i < self.lines.len()).then_some(i)
            }
        }
    }

    /// The row at the bottom of the view (the cursor of a selection).
    pub fn bottom_row(&self) -> Option<usize> {
        self.len().checked_sub(1 + self.offset)
    }

    fn seq_at_bottom(&self) -> Option<u64> {
        self.seq(self.bottom_row()?)
    }

    pub fn scroll_up(&mut self, n: usize) {
        self.follow = false;
        self.offset = self
            .offset
            .saturating_add(n)
            .min(self.len().saturating_sub(1));
    }

    pub fn scroll_down(&mut self, n: usize) {
        self.offset = self.offset.saturating_sub(n);
        if self.offset == 0 {
            self.follow = true;
        }
    }

    pub fn top(&mut self) {
        self.scroll_up(usize::MAX / 2);
    }

    pub fn follow(&mut self) {
        self.follow = true;
        self.offset = 0;
    }

    pub fn toggle_follow(&mut self) {
        if self.follow {
            self.follow = false;
        } else {
            self.follow();
        }
    }

    fn matches(&self, k: usize) -> bool {
        match (&self.search, self.row(k)) {
            (Some(s), Some(l)) => s.is_match(&l.text),
            _ => false,
        }
    }

    /// Sets the search (a regex) and jumps to the newest match; an invalid
    /// pattern is an error that says why, and changes nothing.
    pub fn set_search(&mut self, q: &str) -> Result<(), crate::logs::query::BadPattern> {
        self.search = if q.is_empty() {
            None
        } else {
            Some(Search::new(q)?)
        };
        self.current = None;
        if self.only_matching {
            self.refilter();
        }
        self.match_count = (0..self.len()).filter(|k| self.matches(*k)).count();
        self.find(true);
        Ok(())
    }

    /// `/` typed: search as each key comes, the newest match first; a
    /// pattern not valid yet keeps the last results and says why.
    pub fn type_search(&mut self, input: String) {
        self.input_error = self.set_search(&input).err().map(|e| e.0);
        self.input = Some(input);
    }

    /// Esc: no search, every line again.
    pub fn clear_search(&mut self) {
        self.input = None;
        self.input_error = None;
        self.only_matching = false;
        let _ = self.set_search("");
        self.refilter();
    }

    /// `&`: only the lines the search matches, or all again.
    pub fn toggle_only_matching(&mut self) {
        self.only_matching = !self.only_matching;
        self.refilter();
    }

    /// The minimum level shown: all → info → warn → error → all.
    pub fn cycle_level(&mut self) {
        self.min_level = Level::cycle(self.min_level);
        self.refilter();
    }

    /// `older`: towards the top (n); otherwise towards the bottom (N).
    pub fn find(&mut self, older: bool) -> bool {
        let len = self.len();
        if len == 0 || self.search.is_none() {
            return false;
        }
        let start = self
            .current
            .and_then(|c| self.row_of(c))
            .unwrap_or(if older { len } else { 0 });
        let found = if older {
            (0..start).rev().find(|k| self.matches(*k))
        } else {
            (start + 1..len).find(|k| self.matches(*k))
        };
        if let Some(k) = found {
            self.current = self.seq(k);
            self.follow = false;
            self.offset = len - 1 - k;
            true
        } else {
            false
        }
    }

    /// Whether the current match is line `seq`.
    pub fn is_current(&self, seq: u64) -> bool {
        self.current == Some(seq)
    }

    /// Starts a selection at the bottom row, or ends it.
    pub fn toggle_selection(&mut self) {
        self.cursor = None;
        self.anchor = match self.anchor {
            Some(_) => None,
            None => {
                if self.follow {
                    self.follow = false; // new lines must not move it
                }
                let a = self.seq_at_bottom();
                self.cursor = a;
                a
            }
        };
    }

    /// While selecting: moves the selection's free end `by` rows (negative
    /// is up, older), scrolling only as far as keeps it in a view `height`
    /// rows tall, so the whole selection stays in sight while it fits.
    pub fn move_cursor(&mut self, by: isize, height: usize) {
        let len = self.len();
        let Some(cur) = self
            .cursor
            .and_then(|c| self.row_of(c))
            .or(self.bottom_row())
        else {
            return;
        };
        let k = (cur as isize + by).clamp(0, len.saturating_sub(1) as isize) as usize;
        self.cursor = self.seq(k);
        let height = height.max(1);
        let bottom = len.saturating_sub(1 + self.offset);
        if k > bottom {
            self.offset = len - 1 - k;
        } else if k + height <= bottom {
            self.offset = len - k - height;
        }
        self.follow = self.offset == 0 && self.anchor.is_none();
    }

    pub fn selecting(&self) -> bool {
        self.anchor.is_some()
    }

    /// The selected rows (anchor to the bottom row), inclusive.
    pub fn selection(&self) -> Option<(usize, usize)> {
        let a = self.row_of(self.anchor?)?;
        let b = match self.cursor {
            Some(c) => self.row_of(c)?,
            None => self.bottom_row()?,
        };
        Some((a.min(b), a.max(b)))
    }

    /// The mouse pressed on row `k`: a selection begins there.
    pub fn mouse_down(&mut self, k: usize) {
        self.anchor = self.seq(k);
        self.cursor = self.anchor;
        self.follow = false;
    }

    /// The mouse dragged to row `k`: the selection ends there.
    pub fn mouse_drag(&mut self, k: usize) {
        if self.anchor.is_some() {
            self.cursor = self.seq(k.min(self.len().saturating_sub(1)));
        }
    }

    /// The first row drawn in a view `height` rows tall.
    pub fn first_shown(&self, height: usize) -> usize {
        self.len()
            .saturating_sub(self.offset)
            .saturating_sub(height)
    }

    /// The text to copy: the selection, else the bottom row; plain text.
    pub fn selected_text(&self) -> String {
        let (a, b) = self
            .selection()
            .or_else(|| self.bottom_row().map(|k| (k, k)))
            .unwrap_or((1, 0));
        (a..=b)
            .filter_map(|k| self.row(k))
            .map(|l| &*l.text)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every row the filters let through, plain text.
    pub fn shown_text(&self) -> String {
        (0..self.len())
            .filter_map(|k| self.row(k))
            .map(|l| &*l.text)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The text without ANSI escape sequences (CSI, OSC, and lone ESCs).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match it.peek() {
            Some('[') => {
                it.next();
                // Parameters and intermediates, then one final byte.
                for c in it.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                it.next();
                // Until BEL or ST (ESC \).
                while let Some(c) = it.next() {
                    if c == '\x07' {
                        break;
                    }
                    if c == '\x1b' && it.peek() == Some(&'\\') {
                        it.next();
                        break;
                    }
                }
            }
            Some(_) => {
                it.next();
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("line {i}")).collect()
    }

    fn texts(v: &LogView) -> Vec<String> {
        (0..v.len())
            .map(|k| v.row(k).unwrap().text.to_string())
            .collect()
    }

    #[test]
    fn memory_is_bounded_and_follow_sticks_to_the_bottom() {
        let mut v = LogView::new();
        v.push(lines(LOG_CAPACITY + 500));
        assert_eq!(v.len(), LOG_CAPACITY);
        assert_eq!(
            (v.seen, v.dropped, v.offset),
            ((LOG_CAPACITY + 500) as u64, 500, 0)
        );
        assert_eq!(
            &*v.row(v.len() - 1).unwrap().text,
            format!("line {}", LOG_CAPACITY + 499)
        );
    }

    #[test]
    fn paused_view_stays_put_while_lines_arrive() {
        let mut v = LogView::new();
        v.push(lines(100));
        v.scroll_up(10);
        assert!(!v.follow);
        v.push(lines(5));
        assert_eq!(
            v.offset, 15,
            "the same line stays at the bottom of the view"
        );
        v.scroll_down(100);
        assert!(v.follow);
    }

    #[test]
    fn search_is_a_smart_case_regex_walking_matches_both_ways() {
        let mut v = LogView::new();
        v.push(vec![
            "a error one".into(),
            "b".into(),
            "c ERROR two".into(),
            "d".into(),
        ]);
        v.set_search("err(or)?").unwrap();
        assert_eq!(v.current, Some(2), "newest match first");
        assert!(v.find(true));
        assert_eq!((v.current, v.offset), (Some(0), 3));
        assert!(!v.find(true), "no older match");
        assert!(v.find(false));
        assert_eq!(v.current, Some(2));
        v.set_search("ERROR").unwrap();
        assert_eq!(v.current, Some(2));
        assert!(!v.find(true), "capitals: case-sensitive");
        let err = v.set_search("a(b").unwrap_err();
        assert!(err.0.contains("not a valid regex"), "{err}");
        assert_eq!(v.search.as_ref().unwrap().pattern, "ERROR", "kept");
    }

    #[test]
    fn continuation_lines_inherit_their_level_across_batches() {
        let mut v = LogView::new();
        v.push(vec!["plain start".into(), "level=error msg=boom".into()]);
        v.push(vec!["  at frame 1".into(), "  at frame 2".into()]);
        v.push(vec![
            "INFO:root:fine".into(),
            "more".into(),
            "  and more".into(),
        ]);
        let levels: Vec<_> = (0..v.len()).map(|k| v.row(k).unwrap().level).collect();
        use Level::*;
        assert_eq!(
            levels,
            vec![
                None,
                Some(Error),
                Some(Error),
                Some(Error),
                Some(Info),
                // A fresh line of no level continues nothing.
                None,
                None
            ]
        );
    }

    #[test]
    fn level_and_match_filters_keep_rows_in_step_with_new_lines() {
        let mut v = LogView::new();
        v.push(vec![
            "banner".into(),
            "level=debug msg=a".into(),
            "level=warn msg=b".into(),
            "  detail of b".into(),
            "level=error msg=c".into(),
        ]);
        v.cycle_level(); // info: unlabelled lines count as info
        assert_eq!(
            texts(&v),
            vec![
                "banner",
                "level=warn msg=b",
                "  detail of b",
                "level=error msg=c"
            ]
        );
        v.cycle_level(); // warn
        assert_eq!(texts(&v).len(), 3);
        v.push(vec!["level=info msg=d".into(), "level=error msg=e".into()]);
        assert_eq!(texts(&v).last().unwrap(), "level=error msg=e");
        assert_eq!(texts(&v).len(), 4);
        v.set_search("msg=[ce]").unwrap();
        v.toggle_only_matching();
        assert_eq!(texts(&v), vec!["level=error msg=c", "level=error msg=e"]);
        v.cycle_level(); // error
        v.cycle_level(); // all again; the match filter stays
        assert_eq!(texts(&v).len(), 2);
        v.toggle_only_matching();
        assert_eq!(v.len(), v.total());
    }

    #[test]
    fn filtered_rows_survive_the_ring_dropping_old_lines() {
        let mut v = LogView::new();
        v.set_search("7$").unwrap();
        v.toggle_only_matching();
        v.push(lines(LOG_CAPACITY + 100));
        assert_eq!(v.total(), LOG_CAPACITY);
        assert_eq!(v.len(), LOG_CAPACITY / 10);
        assert!(texts(&v).iter().all(|t| t.ends_with('7')));
    }

    #[test]
    fn selection_and_copies_are_plain_text() {
        let mut v = LogView::new();
        v.push(vec![
            "\x1b[31mred error\x1b[0m".into(),
            "\x1b]8;;http://x\x07link\x1b]8;;\x07 two".into(),
            "three".into(),
        ]);
        assert_eq!(&*v.row(0).unwrap().text, "red error");
        assert!(v.row(0).unwrap().ansi.is_some());
        assert_eq!(&*v.row(1).unwrap().text, "link two");
        assert_eq!(v.selected_text(), "three", "no selection: the bottom row");
        v.toggle_selection();
        v.move_cursor(-2, 10);
        assert_eq!(v.selection(), Some((0, 2)));
        assert_eq!(v.selected_text(), "red error\nlink two\nthree");
        assert_eq!(v.shown_text(), "red error\nlink two\nthree");
    }

    #[test]
    fn a_selection_moves_its_end_and_scrolls_only_to_keep_it_in_sight() {
        let mut v = LogView::new();
        v.push((0..100).map(|i| format!("line {i}")).collect());
        v.toggle_selection(); // at the bottom row, 99
        v.move_cursor(-3, 10);
        // Rows 96..=99 selected, all on screen: nothing scrolled.
        assert_eq!(v.selection(), Some((96, 99)));
        assert_eq!(v.offset, 0);
        assert!(v.first_shown(10) <= 96);
        // Past the top of a 10-row view: it scrolls with the cursor; the
        // anchor goes off screen only once the selection is taller than it.
        v.move_cursor(-10, 10);
        assert_eq!(v.selection(), Some((86, 99)));
        assert_eq!(v.first_shown(10), 86);
        // Back down: nothing scrolls until the cursor reaches the bottom.
        v.move_cursor(5, 10);
        assert_eq!(v.selection(), Some((91, 99)));
        assert_eq!(v.first_shown(10), 86);
        // New lines do not move it.
        v.push(vec!["new".into()]);
        assert_eq!(v.selection(), Some((91, 99)));
    }
}
