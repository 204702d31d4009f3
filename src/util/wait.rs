//! The one bounded "poll until" every waiting loop uses.

use std::time::Duration;

use tokio::time::Instant;

/// Checks `cond` every `every` until it holds (true) or `timeout` passes
/// (false). `cond` is checked at least once, and once more at the deadline.
pub async fn poll_until(
    timeout: Duration,
    every: Duration,
    mut cond: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep(every.min(deadline - now)).await;
    }
}

/// [`poll_until`] with an async check (each one bounded by the caller).
pub async fn poll_until_async<F, Fut>(timeout: Duration, every: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep(every.min(deadline - now)).await;
    }
}

/// [`poll_until`] for blocking code (run it inside
/// [`crate::util::blocking::blocking`] when called from async code).
pub fn poll_until_blocking(
    timeout: Duration,
    every: Duration,
    mut cond: impl FnMut() -> bool,
) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(every.min(deadline - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline_and_stops_early_when_true() {
        let mut n = 0;
        assert!(
            !poll_until(
                Duration::from_millis(100),
                Duration::from_millis(10),
                || {
                    n += 1;
                    false
                }
            )
            .await
        );
        assert!((10..=12).contains(&n), "{n} checks");
        let mut m = 0;
        assert!(
            poll_until(Duration::from_secs(9), Duration::from_millis(10), || {
                m += 1;
                m == 3
            })
            .await
        );
        assert_eq!(m, 3);
    }

    #[test]
    fn the_blocking_twin_gives_up_at_the_deadline_too() {
        let t0 = std::time::Instant::now();
        assert!(!poll_until_blocking(
            Duration::from_millis(30),
            Duration::from_millis(5),
            || false
        ));
        assert!(t0.elapsed() >= Duration::from_millis(30));
        let mut n = 0;
        assert!(poll_until_blocking(
            Duration::from_secs(9),
            Duration::from_millis(1),
            || {
                n += 1;
                n == 2
            }
        ));
    }
}
