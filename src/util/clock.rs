//! Wall-clock helpers shared by every layer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

pub fn rfc3339_ms(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// This process's one pairing of the monotonic clock with the wall clock,
/// so that an `Instant` converts to ms since the epoch (and back) the same
/// way every time.
fn anchor() -> (std::time::Instant, u64) {
    static ANCHOR: std::sync::OnceLock<(std::time::Instant, u64)> = std::sync::OnceLock::new();
    *ANCHOR.get_or_init(|| (std::time::Instant::now(), now_ms()))
}

/// `t` as ms since the epoch (for views that cross processes).
pub fn wall_ms(t: std::time::Instant) -> u64 {
    let (i, ms) = anchor();
    match t.checked_duration_since(i) {
        Some(d) => ms + d.as_millis() as u64,
        None => ms.saturating_sub(i.duration_since(t).as_millis() as u64),
    }
}

/// Ms since the epoch as an `Instant` of this process (for countdowns).
pub fn instant_of_ms(at_ms: u64) -> std::time::Instant {
    let (i, ms) = anchor();
    if at_ms >= ms {
        i + Duration::from_millis(at_ms - ms)
    } else {
        i.checked_sub(Duration::from_millis(ms - at_ms))
            .unwrap_or(i)
    }
}
