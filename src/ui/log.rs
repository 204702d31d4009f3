//! The log view's state: a bounded ring of lines, scrolling, follow/pause
//! and search.

use std::collections::VecDeque;

pub const LOG_CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub struct LogView {
    pub lines: VecDeque<String>,
    /// Lines between the bottom of the view and the newest line.
    pub offset: usize,
    pub follow: bool,
    pub search: Option<String>,
    /// The search being typed.
    pub input: Option<String>,
    /// Index (into `lines`) of the current match.
    pub current: Option<usize>,
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

    pub fn push(&mut self, batch: Vec<String>) {
        for line in batch {
            self.seen += 1;
            if self.lines.len() == LOG_CAPACITY {
                self.lines.pop_front();
                self.dropped += 1;
                self.current = self.current.and_then(|c| c.checked_sub(1));
            }
            if !self.follow {
                // Keep the paused view on the same line while new ones arrive.
                self.offset += 1;
            }
            self.lines.push_back(line);
        }
        if self.follow {
            self.offset = 0;
        }
        self.offset = self.offset.min(self.lines.len().saturating_sub(1));
    }

    pub fn scroll_up(&mut self, n: usize) {
        self.follow = false;
        self.offset = (self.offset + n).min(self.lines.len().saturating_sub(1));
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

    fn matches(&self, i: usize) -> bool {
        match &self.search {
            Some(q) if !q.is_empty() => self.lines.get(i).is_some_and(|l| contains_ci(l, q)),
            _ => false,
        }
    }

    /// Sets the search and jumps to the newest match.
    pub fn set_search(&mut self, q: String) {
        self.search = Some(q).filter(|q| !q.is_empty());
        self.current = None;
        self.find(true);
    }

    /// `older`: towards the top (n); otherwise towards the bottom (N).
    pub fn find(&mut self, older: bool) -> bool {
        let len = self.lines.len();
        if len == 0 || self.search.is_none() {
            return false;
        }
        let start = self.current.unwrap_or(if older { len } else { 0 });
        let found = if older {
            (0..start).rev().find(|i| self.matches(*i))
        } else {
            (start + 1..len).find(|i| self.matches(*i))
        };
        if let Some(i) = found {
            self.current = Some(i);
            self.follow = false;
            self.offset = len - 1 - i;
            true
        } else {
            false
        }
    }
}

pub fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("line {i}")).collect()
    }

    #[test]
    fn memory_is_bounded_and_follow_sticks_to_the_bottom() {
        let mut v = LogView::new();
        v.push(lines(LOG_CAPACITY + 500));
        assert_eq!(v.lines.len(), LOG_CAPACITY);
        assert_eq!(
            (v.seen, v.dropped, v.offset),
            ((LOG_CAPACITY + 500) as u64, 500, 0)
        );
        assert_eq!(
            v.lines.back().unwrap(),
            &format!("line {}", LOG_CAPACITY + 499)
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
    fn search_walks_matches_both_ways() {
        let mut v = LogView::new();
        v.push(vec![
            "a error one".into(),
            "b".into(),
            "c ERROR two".into(),
            "d".into(),
        ]);
        v.set_search("error".into());
        assert_eq!(v.current, Some(2), "newest match first");
        assert!(v.find(true));
        assert_eq!((v.current, v.offset), (Some(0), 3));
        assert!(!v.find(true), "no older match");
        assert!(v.find(false));
        assert_eq!(v.current, Some(2));
    }
}
