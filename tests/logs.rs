//! Logs people can work with: rotation under a real writer, `local logs`
//! filters on the real Temporal's log.

mod support;

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use support::*;

/// Every file of a rotated log, oldest first, as one text.
/// Every file of the log, oldest first, read twice alike: a rotation
/// between reading one file and the next would show a chunk twice or not
/// at all (the rotator runs every second).
fn all_of(env: &Env, name: &str, keep: u32) -> String {
    let mut last = read_all(env, name, keep);
    for _ in 0..20 {
        let now = read_all(env, name, keep);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

fn read_all(env: &Env, name: &str, keep: u32) -> String {
    let live = env.home.join(format!("logs/{name}.log"));
    let mut text = String::new();
    for n in (1..=keep).rev() {
        let p = env.home.join(format!("logs/{name}.log.{n}"));
        if let Ok(t) = std::fs::read_to_string(&p) {
            text += &t;
        }
    }
    text + &std::fs::read_to_string(live).unwrap_or_default()
}

#[test]
fn rotation_under_a_writer_holding_the_file_open_loses_no_line() {
    // 20 000 lines of ~45 bytes, one write each, 50 µs apart (~0.9 MB in
    // about 2 s); rotated past 128 KiB, checked every second.
    let env = Env::fixture(
        "logs-rotate",
        &["--count", "20000", "--every-us", "50"],
        "[logs]\nmax_mb = 0.125\nkeep = 20\n",
    );
    // A follower all along, from before the start: `local logs -f` sees
    // every line once, in order, across the rotations.
    let mut follower = Reaped(
        env.command(&["local", "logs", "-f", "-n", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("logs -f"),
    );
    // Read it as it goes (a full pipe would stall it).
    let mut pipe = follower.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = pipe.read_to_string(&mut out);
        out
    });
    std::thread::sleep(Duration::from_millis(300));
    env.ok(&["local", "start"]);
    let done = wait_until(Duration::from_secs(30), || {
        all_of(&env, "temporal", 20).contains("count done")
    });
    assert!(done, "the writer finished");
    // Let the supervisor rotate at least once more after the end.
    std::thread::sleep(Duration::from_millis(2500));
    let text = all_of(&env, "temporal", 20);
    let counted: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("count line "))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(counted.len(), 20_000, "every line kept");
    assert!(
        counted.iter().enumerate().all(|(i, n)| *n == i as u64),
        "in order, none twice"
    );
    let rotated = (1..=20)
        .filter(|n| env.home.join(format!("logs/temporal.log.{n}")).exists())
        .count();
    assert!(rotated >= 2, "rotated {rotated} times");
    let live = std::fs::metadata(env.home.join("logs/temporal.log"))
        .unwrap()
        .len();
    assert!(
        live <= 128 * 1024 + 64 * 1024,
        "the live file is small again: {live}"
    );

    drop(follower);
    let out = reader.join().unwrap();
    let followed: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("count line "))
        .collect();
    let nums: Vec<u64> = followed
        .iter()
        .map(|l| l.split(' ').nth(2).unwrap().parse().unwrap())
        .collect();
    let gaps: Vec<(u64, u64)> = nums
        .windows(2)
        .filter(|w| w[1] != w[0] + 1)
        .map(|w| (w[0], w[1]))
        .collect();
    assert_eq!(
        followed.len(),
        20_000,
        "logs -f saw every line once; first {:?}, gaps {gaps:?}",
        nums.first()
    );
    assert!(followed
        .iter()
        .enumerate()
        .all(|(i, l)| l.starts_with(&format!("count line {i} "))));
    env.ok(&["local", "stop"]);
}

/// The level a Temporal log line declares (`level=WARN`), by the test's own
/// reading; lines without one take the previous line's.
fn oracle_levels(log: &str) -> Vec<(String, Option<String>)> {
    let mut last = None;
    log.lines()
        .map(|l| {
            if let Some(v) = l.split(' ').find_map(|t| t.strip_prefix("level=")) {
                last = Some(v.to_lowercase());
            }
            (l.to_string(), last.clone())
        })
        .collect()
}

