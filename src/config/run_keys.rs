//! The keys of `[services.NAME]` that say how it runs beyond its command:
//! `kind` (a task runs to completion), `success_codes`, `watch` (restart on
//! change) and `replicas` — their schema and their checks.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::Deserialize;

use super::file::ServiceConfig;

/// At most this many replicas of one service.
pub const MAX_REPLICAS: u32 = 64;

/// Checks a number of replicas (from the file or `local scale`).
pub fn check_replicas(n: u32, ports: bool, port_ready: bool) -> Result<()> {
    if n == 0 || n > MAX_REPLICAS {
        bail!("replicas = {n} must be between 1 and {MAX_REPLICAS} (to run none, stop it)");
    }
    if n > 1 && ports {
        bail!("replicas = {n} with ports: copies cannot all listen on one fixed port; remove ports (and an http or tcp ready on one), or keep one replica");
    }
    if n > 1 && port_ready {
        bail!("replicas = {n} with a ready check on one fixed port: every copy would answer the same port; use ready = {{ log = … }} or {{ exec = … }}");
    }
    Ok(())
}

/// `watch = { paths = ["src"], ignore = ["*.tmp"], debounce_ms = 300,
/// restart_dependents = false }`: paths relative to the config file; each
/// watched directory's `.gitignore` and `ignore` (gitignore globs) say
/// what does not count.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    pub paths: Vec<PathBuf>,
    #[serde(default)]
    pub ignore: Vec<String>,
    pub debounce_ms: Option<u64>,
    #[serde(default)]
    pub restart_dependents: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    #[default]
    Service,
    Task,
}

impl ServiceConfig {
    /// Its ready check asks one fixed port.
    pub fn port_ready(&self) -> bool {
        self.ready
            .as_ref()
            .is_some_and(|r| r.http.is_some() || r.tcp.is_some())
    }

    /// `kind`, `success_codes`, `watch` and `replicas`, checked.
    pub(super) fn validate_run_keys(&self) -> Result<()> {
        if self.kind == ServiceKind::Task {
            if self.ready.is_some() {
                bail!("ready: a task is done when it exits with a success code; remove ready (or make it a service: kind = \"service\")");
            }
            if self.liveness.is_some() {
                bail!("liveness: a task is not checked while it runs; remove liveness");
            }
            if self.ports.iter().any(|_| true) {
                bail!("ports: a task listens on no port for others; remove ports");
            }
        }
        if let Some(w) = &self.watch {
            if w.paths.is_empty() {
                bail!("watch.paths is empty; list the files or directories whose change restarts it, e.g. paths = [\"src\"]");
            }
            if let Some(d) = w.debounce_ms.filter(|d| !(10..=60_000).contains(d)) {
                bail!("watch.debounce_ms = {d} must be between 10 and 60000");
            }
            if self.kind == ServiceKind::Task {
                bail!(
                    "watch: a task runs to completion; restart it with `r` instead (remove watch)"
                );
            }
            for g in &w.ignore {
                ignore::gitignore::GitignoreBuilder::new("/")
                    .add_line(None, g)
                    .map_err(|e| anyhow::anyhow!("watch.ignore: {g:?} is not a glob: {e}"))?;
            }
        }
        if let Some(n) = self.replicas {
            if self.kind == ServiceKind::Task {
                bail!("replicas: a task runs once; remove replicas");
            }
            check_replicas(n, !self.ports.is_empty(), self.port_ready())?;
        }
        match &self.success_codes {
            Some(_) if self.kind != ServiceKind::Task => {
                bail!("success_codes: only a task has them; add kind = \"task\" or remove success_codes")
            }
            Some(c) if c.is_empty() => {
                bail!("success_codes is empty; list the exit codes that count as success, e.g. [0]")
            }
            Some(c) if c.iter().any(|x| !(0..=255).contains(x)) => {
                bail!("success_codes: an exit code is 0-255")
            }
            _ => {}
        }
        Ok(())
    }
}
