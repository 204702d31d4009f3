//! stigmer: keeps a local Temporal dev server alive and honest.

pub mod blocking;
pub mod clean;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod dash;
pub mod inspect;
pub mod lifecycle;
pub mod lock;
pub mod logtail;
pub mod ops;
pub mod output;
pub mod pidfile;
pub mod ports;
pub mod process;
pub mod ready;
pub mod service;
pub mod stack;
pub mod state;
pub mod supervisor;
pub mod ui;
pub mod wait;
