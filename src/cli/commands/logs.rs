//! `local logs`: the last lines, filters over rotated files, merged in
//! time order for a stack, followed with `-f`.

use super::*;

/// `local logs`' filters, or an error that says what is wrong with them.
pub(super) fn log_query(
    level: Option<&str>,
    grep: Option<&str>,
    since: Option<&str>,
) -> Result<crate::logs::query::Query> {
    use crate::logs::level::Level;
    let min_level = match level {
        None => None,
        Some(l) => Some(
            Level::parse(l)
                .with_context(|| format!("--level {l:?}: use trace, debug, info, warn or error"))?,
        ),
    };
    let grep = match grep {
        None => None,
        Some(g) => {
            Some(crate::logs::query::Search::new(g).map_err(|e| anyhow::anyhow!("--grep {e}"))?)
        }
    };
    let since_ms = match since {
        None => None,
        Some(d) => {
            let d = humantime::parse_duration(d).map_err(|e| {
                anyhow::anyhow!("--since {d:?}: {e}; write a duration such as 90s, 15m or 2h")
            })?;
            Some(crate::util::clock::now_ms() as i64 - d.as_millis().min(i64::MAX as u128) as i64)
        }
    };
    Ok(crate::logs::query::Query {
        min_level,
        grep,
        since_ms,
    })
}

/// One line of `local logs`, as text or JSON.
pub(super) fn print_log_line(
    service: &str,
    label: &str,
    e: &crate::logs::query::Entry,
    json: bool,
) {
    if json {
        let v = serde_json::json!({
            "service": service,
            "time": e.time_ms.map(|t| crate::util::clock::rfc3339_ms(t.max(0) as u64)),
            "level": e.level.map(|l| l.name()),
            "line": e.line,
        });
        crate::outln!("{v}");
    } else {
        crate::outln!("{label}{}", e.line);
    }
}

pub(super) async fn logs(
    stack: &Stack,
    name: Option<String>,
    follow: bool,
    lines: usize,
    query: crate::logs::query::Query,
    json: bool,
) -> Result<ExitCode> {
    use crate::logs::query::Reader;
    let ctxs = one_or_all(stack, name.as_deref())?;
    let named = ctxs.len() > 1;
    let width = ctxs.iter().map(|c| c.spec.name.len()).max().unwrap_or(0);
    let label = |c: &Ctx| {
        if named {
            format!("{:<width$} | ", c.spec.name)
        } else {
            String::new()
        }
    };
    let keep = stack.settings.rotation.keep;
    let mut tails = Vec::new();
    let mut shown: Vec<Vec<crate::logs::query::Entry>> = Vec::new();
    for c in &ctxs {
        let path = &c.spec.paths.log;
        if let Some(why) = crate::state::file_problem(path) {
            if !named {
                bail!("{why}");
            }
            crate::errln!("stigmer: {why}");
            continue;
        }
        let l = label(c);
        let end = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let mut reader = Reader::new(&query);
        if named {
            reader = reader.with_times();
        }
        let mut out = Vec::new();
        if query.is_empty() {
            for line in LogTail::last_lines(path, lines) {
                out.push(reader.entry(line));
            }
        } else {
            // Every kept file, oldest first; the last `lines` kept lines.
            let files = crate::logs::rotate::all_files(path, keep);
            let kept =
                crate::util::blocking::blocking(|| last_kept(&files, &mut reader, &query, lines));
            if query.since_ms.is_some() && !kept.1 {
                crate::errln!(
                    "stigmer: {}: its log has no timestamps stigmer can read, so --since keeps none of it",
                    c.spec.name
                );
            }
            out.extend(kept.0);
        }
        shown.push(out);
        tails.push((
            c.spec.name.clone(),
            l,
            LogTail::from_offset(path, end),
            reader,
        ));
    }
    // One log as it is; several merged in time order (the last `lines` of
    // all), each line with its service's name.
    let merged = crate::logs::query::merge_by_time(shown);
    for (i, e) in &merged[merged
        .len()
        .saturating_sub(if named { lines } else { usize::MAX })..]
    {
        let (name, l, ..) = &tails[*i];
        print_log_line(name, l, e, json);
    }
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    follow_all(tails, query, json).await
}

/// The last `lines` lines of `files` (oldest first) that `query` keeps,
/// and whether any line had a time stigmer can read.
fn last_kept(
    files: &[std::path::PathBuf],
    reader: &mut crate::logs::query::Reader,
    query: &crate::logs::query::Query,
    lines: usize,
) -> (std::collections::VecDeque<crate::logs::query::Entry>, bool) {
    let mut ring = std::collections::VecDeque::new();
    let mut timed = false;
    for f in files {
        let Ok(file) = crate::state::open_read_nofollow(f) else {
            continue;
        };
        let mut r = std::io::BufReader::new(file);
        let mut buf = Vec::new();
        // Capped: a line of any length costs bounded memory.
        while matches!(crate::logs::tail::read_line_capped(&mut r, &mut buf), Ok(n) if n > 0) {
            let text = String::from_utf8_lossy(&buf);
            let e = reader.entry(text.trim_end_matches(['\n', '\r']).to_string());
            buf.clear();
            timed |= e.time_ms.is_some();
            if query.keeps(&e) {
                if ring.len() == lines {
                    ring.pop_front();
                }
                if lines > 0 {
                    ring.push_back(e);
                }
            }
        }
    }
    (ring, timed)
}

/// Interleaved by arrival: every log is polled in turn. What arrives now
/// is recent whatever its text says: --since no longer applies.
async fn follow_all(
    mut tails: Vec<(String, String, LogTail, crate::logs::query::Reader)>,
    query: crate::logs::query::Query,
    json: bool,
) -> Result<ExitCode> {
    let query = crate::logs::query::Query {
        since_ms: None,
        ..query
    };
    loop {
        for (name, l, tail, reader) in &mut tails {
            for line in tail.poll() {
                let e = reader.entry(line);
                if query.keeps(&e) {
                    print_log_line(name, l, &e, json);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
