//! The state dir's one supervisor lock, held for as long as this process
//! supervises, and let go explicitly at a hand-over.

use std::sync::Arc;

use crate::state::lock::{self, HeldLock};

/// Shared by the coordinator, the rotator and the hand-over.
pub struct SupLock {
    held: std::sync::Mutex<Option<HeldLock>>,
}

impl SupLock {
    /// Tries to take the lock at once.
    pub fn new(path: std::path::PathBuf) -> Arc<Self> {
        let held = lock::try_hold(&path).ok();
        Arc::new(Self {
            held: std::sync::Mutex::new(held),
        })
    }

    pub fn held(&self) -> bool {
        self.held.lock().map(|h| h.is_some()).unwrap_or(false)
    }

    /// Lets the lock go now, whoever still shares this handle: the
    /// hand-over to the next supervisor begins only once it is free.
    pub fn release(&self) {
        if let Ok(mut h) = self.held.lock() {
            h.take();
        }
    }
}
