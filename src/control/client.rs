//! The socket's clients: one connection (`Client`), a subscription
//! (`attach`), who is behind the socket (`supervisor_state`), and starting
//! a detached supervisor (`spawn_supervisor`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use super::{Reply, Request, SupervisorSummary, Verb};
use crate::config::service::Stack;
use crate::supervisor::history::HistoryEvent;
use crate::view::ServiceView;

/// A connection to the supervisor.
pub struct Client {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
    /// The PID of the process that listens (the kernel's word, from when it
    /// called `listen`: known even when it does not answer).
    pub peer: Option<i32>,
    /// The supervisor behind it was started by this process a moment ago,
    /// with this very stack (`spawn_supervisor`): it needs no `reload`.
    pub ours: bool,
}

impl Client {
    /// Connects, within `timeout`; `None` when no supervisor answers.
    pub async fn connect(path: &Path, timeout: Duration) -> Option<Client> {
        let s = tokio::time::timeout(timeout, UnixStream::connect(path))
            .await
            .ok()?
            .ok()?;
        let peer = s.peer_cred().ok().and_then(|c| c.pid());
        let (rd, wr) = s.into_split();
        Some(Client {
            reader: BufReader::new(rd),
            writer: wr,
            peer,
            ours: false,
        })
    }

    pub async fn send(&mut self, req: &Request) -> std::io::Result<()> {
        let mut line = serde_json::to_string(req).map_err(std::io::Error::other)?;
        line.push('\n');
        self.writer.write_all(line.as_bytes()).await
    }

    /// The next reply; `None` when the supervisor closed. A line that is
    /// no reply this client knows is skipped.
    pub async fn next(&mut self) -> Option<Reply> {
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {
                    if let Ok(r) = serde_json::from_str(&line) {
                        return Some(r);
                    }
                }
            }
        }
    }

    /// `view`: the supervisor's view of every service.
    pub async fn view(&mut self) -> Option<Vec<ServiceView>> {
        self.send(&Request::View).await.ok()?;
        match tokio::time::timeout(Duration::from_secs(2), self.next())
            .await
            .ok()??
        {
            Reply::Snapshot { snapshot } => Some(snapshot),
            _ => None,
        }
    }

    /// `reload`: the supervisor runs the file as it is now (or `config`
    /// from now on); bounded by `limit` (its stops may take their grace).
    pub async fn reload(
        &mut self,
        config: Option<PathBuf>,
        profiles: Option<Vec<String>>,
        limit: Duration,
    ) -> Result<crate::config::diff::Diff, String> {
        self.reloading(Request::Reload { config, profiles }, limit)
            .await
    }

    /// A request answered by `reloaded` (`reload`, `scale`), bounded.
    pub async fn reloading(
        &mut self,
        req: Request,
        limit: Duration,
    ) -> Result<crate::config::diff::Diff, String> {
        self.send(&req)
            .await
            .map_err(|e| format!("the supervisor did not take the reload: {e}"))?;
        match tokio::time::timeout(limit, self.next()).await {
            Ok(Some(Reply::Reloaded { reloaded, .. })) => Ok(reloaded),
            Ok(Some(Reply::Error { error, .. })) => Err(error),
            Ok(_) => Err("the supervisor went away during the reload".into()),
            Err(_) => Err(format!(
                "the supervisor did not answer the reload in {} s",
                limit.as_secs()
            )),
        }
    }

    /// `hello`: who the supervisor is.
    pub async fn hello(&mut self) -> Option<SupervisorSummary> {
        self.send(&Request::Hello).await.ok()?;
        match tokio::time::timeout(Duration::from_secs(2), self.next())
            .await
            .ok()??
        {
            Reply::Hello { supervisor, .. } => Some(supervisor),
            _ => None,
        }
    }
}

/// What an attached client receives.
#[derive(Debug)]
pub enum Feed {
    Event(HistoryEvent),
    Snapshot(Vec<ServiceView>),
    /// The supervisor closed the connection (it exited, or dropped us).
    Closed,
}

/// A client attached to the supervisor: its history and view come in on
/// `feed`, commands go out with [`Attached::command`]. Dropping it detaches.
pub struct Attached {
    pub supervisor: SupervisorSummary,
    pub feed: mpsc::Receiver<Feed>,
    out: mpsc::Sender<Request>,
    tasks: [tokio::task::JoinHandle<()>; 2],
}