#[test]
fn logs_filters_by_level_pattern_and_time_on_the_real_temporal_log() {
    let env = Env::temporal("logs-real");
    // At debug, so that a level filter has real lines to drop.
    env.write_config(&format!(
        "temporal_bin = {:?}\nlog_level = \"debug\"\n",
        temporal_bin().display().to_string()
    ));
    env.ok(&["local", "start"]);
    let log = std::fs::read_to_string(env.home.join("logs/temporal.log")).unwrap();
    let lines = oracle_levels(&log);
    let declared = lines.iter().filter(|(l, _)| l.starts_with("time=")).count();
    assert!(declared > 10, "Temporal logs at info by default:\n{log}");

    // Detection on Temporal's own output: every line it writes with a level
    // is read as that level.
    for (line, level) in &lines {
        if line.starts_with("time=") {
            let want = level
                .as_deref()
                .and_then(stigmer::logs::level::Level::parse);
            assert_eq!(stigmer::logs::level::detect(line), want, "{line}");
        }
    }

    // --level info: exactly the lines at info and above, continuations
    // included (the log may grow meanwhile: compare what both saw).
    let out = env.ok(&["local", "logs", "--level", "info", "-n", "100000"]);
    let rank = |l: &str| {
        ["trace", "debug", "info", "warn", "error"]
            .iter()
            .position(|x| l.starts_with(x))
    };
    let expected: Vec<&str> = lines
        .iter()
        .filter(|(_, lv)| rank(lv.as_deref().unwrap_or("info")).unwrap_or(2) >= 2)
        .map(|(l, _)| l.as_str())
        .collect();
    let got: Vec<&str> = out.lines().collect();
    assert!(
        !expected.is_empty(),
        "a fresh dev server warns at least once:\n{log}"
    );
    assert!(got.len() >= expected.len(), "{out}");
    assert_eq!(&got[..expected.len()], &expected[..]);
    assert!(got.iter().all(|l| !l.contains("level=DEBUG")), "{out}");

    // --grep: a regex, case-insensitive without capitals.
    let out = env.ok(&["local", "logs", "--grep", "frontend|HISTORY"]);
    assert!(!out.is_empty());
    assert!(
        out.lines()
            .all(|l| l.contains("HISTORY") || l.to_lowercase().contains("frontend")),
        "{out}"
    );
    let bad = env.run(&["local", "logs", "--grep", "("], Duration::from_secs(20));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a valid regex"));
    let bad = env.run(
        &["local", "logs", "--level", "loud"],
        Duration::from_secs(20),
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use trace, debug, info, warn or error"));

    // --since: Temporal's local times are read. Lines before the first
    // timed one have no time and are left out; a line without one after it
    // (the banner, printed once the server is up) takes the time before it.
    let out = env.ok(&["local", "logs", "--since", "10m", "-n", "100000"]);
    // Every line is capped at 4 KiB and marked (`…`) on every path.
    let cap = |l: &str| -> String {
        if l.len() <= 4096 {
            return l.to_string();
        }
        let mut end = 4096;
        while !l.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &l[..end])
    };
    let expected: Vec<String> = log
        .lines()
        .skip_while(|l| !l.starts_with("time="))
        .map(cap)
        .collect();
    let got: Vec<&str> = out.lines().collect();
    assert!(got.len() >= expected.len(), "{out}");
    assert_eq!(&got[..expected.len()], &expected[..]);
    // A line stamped an hour ahead (local time, as Temporal writes) is the
    // only one written "since now".
    let ahead = jiff::Zoned::now()
        .checked_add(jiff::Span::new().hours(1))
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%S%.3f")
        .to_string();
    let marker = format!("time={ahead} level=INFO msg=\"from the future\"");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(env.home.join("logs/temporal.log"))
            .unwrap();
        writeln!(f, "{marker}").unwrap();
    }
    let now = env.ok(&["local", "logs", "--since", "0s", "--grep", "msg="]);
    assert!(now.lines().all(|l| l.contains("time=2")), "{now}");
    assert!(now.lines().any(|l| l == marker), "{now}");

    // --json: one object a line; `level` is what the line says (Temporal's
    // banner, which it may print after it answers, says none: kept as
    // info by the filter, `null` in the JSON).
    let out = env.ok(&["local", "logs", "--json", "--level", "info", "-n", "10"]);
    let objs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON a line"))
        .collect();
    assert_eq!(objs.len(), 10);
    assert!(
        objs.iter().all(|o| o["service"] == "temporal"
            && o["line"]
                .as_str()
                .is_some_and(|l| o["level"].is_string() == l.contains("level="))),
        "{objs:#?}"
    );
    assert!(objs.iter().any(|o| o["level"] == "info"), "{objs:#?}");
    env.ok(&["local", "stop"]);
}
