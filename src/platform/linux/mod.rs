//! Linux: every fact from `/proc`, netlink and pidfds.

mod files;
mod locks;
mod pidfd;
mod proc;
mod sockets;

pub use files::{cloexec_from, collapse, collapse_possible};
pub use locks::flock_held;
pub use pidfd::{group_exists, signal_group, ProcError, ProcHandle, Signo};
pub use proc::*;
pub use sockets::{connections_to, listeners};
