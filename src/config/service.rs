//! `ServiceSpec`: what one supervised program is, and `Stack`: every service
//! of a config file, checked as a whole. Temporal is the built-in service;
//! nothing below the spec knows it is Temporal.

use std::path::{Path, PathBuf};

use std::time::Duration;

use anyhow::{Context, Result};

use crate::config::graph::Condition;
use crate::config::{
    find_on_path, is_executable, parse_http_url, restart_policy, secs_or, DependsOn, Liveness,
    RestartMode, RestartPolicy, ServiceConfig, Settings,
};

/// What a port of a service is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortRole {
    Grpc,
    Ui,
    Http,
    /// A port a declared service listens on.
    Port,
}

impl PortRole {
    pub fn name(self) -> &'static str {
        match self {
            PortRole::Grpc => "grpc",
            PortRole::Ui => "ui",
            PortRole::Http => "http",
            PortRole::Port => "port",
        }
    }
}

pub use super::stack::Stack;
pub use crate::process::identity::TAG_VAR;

/// Set to a replica's number (1 …) in its environment.
pub const REPLICA_VAR: &str = "STIGMER_REPLICA";

/// The name of the built-in service.
pub const TEMPORAL: &str = "temporal";

/// A service's name for people: "Temporal" for the built-in one, the
/// service's own name otherwise.
pub fn display_name(name: &str) -> &str {
    if name == TEMPORAL {
        "Temporal"
    } else {
        name
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub role: PortRole,
    pub port: u16,
}

/// When a service counts as ready.
#[derive(Debug, Clone)]
pub enum Readiness {
    /// `GET path` on loopback answers 200.
    Http { port: u16, path: String },
    /// A TCP connect to the port succeeds.
    Tcp(u16),
    /// The program exits 0 (run in the service's directory and environment).
    Exec(Vec<String>),
    /// A line the service wrote to its log since it started matches.
    Log(regex::Regex),
    /// It has run this long without exiting.
    Uptime(Duration),
    /// A task: done when it exits with a success code (never while it runs).
    Completed,
}

impl PartialEq for Readiness {
    fn eq(&self, other: &Self) -> bool {
        use Readiness::*;
        match (self, other) {
            (Http { port: a, path: p }, Http { port: b, path: q }) => a == b && p == q,
            (Tcp(a), Tcp(b)) => a == b,
            (Exec(a), Exec(b)) => a == b,
            (Log(a), Log(b)) => a.as_str() == b.as_str(),
            (Uptime(a), Uptime(b)) => a == b,
            (Completed, Completed) => true,
            _ => false,
        }
    }
}

impl Readiness {
    /// The health layer's name.
    pub fn layer(&self) -> &'static str {
        match self {
            Readiness::Http { .. } => "http",
            Readiness::Tcp(_) => "tcp",
            Readiness::Exec(_) => "exec",
            Readiness::Log(_) => "log",
            Readiness::Uptime(_) => "uptime",
            Readiness::Completed => "completed",
        }
    }
}

/// What a change of which restarts a service.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchSpec {
    /// Files and directories (absolute, checked to exist).
    pub paths: Vec<PathBuf>,
    /// Gitignore globs on top of each directory's `.gitignore`.
    pub ignore: Vec<String>,
    pub debounce: Duration,
    pub restart_dependents: bool,
}

/// A service's files in the state dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePaths {
    /// Held by the service itself (taken in its child) for as long as it runs.
    pub lock: PathBuf,
    pub pid: PathBuf,
    pub log: PathBuf,
    /// Serialises the check-then-spawn of concurrent starters of this service.
    pub start_lock: PathBuf,
    /// What the user last asked for (running or stopped).
    pub intent: PathBuf,
    /// A task's last run to completion (so a new supervisor knows it).
    pub completed: PathBuf,
}