impl Drop for Attached {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Attached {
    /// Asks the supervisor for `command` on `service` (or the stack for
    /// start and stop); false when the connection is gone or full.
    pub fn command(&self, verb: Verb, service: Option<&str>) -> bool {
        let req = Request::Command {
            command: verb.to_string(),
            service: service.map(String::from),
        };
        self.out.try_send(req).is_ok()
    }

    /// Asks a detached supervisor to exit (leaving services as they are).
    /// Asks it to run `stack`'s file and profiles from now on (its
    /// answer comes as a `reloaded` event, or a `config error`).
    pub fn reload(&self, stack: &Stack) -> bool {
        let req = Request::Reload {
            config: stack.settings.config_path.clone(),
            profiles: Some(stack.settings.profiles.clone()),
        };
        self.out.try_send(req).is_ok()
    }

    pub fn shutdown(&self) -> bool {
        self.out.try_send(Request::Shutdown).is_ok()
    }
}

/// Attaches to the supervisor answering on `socket`, if one does.
pub async fn attach(socket: &Path, timeout: Duration) -> Option<Attached> {
    let mut c = Client::connect(socket, timeout).await?;
    let supervisor = c.hello().await?;
    c.send(&Request::Subscribe { snapshots: true }).await.ok()?;
    let Client {
        mut reader,
        mut writer,
        ..
    } = c;
    let (feed_tx, feed) = mpsc::channel(1024);
    let read = tokio::spawn(async move {
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let item = match serde_json::from_str::<Reply>(&line) {
                Ok(Reply::Event { event }) => Some(Feed::Event(event)),
                Ok(Reply::Snapshot { snapshot }) => Some(Feed::Snapshot(snapshot)),
                Ok(Reply::Error { error, .. }) => {
                    tracing::warn!("supervisor: {error}");
                    None
                }
                _ => None,
            };
            if let Some(item) = item {
                if feed_tx.send(item).await.is_err() {
                    return;
                }
            }
        }
        let _ = feed_tx.send(Feed::Closed).await;
    });
    let (out, mut out_rx) = mpsc::channel::<Request>(32);
    let write = tokio::spawn(async move {
        while let Some(req) = out_rx.recv().await {
            let Ok(mut line) = serde_json::to_string(&req) else {
                continue;
            };
            line.push('\n');
            if writer.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    Some(Attached {
        supervisor,
        feed,
        out,
        tasks: [read, write],
    })
}

/// The running supervisor's summary, if one answers on the socket.
pub async fn supervisor_summary(socket: &Path) -> Option<SupervisorSummary> {
    match supervisor_state(socket).await {
        SupervisorState::Answering(s) => Some(s),
        _ => None,
    }
}

/// Who is behind the socket, and whether it answers.
#[derive(Debug, Clone, PartialEq)]
pub enum SupervisorState {
    Answering(SupervisorSummary),
    /// Its socket takes connections but it does not answer `hello` in time
    /// (stopped with SIGSTOP, or wedged).
    NotAnswering(Option<i32>),
    /// Nobody listens.
    None,
}

impl SupervisorState {
    /// What to tell a user who cannot reach it.
    pub fn not_answering(pid: Option<i32>) -> String {
        match pid {
            Some(p) => format!(
                "the supervisor (PID {p}) is not answering (stopped? `kill -CONT {p}` resumes it; `stigmer local kill` stops the services without it)"
            ),
            None => "the supervisor is not answering (stopped or wedged); `stigmer local kill` stops the services without it".into(),
        }
    }
}

/// Asks the supervisor behind `socket` who it is, bounded (2 s).
pub async fn supervisor_state(socket: &Path) -> SupervisorState {
    let Some(mut c) = Client::connect(socket, Duration::from_millis(500)).await else {
        return SupervisorState::None;
    };
    match c.hello().await {
        Some(s) => SupervisorState::Answering(s),
        None => SupervisorState::NotAnswering(c.peer),
    }
}

/// Who is behind the socket and, when it answers, its view of every
/// service (empty otherwise); each step bounded (2 s).
pub async fn supervisor_and_views(socket: &Path) -> (SupervisorState, Vec<ServiceView>) {
    let Some(mut c) = Client::connect(socket, Duration::from_millis(500)).await else {
        return (SupervisorState::None, vec![]);
    };
    let Some(s) = c.hello().await else {
        return (SupervisorState::NotAnswering(c.peer), vec![]);
    };
    let views = c.view().await.unwrap_or_default();
    (SupervisorState::Answering(s), views)
}

/// `$STIGMER_UNSUPERVISED` set to a true value: leave no supervisor behind.
pub fn unsupervised_by_env() -> bool {
    std::env::var("STIGMER_UNSUPERVISED").is_ok_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "y" | "on"
        )
    })
}

