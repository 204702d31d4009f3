//! RELIABILITY.md #20: many crash/restart cycles in a row under the
//! supervisor leave no zombies, and its open descriptors and memory stay
//! flat. Prints the figures (`cargo nextest run --no-capture -E 'binary(soak)'`).

mod support;

use std::time::Duration;

use support::*;

/// The supervisor's open descriptors between operations: the fewest seen
/// in ten looks 20 ms apart (a spawn, an exit watch or an inspection in
/// flight holds a few for an instant; a leak raises the floor).
fn fd_count(pid: u32) -> usize {
    (0..10)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|d| d.count())
                .unwrap_or(0)
        })
        .min()
        .unwrap_or(0)
}

/// Children of `parent` that are zombies right now.
fn zombie_children(parent: u32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            stat_field(*pid, 4).is_some_and(|pp| pp == parent.to_string())
                && stat_field(*pid, 3).is_some_and(|s| s == "Z")
        })
        .collect()
}

fn cycles(env: &Env) -> usize {
    env.log().matches(" up: ").count()
}

#[test]
fn two_hundred_crash_restart_cycles_leave_no_zombies_and_flat_fds_and_memory() {
    // Each run is ready at once and exits 30 ms later; restarts are
    // immediate (1 ms backoff cap) and the crash-loop limit is out of reach.
    let mut env = Env::fixture(
        "soak",
        &["--exit-after-ms", "30", "--exit-code", "1"],
        "[restart]\ninitial_ms = 1\nmax_ms = 1\nmax_failures = 100000\nwindow_secs = 1\n",
    );
    let sup = env.spawn_foreground();
    assert!(
        wait_until(Duration::from_secs(60), || cycles(&env) >= 20),
        "warm-up: {} cycles",
        cycles(&env)
    );
    let (fds_20, rss_20) = (fd_count(sup), rss_kb(sup as i32));
    let mut lingering = Vec::new();
    let done = wait_until(Duration::from_secs(180), || {
        // A child may be a zombie for an instant before it is reaped; one
        // still a zombie 200 ms later is a leak.
        for z in zombie_children(sup) {
            std::thread::sleep(Duration::from_millis(200));
            if stat_field(z, 3).is_some_and(|s| s == "Z")
                && stat_field(z, 4).is_some_and(|pp| pp == sup.to_string())
            {
                lingering.push(z);
            }
        }
        cycles(&env) >= 201
    });
    let n = cycles(&env);
    let (fds_200, rss_200) = (fd_count(sup), rss_kb(sup as i32));
    println!(
        "soak: {n} cycles; supervisor fds {fds_20} → {fds_200}; RSS {rss_20} KiB → {rss_200} KiB; \
         lingering zombies {lingering:?}"
    );
    assert!(done, "only {n} cycles in time");
    assert!(lingering.is_empty(), "zombies left: {lingering:?}");
    assert!(
        fds_200 <= fds_20 + 2,
        "descriptors grew: {fds_20} → {fds_200}"
    );
    assert!(
        rss_200 <= rss_20 + 4096,
        "memory grew: {rss_20} → {rss_200} KiB"
    );
    assert!(alive(sup as i32), "the supervisor is still there");
    env.ok(&["local", "stop"]);
}