impl ServicePaths {
    fn of(state: &crate::state::StateDir, name: &str) -> Self {
        if name == TEMPORAL {
            // Exactly as they always were.
            return Self {
                lock: state.lock_path(),
                pid: state.pid_path(),
                log: state.log_path(),
                start_lock: state.start_lock_path(),
                intent: state.intent_path(),
                completed: state.root().join("temporal.completed.json"),
            };
        }
        let dir = state.service_dir(name);
        Self {
            lock: dir.join("lock"),
            pid: dir.join("pid"),
            log: state.logs_dir().join(format!("{name}.log")),
            start_lock: dir.join("start.lock"),
            intent: dir.join("intent.json"),
            completed: dir.join("completed.json"),
        }
    }
}

/// Equal specs run the same way: a reload keeps such a service as it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub program: Result<PathBuf, super::NoProgram>,
    pub args: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// Added to the environment stigmer itself runs in.
    pub env: Vec<(String, String)>,
    /// The env files its environment was read from, in order.
    pub env_files: Vec<PathBuf>,
    pub ports: Vec<PortSpec>,
    pub readiness: Readiness,
    pub grace: Duration,
    pub ready_timeout: Duration,
    pub restart: RestartPolicy,
    pub liveness: Liveness,
    pub depends_on: Vec<(String, Condition)>,
    pub autostart: bool,
    pub task_queues: Vec<String>,
    /// A task (runs to completion): the exit codes that count as success.
    pub task: Option<Vec<i32>>,
    /// Restart on change of these files.
    pub watch: Option<WatchSpec>,
    pub paths: ServicePaths,
    /// `name:<state-dir hash>:` — every process started for this service in
    /// this state dir carries a tag beginning with this.
    pub tag_prefix: String,
}

fn tag_prefix(name: &str, s: &Settings) -> String {
    format!(
        "{name}:{:016x}:",
        fnv1a(s.state.root().to_string_lossy().as_bytes())
    )
}

impl ServiceSpec {
    /// Whether a process started for `other` is one started for this: all
    /// but what only decides when it starts or what watches it (its
    /// dependencies, `autostart`, `task_queues`, `watch`) is the same. A
    /// reload restarts a service only when this does not hold.
    pub fn runs_same(&self, other: &ServiceSpec) -> bool {
        let bare = |s: &ServiceSpec| ServiceSpec {
            depends_on: vec![],
            autostart: true,
            task_queues: vec![],
            watch: None,
            ..s.clone()
        };
        bare(self) == bare(other)
    }

    pub fn temporal(s: &Settings) -> Self {
        Self {
            name: TEMPORAL.into(),
            program: s.program.clone(),
            args: s.args.clone(),
            cwd: None,
            env: vec![("STIGMER_SERVICE_NAME".into(), TEMPORAL.into())],
            env_files: vec![],
            ports: vec![
                PortSpec {
                    role: PortRole::Grpc,
                    port: s.grpc_port,
                },
                PortSpec {
                    role: PortRole::Ui,
                    port: s.ui_port,
                },
                PortSpec {
                    role: PortRole::Http,
                    port: s.http_port,
                },
            ],
            readiness: Readiness::Http {
                port: s.http_port,
                path: "/api/v1/cluster-info".into(),
            },
            grace: s.grace,
            ready_timeout: s.ready_timeout,
            restart: s.restart,
            liveness: s.liveness,
            depends_on: vec![],
            autostart: s.autostart,
            task_queues: vec![],
            task: None,
            watch: None,
            paths: ServicePaths::of(&s.state, TEMPORAL),
            tag_prefix: tag_prefix(TEMPORAL, s),
        }
    }

