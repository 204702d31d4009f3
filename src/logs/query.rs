//! Asking a log for lines: by level, by pattern, by time. What `local logs`
//! and the dash's filters share. A line without a level or a time takes the
//! previous line's (a stack trace goes with the error it continues).

use regex::Regex;

use crate::logs::level::{self as loglevel, Level};

/// A compiled search: a regex, case-insensitive unless it has capitals.
/// A search pattern that is no regex, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadPattern(pub String);

#[derive(Debug, Clone)]
pub struct Search {
    pub pattern: String,
    re: Regex,
}

impl Search {
    pub fn new(pattern: &str) -> Result<Self, BadPattern> {
        let smart_case = !pattern.chars().any(char::is_uppercase);
        regex::RegexBuilder::new(pattern)
            .case_insensitive(smart_case)
            .size_limit(1 << 20)
            .build()
            .map(|re| Self {
                pattern: pattern.to_string(),
                re,
            })
            .map_err(|e| {
                BadPattern(match e {
                    regex::Error::Syntax(s) => format!(
                        "{pattern:?} is not a valid regex: {}",
                        s.lines()
                            .last()
                            .unwrap_or(&s)
                            .trim()
                            .trim_start_matches("error: ")
                    ),
                    other => format!("{pattern:?} is not a valid regex: {other}"),
                })
            })
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }
}

/// When a line says it was written, in ms since the epoch: logfmt `time=` /
/// `ts=`, JSON `"time"`/`"ts"`/`"timestamp"` (text or epoch seconds), or a
/// date at the start of the line (`2026-11-22T08:00:00Z`,
/// `2026-11-22 08:00:00,123`, `2026/11/22 08:00:00`). A time without a
/// zone is local time.
pub fn detect_time(line: &str) -> Option<i64> {
    let head = line.get(..line.len().min(400)).unwrap_or(line);
    let t = head.trim_start();
    if t.starts_with('{') {
        for key in [
            "\"time\"",
            "\"ts\"",
            "\"timestamp\"",
            "\"@timestamp\"",
            "\"asctime\"",
        ] {
            let Some(i) = t.find(key) else { continue };
            let v = t[i + key.len()..]
                .trim_start()
                .strip_prefix(':')?
                .trim_start();
            if let Some(s) = v.strip_prefix('"') {
                return parse_time(&s[..s.find('"')?]);
            }
            let end = v.find([',', '}']).unwrap_or(v.len());
            let secs: f64 = v[..end].trim().parse().ok()?;
            // Epoch seconds (zap) or milliseconds.
            return Some(if secs > 1e11 {
                secs as i64
            } else {
                (secs * 1000.0) as i64
            });
        }
        return None;
    }
    for key in ["time=", "ts="] {
        if let Some(i) = t.find(key) {
            if i == 0 || t.as_bytes()[i - 1] == b' ' {
                let v = &t[i + key.len()..];
                let v = v.strip_prefix('"').unwrap_or(v);
                let end = v.find(['"', ' ']).unwrap_or(v.len());
                if let Some(ms) = parse_time(&v[..end]) {
                    return Some(ms);
                }
            }
        }
    }
    // A date first: take up to the second space-separated token.
    if t.len() >= 19 && t.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        let mut it = t.split_whitespace();
        let first = it.next()?;
        if first.len() >= 19 {
            return parse_time(first);
        }
        let second = it.next().unwrap_or("");
        return parse_time(&format!("{first}T{second}"));
    }
    None
}

fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim_end_matches([',', ']', ':']).replace(',', ".");
    let s = s.replacen('/', "-", 2);
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts.as_millisecond());
    }
    let civil = s
        .replacen(' ', "T", 1)
        .parse::<jiff::civil::DateTime>()
        .ok()?;
    let zoned = civil.to_zoned(jiff::tz::TimeZone::system()).ok()?;
    Some(zoned.timestamp().as_millisecond())
}

/// What to keep.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub min_level: Option<Level>,
    pub grep: Option<Search>,
    /// Lines written at or after this (ms since the epoch).
    pub since_ms: Option<i64>,
}

/// A line, with what it said (or inherited) about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: String,
    pub level: Option<Level>,
    pub time_ms: Option<i64>,
}

/// Goes through a log line by line, carrying levels and times over to the
/// lines that have none.
#[derive(Debug, Default)]
pub struct Reader {
    level: Option<Level>,
    time_ms: Option<i64>,
    /// Whether the query needs times (they cost a parse).
    timed: bool,
}

impl Reader {
    pub fn new(q: &Query) -> Self {
        Self {
            timed: q.since_ms.is_some(),
            ..Default::default()
        }
    }

    /// Reads every line's time (carried to the lines without one), even
    /// when the query does not need it: to merge logs in time order.
    pub fn with_times(mut self) -> Self {
        self.timed = true;
        self
    }

    pub fn entry(&mut self, line: String) -> Entry {
        self.level = loglevel::carry(self.level, &line);
        if self.timed {
            if let Some(t) = detect_time(&line) {
                self.time_ms = Some(t);
            }
        }
        Entry {
            line,
            level: self.level,
            time_ms: self.time_ms,
        }
    }
}

