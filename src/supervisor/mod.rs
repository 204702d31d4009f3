//! Supervision: a pure state machine (`core`) and the actor that does its
//! I/O (`actor`). The dashboard and `start --foreground` run the same actor.

pub mod actor;
pub mod core;

pub use self::actor::{Command, Handle, Snapshot};
pub use self::core::{Core, ExitInfo, Phase};
pub mod handover;
pub mod history;
pub(crate) mod rotator;
pub mod stack;

pub use self::stack::{StackCommand, StackHandle, StackSnapshot};
