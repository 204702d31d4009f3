//! Logs: a line's level (`level`), queries over lines and rotated files
//! (`query`), following a file through truncation and rotation (`tail`),
//! and rotating it under a writer that holds it open (`rotate`).

pub mod level;
pub mod query;
pub mod rotate;
pub(crate) mod tail;
