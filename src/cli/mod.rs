//! Command-line interface.
//!
//! `commands`: dispatch and each command's flow and human text.

pub mod commands;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "stigmer",
    version,
    about = "Keeps local dev services (Temporal and the programs that use it) alive and honest"
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
    /// Also run the services of this profile (repeatable; default:
    /// $STIGMER_PROFILE, comma-separated). Services without `profiles`
    /// always run.
    #[arg(long = "profile", global = true, value_name = "NAME")]
    pub profiles: Vec<String>,
    #[command(subcommand)]
    pub command: Top,
}

#[derive(Debug, Subcommand)]
pub enum Top {
    /// Manage the local services: Temporal and those of the config
    #[command(subcommand)]
    Local(Local),
    /// Open the terminal dashboard (starts the autostart services that are not running)
    Dash {
        /// Only watch: start nothing when opening
        #[arg(long)]
        no_start: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum Local {
    /// Start services (or reuse running ones) in dependency order and wait until ready
    Start {
        /// Services to start, with what they depend on (default: every autostart service)
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        /// Stay in the foreground and supervise: restart on crash, stop on Ctrl-C
        #[arg(long)]
        foreground: bool,
        /// Start them without a supervisor: nobody restarts them (default:
        /// the state dir's supervisor starts them and keeps watching;
        /// $STIGMER_UNSUPERVISED=1 sets this)
        #[arg(long, env = "STIGMER_UNSUPERVISED", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
        unsupervised: bool,
    },
    /// Make the supervisor run the config file as it is now: added services
    /// start, removed ones stop, changed ones restart, the rest keep their
    /// PIDs (a save does this too). With --config/--profile: run that file,
    /// those profiles, from now on
    Reload {
        #[arg(long)]
        json: bool,
    },
    /// Why a service is not running, or why it started when it did: its
    /// dependency chain with each condition and when it was met, readiness
    /// attempts, last exits, who asked, what it waits for now
    Why {
        #[arg(value_name = "NAME")]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Run N replicas of a service from now on (NAME-1 … NAME-N; over the
    /// file's `replicas` until the supervisor exits): new ones start, extra
    /// ones stop, the rest keep their PIDs
    Scale {
        #[arg(value_name = "NAME")]
        name: String,
        #[arg(value_name = "N")]
        replicas: u32,
        #[arg(long)]
        json: bool,
    },
    /// The supervisor itself, detached (`start` runs it when none runs)
    #[command(hide = true)]
    Supervise {
        /// A pipe to say `ready` on once the socket listens
        #[arg(long, value_name = "FD")]
        ready_fd: Option<i32>,
    },
    /// Print the supervisor's event history (spawned, ready, exited, restarts, …)
    Events {
        /// Keep printing new events
        #[arg(short, long)]
        follow: bool,
        /// One JSON object a line
        #[arg(long)]
        json: bool,
    },
    /// Wait until services are ready (exit 0), or say why not at the timeout
    Wait {
        /// Services to wait for (default: every autostart service)
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        #[arg(long, value_name = "SECS", default_value_t = 60.0)]
        timeout: f64,
    },
    /// Stop gracefully (SIGTERM to each group, dependents first), escalating to SIGKILL
    Stop {
        /// Services to stop, with what depends on them (default: all)
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        /// Seconds to wait before SIGKILL (default: each service's grace_secs)
        #[arg(long, value_name = "SECS")]
        grace: Option<f64>,
    },
    /// SIGKILL the services' whole groups now
    Kill {
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },
    /// Stop, then start
    Restart {
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        #[arg(long, value_name = "SECS")]
        grace: Option<f64>,
    },
    /// Show state, lock, ports, health and processes
    Status {
        /// One service (default: the whole stack)
        #[arg(value_name = "NAME")]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove stale state and kill orphaned/escaped processes proven ours
    Clean {
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        /// Only list what would be done
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a service's log, or every service's, each line prefixed with its name
    Logs {
        #[arg(value_name = "NAME")]
        name: Option<String>,
        /// Keep printing new lines
        #[arg(short, long)]
        follow: bool,
        /// How many lines to print first, per service (default 50; with
        /// --since, all of them)
        #[arg(short = 'n', long)]
        lines: Option<usize>,
        /// Only lines at or above this level: trace, debug, info, warn, error
        /// (a line with no level goes with the line it continues)
        #[arg(long, value_name = "LEVEL")]
        level: Option<String>,
        /// Only lines matching this regex (case-insensitive unless it has
        /// capitals)
        #[arg(long, value_name = "REGEX")]
        grep: Option<String>,
        /// Only lines written in the last DURATION (e.g. 90s, 15m, 2h),
        /// rotated files included
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// One JSON object a line: {service, time, level, line}
        #[arg(long)]
        json: bool,
    },
}