    /// A declared service; relative paths are relative to the config file.
    /// The config was validated when parsed; what is checked here needs the
    /// settings (the program's path).
    pub fn from_config(name: &str, c: &ServiceConfig, s: &Settings) -> Result<Self> {
        let dir = &s.config_dir;
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            }
        };
        let cwd = c.cwd.as_deref().map(resolve).unwrap_or_else(|| dir.clone());
        let prog = &c.command[0];
        // A bare name is looked up on PATH at spawn; a path is relative to the file.
        let program = if prog.contains('/') {
            let p = resolve(Path::new(prog));
            if is_executable(&p) {
                Ok(p)
            } else {
                Err(super::NoProgram(format!(
                    "{} is not an executable file; fix command in [services.{name}]",
                    p.display()
                )))
            }
        } else {
            find_on_path(prog, c.env.get("PATH").map(String::as_str)).ok_or_else(|| {
                super::NoProgram(format!("{prog} not found on PATH; install it or write its full path in [services.{name}] command"))
            })
        };
        let (files, from_files) = read_env_files(c, &resolve)?;
        let env = env_of(name, c, s, from_files);
        let (readiness, restart, ready_timeout) = run_policy(c)?;
        Ok(Self {
            name: name.into(),
            program,
            args: c.command[1..].to_vec(),
            cwd: Some(cwd),
            env,
            env_files: files,
            ports: c
                .ports
                .iter()
                .map(|p| PortSpec {
                    role: PortRole::Port,
                    port: *p,
                })
                .collect(),
            readiness,
            grace: secs_or(c.grace_secs, 10),
            ready_timeout,
            restart,
            liveness: c.liveness.clone().unwrap_or_default().policy(),
            depends_on: c
                .depends_on
                .iter()
                .map(|(k, v)| {
                    let cond = match v {
                        DependsOn::Started => Condition::Started,
                        DependsOn::Ready => Condition::Ready,
                        DependsOn::Completed => Condition::Completed,
                    };
                    (k.clone(), cond)
                })
                .collect(),
            autostart: c.autostart.unwrap_or(true),
            task_queues: c.task_queues.clone(),
            watch: watch_of(name, c, &resolve)?,
            task: (c.kind == super::ServiceKind::Task)
                .then(|| c.success_codes.clone().unwrap_or_else(|| vec![0])),
            paths: ServicePaths::of(&s.state, name),
            tag_prefix: tag_prefix(name, s),
        })
    }

    pub fn port(&self, role: PortRole) -> Option<u16> {
        self.ports.iter().find(|p| p.role == role).map(|p| p.port)
    }

    /// A fresh tag value for one start.
    pub fn new_tag(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        format!(
            "{}{:x}-{:x}",
            self.tag_prefix,
            now.as_nanos() as u64,
            std::process::id()
        )
    }
}

/// Stable across builds and versions (unlike `DefaultHasher`), so a newer
/// stigmer still recognises processes an older one started.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// What one service's operations need: the global settings and its spec.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub settings: Settings,
    pub spec: ServiceSpec,
}

impl Ctx {
    /// The built-in Temporal.
    pub fn new(settings: Settings) -> Self {
        let spec = ServiceSpec::temporal(&settings);
        Self { settings, spec }
    }
}

