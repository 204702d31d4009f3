//! Logs people can work with: rotation under a real writer, `local logs`
//! filters on the real Temporal's log.

mod support;

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use support::*;

/// A child killed and reaped when dropped, even by a failing assertion.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every file of a rotated log, oldest first, as one text.
fn all_of(env: &Env, name: &str, keep: u32) -> String {
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
    let mut env = Env::fixture(
        "logs-rotate",
        &["--count", "20000", "--every-us", "50"],
        "[logs]\nmax_mb = 0.125\nkeep = 20\n",
    );
    env.supervised = true;
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
