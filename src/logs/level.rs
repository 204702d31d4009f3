//! A log line's level, from the formats services actually write: logfmt
//! (`level=info`, Temporal's own text logs), JSON (`"level":"warn"`),
//! `[WARN]` brackets, Python's logging defaults (`WARNING:root:…`,
//! `… - ERROR - …`), zap/klog-style upper-case tokens after a timestamp.
//! Pure and allocation-free on the common path: it runs on every line.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// A level's name as users and programs write it, any case.
    pub fn parse(word: &str) -> Option<Level> {
        let w = word.trim_matches(|c: char| c == '"' || c == '\'');
        let lower = |s: &str| w.eq_ignore_ascii_case(s);
        Some(if lower("trace") || lower("trc") {
            Level::Trace
        } else if lower("debug") || lower("dbg") {
            Level::Debug
        } else if lower("info") || lower("inf") || lower("information") || lower("notice") {
            Level::Info
        } else if lower("warn") || lower("warning") || lower("wrn") {
            Level::Warn
        } else if lower("error")
            || lower("err")
            || lower("fatal")
            || lower("panic")
            || lower("critical")
            || lower("crit")
            || lower("dpanic")
            || lower("alert")
            || lower("emerg")
        {
            Level::Error
        } else {
            return None;
        })
    }

    /// The next minimum level to show: all → info → warn → error → all.
    pub fn cycle(min: Option<Level>) -> Option<Level> {
        match min {
            None => Some(Level::Info),
            Some(Level::Trace | Level::Debug | Level::Info) => Some(Level::Warn),
            Some(Level::Warn) => Some(Level::Error),
            Some(Level::Error) => None,
        }
    }
}

/// Bytes of a line looked at for a level: levels come first in every format
/// we know, and a long line (a JSON blob) is not scanned to its end.
const HEAD: usize = 512;

/// The level a line declares, if any.
pub fn detect(line: &str) -> Option<Level> {
    let head = prefix(line, HEAD);
    let trimmed = head.trim_start();
    if trimmed.starts_with('{') {
        if let Some(l) = json_level(trimmed) {
            return Some(l);
        }
    }
    if let Some(l) = key_value(head) {
        return Some(l);
    }
    // `[WARN]`, `[error]`, `<info>`.
    for (open, close) in [('[', ']'), ('<', '>')] {
        let mut rest = head;
        while let Some(i) = rest.find(open) {
            let after = &rest[i + 1..];
            if let Some(j) = after.find(close).filter(|j| *j <= 9) {
                if let Some(l) = Level::parse(after[..j].trim()) {
                    return Some(l);
                }
            }
            rest = after;
        }
    }
    // Python's default format: `WARNING:root:message`.
    if let Some((word, _)) = trimmed.split_once(':') {
        if word.chars().all(|c| c.is_ascii_uppercase()) {
            if let Some(l) = Level::parse(word) {
                return Some(l);
            }
        }
    }
    // A Python traceback and the exception that ends it, a Go panic, a
    // Java exception: errors, whatever the logger around them said.
    if let Some(l) = crash_report(trimmed) {
        return Some(l);
    }
    // klog/glog: `E1122 12:00:00.123456 …`.
    if let Some(l) = klog(trimmed) {
        return Some(l);
    }
    // An upper-case level word among the first few tokens (after a
    // timestamp, a logger name, or ` - ` separators): `INFO`, `ERROR`.
    for token in trimmed
        .split(|c: char| c.is_whitespace() || matches!(c, '|' | ',' | ';'))
        .filter(|t| !t.is_empty() && *t != "-")
        .take(6)
    {
        let t = token.trim_end_matches(':');
        if t.len() >= 3 && t.chars().all(|c| c.is_ascii_uppercase()) {
            if let Some(l) = Level::parse(t) {
                return Some(l);
            }
        }
    }
    None
}

/// A line's level: its own, or, when it continues the record before it
/// (indented, a stack frame, a traceback's or panic's body), `prev`. A
/// fresh line with no level of its own has none: an access log line after
/// a traceback is not an error.
pub fn carry(prev: Option<Level>, line: &str) -> Option<Level> {
    detect(line).or_else(|| continues(line).then_some(prev).flatten())
}

