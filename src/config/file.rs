//! The config file's schema (`config.toml`): the built-in Temporal's keys,
//! `[services.NAME]`, `[restart]`, `liveness`, `[logs]`, readiness — each
//! parsed with the key that is wrong named, and checked before use.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::envfile::EnvFiles;
pub use super::run_keys::*;
use super::{host_port, LOG_LEVELS};
use crate::state::read_capped;

pub const DEFAULT_GRPC_PORT: u16 = 7233;
const CONFIG_CAP: u64 = 256 * 1024;

/// The built-in Temporal service's keys: at the top level of the file (as
/// they always were) or in a `[temporal]` table, not both.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TemporalConfig {
    /// `false` turns the built-in Temporal off (a stack of other services).
    pub enabled: Option<bool>,
    /// With `enabled = false`: an external Temporal's gRPC address
    /// (`host:port`), given to the services as `TEMPORAL_ADDRESS` and
    /// watched (never started or stopped) in the dash and `status`.
    pub address: Option<String>,
    /// Its HTTP API (`host:port`); default: the gRPC port + 10 on its host.
    pub http_address: Option<String>,
    /// Its web UI, shown and opened with `o`.
    pub ui_url: Option<String>,
    /// gRPC frontend port; the UI and HTTP ports follow it unless set.
    pub port: Option<u16>,
    pub ui_port: Option<u16>,
    pub http_port: Option<u16>,
    pub temporal_bin: Option<PathBuf>,
    /// Replaces the program's arguments; `{grpc}`, `{ui}`, `{http}`, `{db}`
    /// and `{home}` are filled in.
    pub args: Option<Vec<String>>,
    /// Added after the default arguments.
    pub extra_args: Option<Vec<String>>,
    /// `false` runs the dev server in memory (no `--db-filename`): faster
    /// to start, and every workflow is lost when it stops.
    pub db: Option<bool>,
    /// The dev server's `--log-level` (debug, info, warn, error, never):
    /// `info` unless set, so its log says what it does (its own default,
    /// `warn`, leaves the log all but empty).
    pub log_level: Option<String>,
    pub grace_secs: Option<f64>,
    pub ready_timeout_secs: Option<f64>,
    pub restart: Option<RestartConfig>,
    pub liveness: Option<LivenessConfig>,
    pub autostart: Option<bool>,
}

/// `liveness = { every_secs = 2, failures = 3, restart = true }`: after a
/// service is ready its readiness check keeps running; `failures` failed
/// checks in a row make it unhealthy and (with `restart`) restart it.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LivenessConfig {
    pub every_secs: Option<f64>,
    pub failures: Option<u32>,
    pub restart: Option<bool>,
}

impl LivenessConfig {
    fn validate(&self) -> Result<()> {
        if let Some(v) = self.every_secs {
            if !(v.is_finite() && (0.1..=3600.0).contains(&v)) {
                bail!("liveness.every_secs = {v} must be between 0.1 and 3600 seconds");
            }
        }
        if matches!(self.failures, Some(n) if n == 0 || n > 1000) {
            bail!("liveness.failures must be between 1 and 1000");
        }
        Ok(())
    }

    /// The policy, over the defaults.
    pub fn policy(&self) -> Liveness {
        let d = Liveness::default();
        Liveness {
            every: self
                .every_secs
                .map(Duration::from_secs_f64)
                .unwrap_or(d.every),
            failures: self.failures.unwrap_or(d.failures),
            restart: self.restart.unwrap_or(d.restart),
        }
    }
}

/// `[logs]`: when each service's log is rotated, and how many old ones stay.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Rotate a log once it is larger than this many MiB (default 10).
    pub max_mb: Option<f64>,
    /// Old files kept as `<name>.log.1` … (default 3; 0 keeps none).
    pub keep: Option<u32>,
}

impl LogsConfig {
    fn validate(&self) -> Result<()> {
        if let Some(m) = self.max_mb {
            if !(m.is_finite() && (0.01..=100_000.0).contains(&m)) {
                bail!("[logs] max_mb = {m} must be between 0.01 and 100000");
            }
        }
        if self.keep.is_some_and(|k| k > 100) {
            bail!("[logs] keep must be at most 100");
        }
        Ok(())
    }

    pub fn policy(&self) -> crate::logs::rotate::Rotation {
        let d = crate::logs::rotate::Rotation::default();
        crate::logs::rotate::Rotation {
            max_bytes: self
                .max_mb
                .map(|m| (m * 1024.0 * 1024.0) as u64)
                .unwrap_or(d.max_bytes),
            keep: self.keep.unwrap_or(d.keep),
        }
    }
}

