//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "stigmer",
    version,
    about = "Keeps a local Temporal dev server alive and honest"
)]
pub struct Cli {
    /// State directory (default: $STIGMER_HOME, else ~/.stigmer)
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Config file (default: $STIGMER_CONFIG, else ./stigmer.toml, else <home>/config.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Temporal gRPC port (UI = port+1000, HTTP API = port+10 unless configured)
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    #[command(subcommand)]
    pub command: Top,
}

#[derive(Debug, Subcommand)]
pub enum Top {
    /// Manage the local Temporal dev server
    #[command(subcommand)]
    Local(Local),
    /// Open the terminal dashboard
    Dash,
}

#[derive(Debug, Subcommand)]
pub enum Local {
    /// Start Temporal (or reuse the running one) and wait until it is ready
    Start {
        /// Stay in the foreground and supervise: restart on crash, stop on Ctrl-C
        #[arg(long)]
        foreground: bool,
    },
    /// Stop gracefully (SIGTERM to the group), escalating to SIGKILL
    Stop {
        /// Seconds to wait before SIGKILL (default: config grace_secs, else 15)
        #[arg(long, value_name = "SECS")]
        grace: Option<f64>,
    },
    /// SIGKILL the whole group now
    Kill,
    /// Stop, then start
    Restart {
        #[arg(long, value_name = "SECS")]
        grace: Option<f64>,
    },
    /// Show state, lock, ports, health and processes
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Remove stale state and kill orphaned/escaped processes proven ours
    Clean {
        /// Only list what would be done
        #[arg(long)]
        dry_run: bool,
    },
    /// Print Temporal's log
    Logs {
        /// Keep printing new lines
        #[arg(short, long)]
        follow: bool,
        /// How many lines to print first
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: usize,
    },
}
