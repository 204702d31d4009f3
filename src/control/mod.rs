//! The supervisor's control socket: newline-delimited JSON over a Unix
//! stream socket (`<home>/stigmer.sock`), described in `docs/supervisor.md`.
//! Every client is its own task with bounded input, a bounded output queue
//! and a request rate limit, so nothing a client does can stall supervision.

use std::time::Duration;

pub const MAX_LINE: usize = 64 * 1024;
pub const MAX_CLIENTS: usize = 64;
pub const MAX_RATE: u32 = 50;
const OUT_QUEUE: usize = 256;
const IDLE: Duration = Duration::from_secs(60);

mod client;
pub mod protocol;
pub mod ready;
mod server;

pub use client::*;
pub use protocol::{Reply, Request, StartResult, SupervisorSummary, Verb};
pub use server::{serve, serve_attached, Served};
