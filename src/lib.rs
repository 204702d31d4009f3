//! stigmer: keeps local dev services (Temporal and the programs that use it)
//! alive and honest, and shows them in a terminal dashboard.
//!
//! The layers, from the bottom up (each folder's `mod.rs` says more;
//! `docs/architecture.md` draws the flows):
//! - `util`: time, bounded waits, blocking sections, output;
//! - `platform`: every fact asked of the operating system (one seam);
//! - `process`: a process's identity, safe signals, the `/proc` scan, usage;
//! - `state`: the state directory, PID files, locks;
//! - `view`: what supervision decided about a service (one type for all);
//! - `logs`: levels, queries, following and rotating log files;
//! - `config`: the config file, the resolved services, the dependency graph;
//! - `probe`: ports, readiness checks, the status of a service (inspect);
//! - `lifecycle`: spawn, readiness, stop, clean — one implementation each;
//! - `temporal`: inside Temporal, from its HTTP API;
//! - `supervisor`: the pure core, the actor per service, the coordinator;
//! - `control`: the supervisor's socket, server and clients;
//! - `ui` (model and drawing, no I/O) and `dash` (the I/O around it);
//! - `cli`: the commands and their human text.

pub mod cli;
pub mod config;
pub mod control;
pub(crate) mod dash;
pub mod lifecycle;
pub mod logs;
pub mod platform;
pub mod probe;
pub mod process;
pub mod state;
pub mod supervisor;
pub mod temporal;
pub mod ui;
pub mod util;
pub mod view;