impl Query {
    pub fn is_empty(&self) -> bool {
        self.min_level.is_none() && self.grep.is_none() && self.since_ms.is_none()
    }

    /// Whether `e` is kept. A line with no level counts as info; with
    /// `since`, a line with no time (none before it either) is not kept.
    pub fn keeps(&self, e: &Entry) -> bool {
        self.min_level
            .is_none_or(|m| e.level.unwrap_or(Level::Info) >= m)
            && self.grep.as_ref().is_none_or(|g| g.is_match(&e.line))
            && self
                .since_ms
                .is_none_or(|s| e.time_ms.is_some_and(|t| t >= s))
    }
}

/// Several logs' entries in one sequence by time, never reordering the
/// lines of one log: at each step the log whose next line is earliest
/// goes (a line with no time, before any timed one, counts as earliest).
/// Items are (log index, entry).
pub fn merge_by_time(logs: Vec<Vec<Entry>>) -> Vec<(usize, Entry)> {
    let mut heads: Vec<std::iter::Peekable<std::vec::IntoIter<Entry>>> =
        logs.into_iter().map(|l| l.into_iter().peekable()).collect();
    let mut out = Vec::new();
    loop {
        let next = heads
            .iter_mut()
            .enumerate()
            .filter_map(|(i, h)| Some((h.peek()?.time_ms.unwrap_or(i64::MIN), i)))
            .min();
        let Some((_, i)) = next else { break };
        if let Some(e) = heads[i].next() {
            out.push((i, e));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_the_formats_services_write() {
        let utc = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
        let local = |s: &str| {
            s.parse::<jiff::civil::DateTime>()
                .unwrap()
                .to_zoned(jiff::tz::TimeZone::system())
                .unwrap()
                .timestamp()
                .as_millisecond()
        };
        for (line, want) in [
            (
                r#"time=2026-11-22T08:39:15.425 level=INFO msg="x""#,
                Some(local("2026-11-22T08:39:15.425")),
            ),
            (
                r#"time="2026-11-22T08:00:00Z" level=fatal msg=bye"#,
                Some(utc("2026-11-22T08:00:00Z")),
            ),
            (
                r#"{"level":"info","ts":"2026-11-22T08:00:00.5+01:00","msg":"m"}"#,
                Some(utc("2026-11-22T07:00:00.5Z")),
            ),
            (
                r#"{"level":"info","ts":1795334400.25,"msg":"zap"}"#,
                Some(1_795_334_400_250),
            ),
            (
                "2026-11-22 08:00:00,123 - worker - INFO - polling",
                Some(local("2026-11-22T08:00:00.123")),
            ),
            (
                "2026/11/22 08:00:00 ERROR broke",
                Some(local("2026-11-22T08:00:00")),
            ),
            (
                "2026-11-22T08:00:00.000Z\tINFO\tstarted",
                Some(utc("2026-11-22T08:00:00Z")),
            ),
            ("WARNING:root:no time here", None),
            ("    at frame", None),
            ("2026 was a year", None),
            ("{\"ts\":", None),
        ] {
            assert_eq!(detect_time(line), want, "{line:?}");
        }
    }

    #[test]
    fn logs_merge_by_time_and_keep_each_ones_order() {
        let e = |line: &str, t: Option<i64>| Entry {
            line: line.into(),
            level: None,
            time_ms: t,
        };
        let a = vec![e("a1", Some(10)), e("a2", Some(30)), e("a2+", Some(30))];
        let b = vec![e("b0", None), e("b1", Some(20)), e("b2", Some(40))];
        let got: Vec<String> = merge_by_time(vec![a, b])
            .into_iter()
            .map(|(_, e)| e.line)
            .collect();
        assert_eq!(got, ["b0", "a1", "b1", "a2", "a2+", "b2"]);
    }

    #[test]
    fn a_query_keeps_continuations_with_the_line_they_continue() {
        let q = Query {
            min_level: Some(Level::Warn),
            grep: None,
            since_ms: Some(detect_time("time=2026-11-22T08:00:01Z").unwrap()),
        };
        let mut r = Reader::new(&q);
        let kept: Vec<String> = [
            "banner with no time",
            "time=2026-11-22T08:00:00Z level=ERROR msg=old",
            "  old trace",
            "time=2026-11-22T08:00:02Z level=INFO msg=fine",
            "time=2026-11-22T08:00:03Z level=WARN msg=slow",
            "  slow detail",
        ]
        .into_iter()
        .map(|l| r.entry(l.to_string()))
        .filter(|e| q.keeps(e))
        .map(|e| e.line)
        .collect();
        assert_eq!(
            kept,
            vec![
                "time=2026-11-22T08:00:03Z level=WARN msg=slow",
                "  slow detail"
            ]
        );
    }

    #[test]
    fn search_is_smart_case_and_explains_a_bad_pattern() {
        assert!(Search::new("error").unwrap().is_match("An ERROR"));
        assert!(!Search::new("Error").unwrap().is_match("An ERROR"));
        let e = Search::new("a(b").unwrap_err();
        assert!(
            e.0.contains("not a valid regex") && e.0.contains("a(b"),
            "{e}"
        );
    }
}