/// A service's environment: `TEMPORAL_ADDRESS` (the built-in Temporal or
/// the external one) and `STIGMER_SERVICE_NAME` unless set, then its own.
fn env_of(
    name: &str,
    c: &ServiceConfig,
    s: &Settings,
    from_files: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    if !c.env.contains_key("TEMPORAL_ADDRESS") {
        match (&s.external, s.enabled) {
            (_, true) => env.push((
                "TEMPORAL_ADDRESS".into(),
                format!("127.0.0.1:{}", s.grpc_port),
            )),
            (Some(x), false) => env.push(("TEMPORAL_ADDRESS".into(), x.grpc.clone())),
            (None, false) => {}
        }
    }
    if !c.env.contains_key("STIGMER_SERVICE_NAME") {
        env.push(("STIGMER_SERVICE_NAME".into(), name.into()));
    }
    // Later entries win: the env files in order, then `env`.
    env.extend(from_files);
    env.extend(c.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Variables, in the order they apply (a later one wins).
type Vars = Vec<(String, String)>;

/// Larger than this, an env file is not one.
const ENV_FILE_CAP: u64 = 1 << 20;

/// A service's env files, read in order (dotenv syntax): the paths read and
/// their variables. A missing file is an error unless it is optional; a
/// directory, a FIFO or a huge file is an error; nothing is half-read.
fn read_env_files(
    c: &ServiceConfig,
    resolve: &impl Fn(&Path) -> PathBuf,
) -> Result<(Vec<PathBuf>, Vars)> {
    let (mut read, mut vars) = (vec![], vec![]);
    for f in c.env_file.list() {
        let path = resolve(f.path());
        let shown = path.display();
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && f.optional() => continue,
            Err(e) => anyhow::bail!(
                "env_file {shown}: {e}; create it, fix the path, or write {{ path = \"{}\", optional = true }}",
                f.path().display()
            ),
            Ok(m) if !m.is_file() => anyhow::bail!(
                "env_file {shown} is not a regular file (a directory or a FIFO?); point env_file at a file"
            ),
            Ok(m) if m.len() > ENV_FILE_CAP => anyhow::bail!(
                "env_file {shown} is {} bytes: more than an env file ({} KiB at most)",
                m.len(),
                ENV_FILE_CAP >> 10
            ),
            Ok(_) => {}
        }
        let items = dotenvy::from_path_iter(&path).with_context(|| format!("env_file {shown}"))?;
        for item in items {
            let (k, v) = item.map_err(|e| anyhow::anyhow!("env_file {shown}: {e}"))?;
            if k == TAG_VAR {
                anyhow::bail!("env_file {shown}: {TAG_VAR} is stigmer's own; remove it");
            }
            vars.push((k, v));
        }
        read.push(path);
    }
    Ok((read, vars))
}

/// How a service says it is ready (an uptime of 1 s when it does not say).
/// When it is ready, how it restarts, how long it may take to be ready: a
/// task is done when it exits (never "ready" while it runs), is not
/// restarted unless asked, and may run 600 s.
fn run_policy(c: &ServiceConfig) -> Result<(Readiness, RestartPolicy, Duration)> {
    let task = c.kind == super::ServiceKind::Task;
    let (readiness, mode, timeout) = if task {
        (Readiness::Completed, RestartMode::Never, 600)
    } else {
        (readiness_of(c)?, RestartMode::OnFailure, 60)
    };
    Ok((
        readiness,
        restart_policy(&c.restart_config()?, mode),
        secs_or(c.ready_timeout_secs, timeout),
    ))
}

/// `watch`, its paths resolved and checked: each must exist.
fn watch_of(
    name: &str,
    c: &ServiceConfig,
    resolve: &impl Fn(&Path) -> PathBuf,
) -> Result<Option<WatchSpec>> {
    let Some(w) = &c.watch else { return Ok(None) };
    let mut paths = vec![];
    for p in &w.paths {
        let abs = resolve(p);
        if std::fs::symlink_metadata(&abs).is_err() {
            anyhow::bail!(
                "watch.paths: {} does not exist; fix the path in [services.{name}] (relative to the config file) or create it",
                abs.display()
            );
        }
        paths.push(abs);
    }
    Ok(Some(WatchSpec {
        paths,
        ignore: w.ignore.clone(),
        debounce: Duration::from_millis(w.debounce_ms.unwrap_or(300)),
        restart_dependents: w.restart_dependents,
    }))
}

fn readiness_of(c: &ServiceConfig) -> Result<Readiness> {
    Ok(match &c.ready {
        None => Readiness::Uptime(Duration::from_secs(1)),
        Some(r) => {
            if let Some(url) = &r.http {
                let (port, path) = parse_http_url(url)?;
                Readiness::Http { port, path }
            } else if let Some(p) = r.tcp {
                Readiness::Tcp(p)
            } else if let Some(argv) = &r.exec {
                Readiness::Exec(argv.clone())
            } else {
                let re = r.log.as_deref().unwrap_or_default();
                Readiness::Log(regex::Regex::new(re).context("ready.log")?)
            }
        }
    })
}
