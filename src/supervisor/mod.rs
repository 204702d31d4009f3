//! Supervision, while this process holds the supervisor lock: a pure state
//! machine per service (`core`), the actor that does its I/O (`actor`), the
//! coordinator of a stack's actors (`coordinator`, started by `stack`), the
//! inspector that looks at the world for them and for the screen
//! (`inspector`), reloading a running stack (`reload`), the history of events (`history`), what a hand-over
//! carries (`handover`), log rotation (`rotator`) and the lock (`suplock`).

pub mod actor;
pub(crate) mod coordinator;
pub mod core;
pub mod handover;
pub mod history;
pub mod inspector;
pub mod reload;
pub(crate) mod rotator;
pub mod stack;
pub mod suplock;
pub mod watch;

pub use self::actor::{Command, Handle};
pub use self::core::{Core, ExitInfo, Phase};
pub use self::stack::{StackCommand, StackHandle};
