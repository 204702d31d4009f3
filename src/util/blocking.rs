//! Blocking work (`/proc` scans, short bounded sleeps, fork) called from
//! async code runs here, so it never stalls the runtime's worker threads.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `f` where blocking is allowed: on a multi-threaded runtime the
/// current worker hands its other tasks to the rest first
/// (`block_in_place`); outside a runtime, or on a current-thread runtime
/// (unit tests), it simply runs.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}