/// Does this line continue the record before it?
pub fn continues(line: &str) -> bool {
    let t = line.trim_end();
    t.is_empty()
        || line.starts_with([' ', '\t'])
        || [
            "Caused by",
            "During handling of the above exception",
            "The above exception was the direct cause",
            "goroutine ",
            "created by ",
            "...",
        ]
        .iter()
        .any(|p| t.starts_with(p))
        // A Go frame: `main.main()`, `net/http.(*Server).Serve(0x1, …)`.
        || (t.ends_with(')') && !t.contains(' ') && t.contains('('))
}

/// `Traceback (most recent call last):`, `ConnectionResetError: [Errno
/// 104] …`, `requests.exceptions.HTTPError: …`, `panic: …`,
/// `Exception in thread "main" …`.
fn crash_report(t: &str) -> Option<Level> {
    if t.starts_with("Traceback (most recent call last)")
        || t.starts_with("panic: ")
        || t.starts_with("Exception in thread ")
        || t.starts_with("fatal error: ")
    {
        return Some(Level::Error);
    }
    let name = t.split_once(':').map(|(n, _)| n).unwrap_or(t);
    let dotted = name.split('.').all(|part| {
        part.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    let last = name.rsplit('.').next().unwrap_or(name);
    let is_exception = ["Error", "Exception", "Exit", "Interrupt"]
        .iter()
        .any(|s| last.ends_with(s) && last.len() > s.len() || last == "Exception");
    (dotted && is_exception && (t.len() == name.len() || t[name.len()..].starts_with(": ")))
        .then_some(Level::Error)
}

fn prefix(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `level=info`, `lvl=WARN`, `severity="error"` (logfmt, slog's text handler).
fn key_value(head: &str) -> Option<Level> {
    for key in ["level=", "lvl=", "severity=", "loglevel="] {
        let mut rest = head;
        while let Some(i) = rest.find(key) {
            let at_word_start = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
            let value = &rest[i + key.len()..];
            if at_word_start {
                let end = value
                    .find(|c: char| c.is_whitespace() || c == ',')
                    .unwrap_or(value.len());
                if let Some(l) = Level::parse(&value[..end]) {
                    return Some(l);
                }
            }
            rest = value;
        }
    }
    None
}

/// `"level":"warn"` and its common spellings, without parsing the object.
fn json_level(head: &str) -> Option<Level> {
    for key in [
        "\"level\"",
        "\"lvl\"",
        "\"severity\"",
        "\"levelname\"",
        "\"log.level\"",
    ] {
        let Some(i) = head.find(key) else { continue };
        let rest = head[i + key.len()..].trim_start().strip_prefix(':')?;
        let rest = rest.trim_start().strip_prefix('"')?;
        let end = rest.find('"')?;
        if let Some(l) = Level::parse(&rest[..end]) {
            return Some(l);
        }
    }
    None
}

fn klog(s: &str) -> Option<Level> {
    let b = s.as_bytes();
    if b.len() < 6 || !b[1..5].iter().all(u8::is_ascii_digit) || b[5] != b' ' {
        return None;
    }
    match b[0] {
        b'I' => Some(Level::Info),
        b'W' => Some(Level::Warn),
        b'E' | b'F' => Some(Level::Error),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formats_services_write() {
        use Level::*;
        for (line, want) in [
            // Temporal's own text log (slog's text handler) and its JSON.
            (
                r#"time=2026-11-22T08:22:25.550Z level=INFO msg="frontend started" service=frontend"#,
                Some(Info),
            ),
            (
                r#"time=2026-11-22T08:22:25.550Z level=WARN msg="no namespace" component=worker"#,
                Some(Warn),
            ),
            (
                r#"{"level":"error","ts":"2026-11-22T08:22:25.550Z","msg":"unable to bind","port":7233}"#,
                Some(Error),
            ),
            (r#"{"time":"…","level":"DEBUG","msg":"poll"}"#, Some(Debug)),
            (r#"{"msg":"x","severity":"warning"}"#, Some(Warn)),
            // logfmt with quotes, other keys.
            (r#"ts=1 lvl="error" msg=boom"#, Some(Error)),
            // Brackets.
            ("[WARN] disk almost full", Some(Warn)),
            (
                "2026-11-22 08:00:00 [error] connection refused",
                Some(Error),
            ),
            ("12:00:01 <info> listening", Some(Info)),
            // Python's logging defaults.
            ("WARNING:root:retrying in 2 s", Some(Warn)),
            ("ERROR:temporalio.worker:Worker failed", Some(Error)),
            (
                "2026-11-22 08:00:00,123 - worker - INFO - polling task queue hello",
                Some(Info),
            ),
            ("CRITICAL:app:dying", Some(Error)),
            // Go: zap console, klog, logrus text.
            (
                "2026-11-22T08:00:00.000Z\tINFO\tworker/worker.go:12\tstarted",
                Some(Info),
            ),
            (
                "E1122 08:00:00.123456    1234 main.go:42] failed",
                Some(Error),
            ),
            ("W1122 08:00:00.123456    1234 main.go:42] slow", Some(Warn)),
            (
                "time=\"2026-11-22T08:00:00Z\" level=fatal msg=bye",
                Some(Error),
            ),
            ("2026/11/22 08:00:00 ERROR something broke", Some(Error)),
            ("DEBUG poller: got task", Some(Debug)),
            // No level: prose mentioning errors, stack traces, plain output.
            ("the request failed with an error", None),
            ("    raise ValueError(\"boom\")", None),
            ("    File \"x.py\", line 3, in handle", None),
            ("ErrorHandler registered", None),
            ("Error: see above", None),
            ("MyError happened", None),
            // Crash reports: a Python traceback and its exception, Go, Java.
            ("Traceback (most recent call last):", Some(Error)),
            (
                "ConnectionResetError: [Errno 104] Connection reset by peer",
                Some(Error),
            ),
            ("temporalio.exceptions.ApplicationError: boom", Some(Error)),
            ("KeyboardInterrupt", Some(Error)),
            ("panic: runtime error: index out of range", Some(Error)),
            (
                "Exception in thread \"main\" java.lang.NullPointerException",
                Some(Error),
            ),
            ("Temporal Server:      localhost:7233", None),
            ("fixture 123 up", None),
            ("", None),
            ("[1/3] building", None),
            ("error_count=3 ok", None),
        ] {
            assert_eq!(detect(line), want, "{line:?}");
        }
    }

    #[test]
    fn only_continuations_carry_the_level_before_them() {
        use Level::*;
        let mut prev = None;
        let got: Vec<Option<Level>> = [
            "level=INFO msg=serving",
            "greeter: GET /health 200",
            "Traceback (most recent call last):",
            "  File \"x.py\", line 3, in handle",
            "    self.wfile.write(body)",
            "ConnectionResetError: [Errno 104] Connection reset by peer",
            "",
            "greeter: GET /greet 200",
            "panic: boom",
            "",
            "goroutine 1 [running]:",
            "main.main()",
            "\t/src/main.go:12 +0x1d",
            "level=WARN msg=slow",
            "    at frame",
        ]
        .iter()
        .map(|l| {
            prev = carry(prev, l);
            prev
        })
        .collect();
        assert_eq!(
            got,
            vec![
                Some(Info),
                None,
                Some(Error),
                Some(Error),
                Some(Error),
                Some(Error),
                Some(Error),
                None,
                Some(Error),
                Some(Error),
                Some(Error),
                Some(Error),
                Some(Error),
                Some(Warn),
                Some(Warn),
            ]
        );
    }

    #[test]
    fn long_and_odd_lines_are_cheap_and_safe() {
        let long = format!("{}level=error", "x".repeat(10_000));
        assert_eq!(detect(&long), None, "only the head is looked at");
        let multibyte = "é".repeat(400) + " ERROR";
        let _ = detect(&multibyte); // no panic on a char boundary
        assert_eq!(detect("{\"level\":"), None);
        assert_eq!(detect("{\"level\":\"info"), None);
        assert_eq!(detect("level="), None);
    }

    #[test]
    fn levels_order_and_cycle() {
        assert!(Level::Debug < Level::Info && Level::Warn < Level::Error);
        let mut m = None;
        let mut seen = vec![];
        for _ in 0..4 {
            m = Level::cycle(m);
            seen.push(m);
        }
        assert_eq!(
            seen,
            vec![
                Some(Level::Info),
                Some(Level::Warn),
                Some(Level::Error),
                None
            ]
        );
        assert_eq!(Level::parse("Warning"), Some(Level::Warn));
        assert_eq!(Level::parse("nope"), None);
    }
}
