//! stigmer: keeps local dev services (Temporal and the programs that use it)
//! alive and honest, and shows them in a terminal dashboard.

pub(crate) mod blocking;
pub(crate) mod clean;
pub mod cli;
pub(crate) mod clock;
pub mod commands;
pub mod config;
pub mod control;
pub(crate) mod dash;
pub mod inspect;
pub mod lifecycle;
pub(crate) mod lock;
pub mod loglevel;
pub mod logquery;
pub(crate) mod logtail;
pub(crate) mod ops;
pub mod output;
pub mod pidfile;
pub(crate) mod ports;
pub mod process;
pub(crate) mod ready;
pub mod rotate;
pub mod service;
pub(crate) mod stack;
pub(crate) mod state;
pub mod supervisor;
pub mod temporal_api;
pub mod ui;
pub(crate) mod wait;