/// How a ready service keeps being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    pub every: Duration,
    /// Failed checks in a row that make it unhealthy.
    pub failures: u32,
    /// Restart it once unhealthy (gracefully, then by force).
    pub restart: bool,
}

impl Default for Liveness {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(2),
            failures: 3,
            restart: true,
        }
    }
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RestartConfig {
    /// When to restart after an exit nobody asked for.
    pub mode: Option<RestartMode>,
    pub initial_ms: Option<u64>,
    pub max_ms: Option<u64>,
    pub max_failures: Option<u32>,
    pub window_secs: Option<u64>,
}

/// When a process that exited without being asked to is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartMode {
    /// After a non-zero exit or a signal; a clean exit (code 0) stays stopped.
    OnFailure,
    Always,
    Never,
}

/// `[services.NAME]`: one program of the stack.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Program and arguments; no shell unless written `["sh", "-c", "…"]`.
    pub command: Vec<String>,
    pub cwd: Option<PathBuf>,
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub ports: Vec<u16>,
    pub ready: Option<ReadyConfig>,
    #[serde(default)]
    pub depends_on: std::collections::BTreeMap<String, DependsOn>,
    /// `"on-failure" | "always" | "never"`, or a table with `mode` and the
    /// backoff keys of `[restart]`.
    pub restart: Option<toml::Value>,
    pub liveness: Option<LivenessConfig>,
    pub grace_secs: Option<f64>,
    pub ready_timeout_secs: Option<f64>,
    pub autostart: Option<bool>,
    #[serde(default)]
    pub task_queues: Vec<String>,
    /// `env_file = [".env", { path = ".env.local", optional = true }]`:
    /// dotenv files read in order, relative to the config; later files and
    /// `env` win.
    #[serde(default)]
    pub env_file: EnvFiles,
    /// `profiles = ["debug"]`: run only when one of them is selected
    /// (`--profile debug`); without it, the service always runs.
    #[serde(default)]
    pub profiles: Vec<String>,
    /// `kind = "task"`: runs to completion (a setup step); `"service"`
    /// (the default) keeps running.
    #[serde(default)]
    pub kind: ServiceKind,
    /// A task's exit codes that count as success (default `[0]`).
    pub success_codes: Option<Vec<i32>>,
    /// Restart it when its code changes.
    pub watch: Option<WatchConfig>,
    /// `replicas = N`: N copies, NAME-1 … NAME-N, each its own process
    /// group, lock, PID file, log and tag, with `STIGMER_REPLICA` set.
    pub replicas: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DependsOn {
    Started,
    Ready,
    /// A task that exited with a success code.
    Completed,
}

/// Exactly one of these says when a service is ready.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReadyConfig {
    pub http: Option<String>,
    pub tcp: Option<u16>,
    pub exec: Option<Vec<String>>,
    pub log: Option<String>,
}

/// The whole file: the built-in Temporal and the declared services, in the
/// order they are written.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FileConfig {
    pub temporal: TemporalConfig,
    pub logs: LogsConfig,
    pub services: Vec<(String, ServiceConfig)>,
}

impl FileConfig {
    /// A missing file is an empty config (Temporal alone, defaults).
    pub fn load(path: &Path) -> Result<Self> {
        match Self::load_existing(path) {
            Err(e)
                if e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
            {
                Ok(Self::default())
            }
            r => r,
        }
    }

    /// Like `load`, but a missing file is an error (the user named it).
    pub fn load_existing(path: &Path) -> Result<Self> {
        let bytes = match read_capped(path, CONFIG_CAP) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(e.into()),
            Err(e) => anyhow::bail!(
                "cannot read config: {}; fix or remove it",
                crate::state::refusal(path, &e)
            ),
        };
        Self::parse(path, &bytes)
    }

    /// The file's bytes as a config; `path` only names it in errors. Never
    /// panics, whatever the bytes.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let file = path.display();
        let text = std::str::from_utf8(bytes)
            .with_context(|| format!("config {file} is not UTF-8 text; fix or remove it"))?;
        let mut table: toml::Table = toml::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "config {file} is invalid: {}; fix or remove it",
                e.to_string().trim()
            )
        })?;
        let services = table.remove("services");
        let logs = match table.remove("logs") {
            Some(v) => typed::<LogsConfig>(v, &format!("config {file}: [logs]"))?,
            None => LogsConfig::default(),
        };
        logs.validate()
            .with_context(|| format!("config {file} is invalid; fix or remove it"))?;
        let temporal = match table.remove("temporal") {
            Some(_) if !table.is_empty() => {
                let keys: Vec<&str> = table.keys().map(String::as_str).collect();
                bail!(
                    "config {file}: Temporal's keys are both at the top level ({}) and in [temporal]; \
                     move them into [temporal]",
                    keys.join(", ")
                );
            }
            Some(t) => typed::<TemporalConfig>(t, &format!("config {file}: [temporal]"))?,
            None => typed::<TemporalConfig>(toml::Value::Table(table), &format!("config {file}:"))?,
        };
        temporal
            .validate()
            .with_context(|| format!("config {file} is invalid; fix or remove it"))?;
        let mut out = Self {
            temporal,
            logs,
            services: Vec::new(),
        };
        match services {
            None => {}
            Some(toml::Value::Table(t)) => {
                for (name, v) in t {
                    let at = format!("config {file}: [services.{name}]");
                    check_service_name(&name).with_context(|| at.clone())?;
                    let svc = typed::<ServiceConfig>(v, &at)?;
                    svc.validate().with_context(|| at.clone())?;
                    out.services.push((name, svc));
                }
            }
            Some(_) => bail!("config {file}: `services` must be a table of [services.NAME] tables"),
        }
        Ok(out)
    }
}