/// The arguments that make a child `stigmer` see the same stack.
pub fn same_stack_args(stack: &Stack, port: Option<u16>) -> Vec<std::ffi::OsString> {
    let s = &stack.settings;
    let mut args: Vec<std::ffi::OsString> = vec!["--home".into(), s.state.root().into()];
    if let Some(c) = &s.config_path {
        args.push("--config".into());
        args.push(c.into());
    }
    if let Some(p) = port {
        args.push("--port".into());
        args.push(p.to_string().into());
    }
    // The same profiles, on the command line: it must not read another
    // STIGMER_PROFILE from its environment.
    for p in &s.profiles {
        args.push("--profile".into());
        args.push(p.into());
    }
    args
}

/// Why no detached supervisor could be had, with where to look.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct NoSupervisor(pub String);

/// Starts a detached supervisor (`local supervise`: its own session, stdin
/// `/dev/null`, output appended to `logs/stigmer.log`) and waits, bounded,
/// until it says on the readiness pipe that its socket listens (or, when it
/// lost the race for the lock, until the winner's socket answers).
pub async fn spawn_supervisor(stack: &Stack, port: Option<u16>) -> Result<Client, NoSupervisor> {
    use super::ready::{self, Notice, Pipe};
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()
        .map_err(|e| NoSupervisor(format!("cannot find stigmer itself: {e}")))?;
    let s = &stack.settings;
    let log_path: PathBuf = s.state.logs_dir().join("stigmer.log");
    let log = crate::state::open_private(&log_path, true)
        .map_err(|e| NoSupervisor(crate::state::refusal(&log_path, &e)))?;
    let log2 = log.try_clone().map_err(|e| NoSupervisor(e.to_string()))?;
    let pipe = Pipe::new().map_err(|e| NoSupervisor(format!("cannot make a pipe: {e}")))?;
    let write = std::os::fd::AsRawFd::as_raw_fd(&pipe.write);
    let mut cmd = std::process::Command::new(exe);
    cmd.args(same_stack_args(stack, port))
        .args(["local", "supervise", "--ready-fd"])
        .arg(ready::READY_FD.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: setsid, close_range, fcntl and dup2 are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::setsid()?;
            // Only stdio and the readiness pipe cross the exec.
            crate::platform::cloexec_from(3);
            Pipe::install_in_child(write)
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| NoSupervisor(format!("cannot start the supervisor: {e}")))?;
    drop(cmd); // its copies of the log's descriptors
    drop(pipe.write); // only the child holds it now: its exit ends the pipe
    let pid = child.id() as i32;
    let socket = s.state.socket_path();
    // Bounded: silence for 10 s is `None`.
    let notice = ready::wait_notice(pipe.read, Duration::from_secs(10));
    tokio::pin!(notice);
    let said = loop {
        // Until it speaks, the socket is tried now and then: a supervisor
        // that won the race against ours answers there while ours waits
        // for the lock.
        tokio::select! {
            n = &mut notice => break n,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                if let Some(c) = Client::connect(&socket, Duration::from_millis(200)).await {
                    return Ok(c);
                }
            }
        }
    };
    // It outlives us in its own session; when we exit, init becomes its
    // parent and reaps it.
    match said {
        Some(Notice::Ready) => match Client::connect(&socket, Duration::from_millis(500)).await {
            Some(mut c) => {
                c.ours = c.peer == Some(pid);
                Ok(c)
            }
            None => Err(NoSupervisor(format!(
                "the supervisor (PID {pid}) said it listens, but its socket does not answer; see {}",
                log_path.display()
            ))),
        },
        Some(Notice::NoSocket) => Err(NoSupervisor(format!(
            "the supervisor (PID {pid}) runs without a control socket; see {}",
            log_path.display()
        ))),
        Some(Notice::Ended) => {
            // Lost a race with another supervisor (use that one), or died.
            if let Some(c) = Client::connect(&socket, Duration::from_millis(500)).await {
                return Ok(c);
            }
            let how = match child.try_wait() {
                Ok(Some(st)) => format!("exited at once ({st})"),
                _ => "closed its readiness pipe".to_string(),
            };
            Err(NoSupervisor(format!(
                "the supervisor {how}; see {}",
                log_path.display()
            )))
        }
        None => Err(NoSupervisor(format!(
            "the supervisor (PID {pid}) did not answer within 10 s; see {}",
            log_path.display()
        ))),
    }
}