/// Deserialises one table, naming the key that is wrong.
fn typed<T: serde::de::DeserializeOwned>(v: toml::Value, at: &str) -> Result<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." {
            String::new()
        } else {
            format!(" {path}:")
        };
        let inner = e.inner().to_string();
        // toml appends "in `key`" on lines of its own: the path says it.
        let what = inner.split("\nin `").next().unwrap_or_default().trim();
        anyhow::anyhow!("{at}{key} {what}; fix or remove it")
    })
}

/// `[a-z0-9][a-z0-9_-]*`, and not the built-in's name.
/// A profile's name: `[a-z0-9][a-z0-9_-]*`, like a service's.
pub fn check_profile_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || (i > 0 && (b == b'_' || b == b'-'))
        });
    if !ok {
        bail!("{name:?} is not a profile name: use lower-case letters, digits, '-' and '_'");
    }
    Ok(())
}

/// Names stigmer uses for itself: `stigmer` (its own log and the events it
/// records), `supervisor` (its lock and socket).
pub const RESERVED: &[&str] = &["stigmer", "supervisor"];

pub fn check_service_name(name: &str) -> Result<()> {
    let ok = name.len() <= 64
        && name.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || (i > 0 && (b == b'_' || b == b'-'))
        })
        && !name.is_empty();
    if !ok {
        bail!(
            "{name:?} is not a service name: use lower-case letters, digits, '-' and '_' \
             (starting with a letter or digit, at most 64)"
        );
    }
    if name == "temporal" {
        bail!("`temporal` is the built-in service; configure it with top-level keys or [temporal], or name this service otherwise");
    }
    if RESERVED.contains(&name) {
        bail!(
            "{name:?} is a name stigmer uses for itself (its log, its lock, its events); name this service otherwise"
        );
    }
    Ok(())
}

fn check_secs(name: &str, v: Option<f64>) -> Result<()> {
    if let Some(v) = v {
        if !(v.is_finite() && v > 0.0 && v <= 3600.0) {
            bail!("{name} = {v} must be between 0 and 3600 seconds");
        }
    }
    Ok(())
}

impl RestartConfig {
    fn validate(&self) -> Result<()> {
        if self.max_failures == Some(0) {
            bail!("restart.max_failures must be at least 1");
        }
        Ok(())
    }
}

impl TemporalConfig {
    fn validate(&self) -> Result<()> {
        check_secs("grace_secs", self.grace_secs)?;
        check_secs("ready_timeout_secs", self.ready_timeout_secs)?;
        if let Some(r) = &self.restart {
            r.validate()?;
        }
        if let Some(l) = &self.liveness {
            l.validate()?;
        }
        if self.address.is_some() && self.enabled != Some(false) {
            bail!("address is an external Temporal's: set enabled = false too (or remove address to run the built-in one)");
        }
        if (self.http_address.is_some() || self.ui_url.is_some()) && self.address.is_none() {
            bail!("http_address and ui_url describe an external Temporal: set its address too");
        }
        for (key, v) in [
            ("address", &self.address),
            ("http_address", &self.http_address),
        ] {
            if let Some(a) = v {
                host_port(a).with_context(|| format!("{key} = {a:?}"))?;
            }
        }
        if let Some(l) = &self.log_level {
            if !LOG_LEVELS.contains(&l.as_str()) {
                bail!("log_level = {l:?} must be one of {}", LOG_LEVELS.join(", "));
            }
        }
        if matches!(&self.args, Some(a) if a.is_empty()) {
            bail!("args must not be empty");
        }
        Ok(())
    }
}

impl ServiceConfig {
    fn validate(&self) -> Result<()> {
        if self.command.first().is_none_or(|p| p.trim().is_empty()) {
            bail!("command is empty; write the program and its arguments, e.g. command = [\"python\", \"worker.py\"]");
        }
        check_secs("grace_secs", self.grace_secs)?;
        check_secs("ready_timeout_secs", self.ready_timeout_secs)?;
        for (i, p) in self.ports.iter().enumerate() {
            if *p == 0 {
                bail!("ports: 0 is not a port stigmer can check; use 1-65535");
            }
            if self.ports[..i].contains(p) {
                bail!("ports: {p} is listed twice");
            }
        }
        self.restart_config()?;
        if let Some(l) = &self.liveness {
            l.validate()?;
        }
        if let Some(r) = &self.ready {
            r.validate()?;
        }
        for k in self.env.keys() {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                bail!("env: {k:?} is not a variable name");
            }
        }
        for p in &self.profiles {
            check_profile_name(p).with_context(|| format!("profiles: {p:?}"))?;
        }
        self.validate_run_keys()?;
        if self.env.contains_key(crate::process::identity::TAG_VAR) {
            bail!(
                "env: {} is stigmer's own; remove it",
                crate::process::identity::TAG_VAR
            );
        }
        Ok(())
    }

    /// `restart` as a mode and backoff keys.
    pub fn restart_config(&self) -> Result<RestartConfig> {
        let cfg = match &self.restart {
            None => RestartConfig::default(),
            Some(toml::Value::String(s)) => RestartConfig {
                mode: Some(mode_of(s)?),
                ..Default::default()
            },
            Some(v @ toml::Value::Table(_)) => typed::<RestartConfig>(v.clone(), "restart:")?,
            Some(other) => bail!(
                "restart = {other} must be \"on-failure\", \"always\", \"never\" or a table {{ mode = …, initial_ms = … }}"
            ),
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

fn mode_of(s: &str) -> Result<RestartMode> {
    match s {
        "on-failure" => Ok(RestartMode::OnFailure),
        "always" => Ok(RestartMode::Always),
        "never" => Ok(RestartMode::Never),
        _ => bail!("restart = {s:?} must be \"on-failure\", \"always\" or \"never\""),
    }
}

impl ReadyConfig {
    fn validate(&self) -> Result<()> {
        let n = [
            self.http.is_some(),
            self.tcp.is_some(),
            self.exec.is_some(),
            self.log.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if n != 1 {
            bail!("ready must hold exactly one of http, tcp, exec, log (it holds {n}), e.g. ready = {{ tcp = 8080 }}");
        }
        if let Some(url) = &self.http {
            parse_http_url(url).map_err(|e| anyhow::anyhow!("ready.http: {e}"))?;
        }
        if self.tcp == Some(0) {
            bail!("ready.tcp: 0 is not a port; use 1-65535");
        }
        if matches!(&self.exec, Some(a) if a.first().is_none_or(|p| p.trim().is_empty())) {
            bail!("ready.exec is empty; write a program that exits 0 when the service is ready");
        }
        if let Some(re) = &self.log {
            regex::Regex::new(re)
                .map_err(|e| anyhow::anyhow!("ready.log is not a valid regex: {e}"))?;
        }
        Ok(())
    }
}

/// No program to run, and why (with what to do).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoProgram(pub String);

/// A `ready.http` address that is not a local plain-HTTP one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadUrl(pub String);

/// `http://127.0.0.1:PORT/PATH` (or `localhost`): the probe is a loopback
/// HTTP/1.1 GET, so only local plain-HTTP addresses are accepted.
pub fn parse_http_url(url: &str) -> Result<(u16, String), BadUrl> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        BadUrl(format!(
            "{url:?} must start with http:// (a local plain-HTTP address)"
        ))
    })?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = hostport.rsplit_once(':').ok_or_else(|| {
        BadUrl(format!(
            "{url:?} has no port; write http://127.0.0.1:PORT/path"
        ))
    })?;
    if !matches!(host, "127.0.0.1" | "localhost") {
        return Err(BadUrl(format!(
            "{url:?}: the host must be 127.0.0.1 or localhost (the service runs here)"
        )));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| BadUrl(format!("{url:?}: {port:?} is not a port (1-65535)")))?;
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(BadUrl(format!(
            "{url:?}: the path has spaces or control characters"
        )));
    }
    Ok((port, path.to_string()))
}
