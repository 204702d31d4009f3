//! The supervisor's control socket: newline-delimited JSON over a Unix
//! stream socket (`<home>/stigmer.sock`), described in `docs/supervisor.md`.
//! Every client is its own task with bounded input, a bounded output queue
//! and a request rate limit, so nothing a client does can stall supervision.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

use crate::config::service::Stack;
use crate::supervisor::history::{History, HistoryEvent, Kind};
use crate::supervisor::{Command, StackCommand, StackHandle};
use crate::util::clock::{now_ms, rfc3339_ms};
use crate::view::ServiceView;

pub const MAX_LINE: usize = 64 * 1024;
pub const MAX_CLIENTS: usize = 64;
pub const MAX_RATE: u32 = 50;
const OUT_QUEUE: usize = 256;
const IDLE: Duration = Duration::from_secs(60);

pub mod protocol;

pub use protocol::{Reply, Request, StartResult, SupervisorSummary, Verb};

struct Shared {
    stack: Stack,
    history: Arc<History>,
    commands: mpsc::Sender<StackCommand>,
    views: watch::Receiver<Vec<ServiceView>>,
    clients: AtomicUsize,
    since_ms: u64,
    /// Only a detached supervisor exits when asked; a dashboard or a
    /// foreground one belongs to its terminal.
    detached: bool,
    uid: u32,
}

/// A served socket: dropping it stops serving and removes the file.
pub struct Served {
    task: tokio::task::JoinHandle<()>,
    path: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The control socket of a dashboard or `start --foreground`: without one,
/// it supervises all the same, and says so.
pub fn serve_attached(stack: &Stack, handle: &StackHandle) -> Option<Served> {
    match serve(stack.clone(), handle, false) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("no control socket ({e}); supervising without one");
            None
        }
    }
}

/// Binds the socket (replacing a stale file: only the holder of the
/// supervisor lock calls this) and serves it until dropped.
pub fn serve(stack: Stack, handle: &StackHandle, detached: bool) -> std::io::Result<Served> {
    use std::os::unix::fs::PermissionsExt;
    let path = stack.settings.state.socket_path();
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_dir() => {
            return Err(std::io::Error::other(format!(
                "{} is a directory; remove it",
                path.display()
            )))
        }
        Ok(_) => std::fs::remove_file(&path)?, // stale: its supervisor is gone
        Err(_) => {}
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let shared = Arc::new(Shared {
        stack,
        history: handle.history.clone(),
        commands: handle.commands.clone(),
        views: handle.views.clone(),
        clients: AtomicUsize::new(0),
        since_ms: now_ms(),
        detached,
        uid: rustix::process::getuid().as_raw(),
    });
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // EMFILE and the like: back off, never spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let n = shared.clients.fetch_add(1, Ordering::SeqCst) + 1;
                client(stream, &shared, n).await;
                shared.clients.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Ok(Served { task, path })
}

/// Why a request was refused (sent to the client as an error line).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

impl From<String> for Refused {
    fn from(s: String) -> Self {
        Refused(s)
    }
}

fn refuse<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}

fn error_line(e: impl std::fmt::Display) -> String {
    Reply::error(e).line()
}

async fn client(mut stream: UnixStream, shared: &Arc<Shared>, n: usize) {
    let peer = stream.peer_cred().ok();
    let refuse = if n > MAX_CLIENTS {
        Some(format!("too many clients (at most {MAX_CLIENTS})"))
    } else if peer.map(|c| c.uid()) != Some(shared.uid) {
        Some("refused: another user".to_string())
    } else {
        None
    };
    if let Some(why) = refuse {
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            stream.write_all(format!("{}\n", error_line(why)).as_bytes()),
        )
        .await;
        return;
    }
    let who = peer
        .and_then(|c| c.pid())
        .map(|pid| {
            let cmd = crate::platform::read_cmdline(pid)
                .map(|parts| parts.join(" "))
                .unwrap_or_default();
            format!("PID {pid} ({})", crate::util::output::short(&cmd, 60))
        })
        .unwrap_or_else(|| "a client".into());
    let (rd, mut wr) = stream.into_split();
    let (out, mut out_rx) = mpsc::channel::<String>(OUT_QUEUE);
    // The writer: a client that stops reading blocks only this task, and
    // its queue filling up ends the connection.
    let writer = tokio::spawn(async move {
        while let Some(mut line) = out_rx.recv().await {
            line.push('\n');
            let w = tokio::time::timeout(Duration::from_secs(10), wr.write_all(line.as_bytes()));
            if !matches!(w.await, Ok(Ok(()))) {
                break;
            }
        }
    });
    let mut reader = BufReader::new(rd);
    let mut window = (Instant::now(), 0u32);
    let mut subscribed = false;
    loop {
        let mut buf = Vec::new();
        let mut limited = (&mut reader).take(MAX_LINE as u64 + 1);
        let read = limited.read_until(b'\n', &mut buf);
        let got = if subscribed {
            read.await.ok()
        } else {
            tokio::time::timeout(IDLE, read)
                .await
                .ok()
                .and_then(Result::ok)
        };
        let Some(len) = got else { break };
        if len == 0 {
            break; // the client closed
        }
        if buf.len() > MAX_LINE || !buf.ends_with(b"\n") {
            let _ = out.try_send(error_line(format!(
                "a request is one line of at most {MAX_LINE} bytes"
            )));
            break;
        }
        if window.0.elapsed() >= Duration::from_secs(1) {
            window = (Instant::now(), 0);
        }
        window.1 += 1;
        if window.1 > MAX_RATE {
            let _ = out.try_send(error_line(format!(
                "too many requests (at most {MAX_RATE} a second)"
            )));
            break;
        }
        let req: Request = match serde_json::from_slice(&buf) {
            Ok(r) => r,
            Err(e) => {
                let _ = out.try_send(error_line(format!("bad request: {e}")));
                break;
            }
        };
        match handle(req, shared, &who, &out).await {
            Ok(Some(true)) => subscribed = true,
            Ok(_) => {}
            Err(e) => {
                let _ = out.try_send(error_line(e));
                break;
            }
        }
        if out.is_closed() {
            break;
        }
    }
    drop(out);
    // Let the last lines go out (bounded), then close.
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

/// Handles one request; `Some(true)` when the connection now streams events.
async fn handle(
    req: Request,
    shared: &Arc<Shared>,
    who: &str,
    out: &mpsc::Sender<String>,
) -> Result<Option<bool>, Refused> {
    let send = |r: Reply| -> Result<(), Refused> {
        out.try_send(r.line())
            .map_err(|_| Refused("client does not read its replies".into()))
    };
    match req {
        Request::Hello => send(Reply::Hello {
            ok: true,
            supervisor: summary(shared),
        })?,
        Request::Events => {
            // Bounded by the ring's size, which fits the queue's worst case
            // only in part: send with waiting, but never longer than 10 s.
            for event in shared.history.all() {
                let line = Reply::Event { event }.line();
                tokio::time::timeout(Duration::from_secs(10), out.send(line))
                    .await
                    .map_err(|_| "client does not read its replies".to_string())?
                    .map_err(|_| "closed".to_string())?;
            }
            send(Reply::done(true))?;
        }
        Request::View => send(Reply::Snapshot {
            snapshot: shared.views.borrow().clone(),
        })?,
        Request::Subscribe { snapshots } => {
            let (old, mut rx) = shared.history.snapshot_and_subscribe();
            if snapshots {
                // The latest view first, then each change (a watch: a slow
                // client skips intermediate views, never queues them).
                let mut views = shared.views.clone();
                let out = out.clone();
                tokio::spawn(async move {
                    loop {
                        let snapshot = views.borrow_and_update().clone();
                        if out.try_send(Reply::Snapshot { snapshot }.line()).is_err() {
                            return;
                        }
                        if views.changed().await.is_err() {
                            return;
                        }
                    }
                });
            }
            let out = out.clone();
            tokio::spawn(async move {
                for event in old {
                    let line = Reply::Event { event }.line();
                    if tokio::time::timeout(Duration::from_secs(10), out.send(line))
                        .await
                        .map_or(true, |r| r.is_err())
                    {
                        return;
                    }
                }
                loop {
                    match rx.recv().await {
                        Ok(event) => {
                            if out.try_send(Reply::Event { event }.line()).is_err() {
                                return; // not reading: drop it
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            let _ = out.try_send(error_line("fell behind the event feed"));
                            return;
                        }
                        Err(_) => return,
                    }
                }
            });
            return Ok(Some(true));
        }
        Request::Shutdown if !shared.detached => {
            return refuse("this supervisor is a dashboard or `start --foreground`; quit it there")
        }
        Request::Shutdown => {
            shared.history.push(
                "stigmer",
                Kind::Requested,
                None,
                format!("supervisor exit by {who}"),
            );
            send(Reply::ok())?;
            let _ = shared
                .commands
                .send(StackCommand::Shutdown { stop: false })
                .await;
        }
        Request::Command { command, service } => {
            let c = command.parse::<Verb>()?.command();
            let stack_command = match (service, c) {
                (Some(name), c) => {
                    if shared.stack.get(&name).is_none() {
                        return refuse(format!("no service named {name:?}"));
                    }
                    StackCommand::Service(name, c)
                }
                (None, Command::Start) => StackCommand::StartAll,
                (None, Command::Stop) => StackCommand::StopAll,
                (None, _) => return refuse(format!("{command} needs a service")),
            };
            let target = match &stack_command {
                StackCommand::Service(name, _) => name.clone(),
                _ => "stigmer".into(),
            };
            let what = match &stack_command {
                StackCommand::Service(..) => command.clone(),
                _ => format!("{command} of the stack"),
            };
            shared
                .history
                .push(&target, Kind::Requested, None, format!("{what} by {who}"));
            shared
                .commands
                .send(stack_command)
                .await
                .map_err(|_| "the supervisor is exiting".to_string())?;
            send(Reply::ok())?;
        }
        Request::Requested { command, services } => {
            if !matches!(command.parse::<Verb>()?, Verb::Stop | Verb::Kill) {
                return refuse(format!("unknown command {command:?}"));
            }
            for name in &services {
                if shared.stack.get(name).is_none() {
                    return refuse(format!("no service named {name:?}"));
                }
            }
            for name in &services {
                shared
                    .history
                    .push(name, Kind::Requested, None, format!("{command} by {who}"));
            }
            send(Reply::ok())?;
        }
        Request::Start {
            services,
            deadline_ms,
        } => {
            if deadline_ms.is_some_and(|d| now_ms() > d) {
                // Read only now (the supervisor was stopped or busy): the
                // client gave up on it long ago; a stop may have come since.
                tracing::warn!("dropped a start of {services:?} by {who}: its deadline passed");
                return refuse("this start's deadline passed before it was read; nothing was done");
            }
            let mut set = BTreeSet::new();
            for s in services {
                if shared.stack.get(&s).is_none() {
                    return refuse(format!("no service named {s:?}"));
                }
                set.insert(s);
            }
            // Closed under dependencies, whatever the client sent.
            let names: Vec<&str> = set.iter().map(String::as_str).collect();
            let set = shared
                .stack
                .graph
                .with_dependencies(&names)
                .map_err(|e| e.to_string())?;
            for s in &set {
                shared
                    .history
                    .push(s, Kind::Requested, None, format!("start by {who}"));
            }
            // The supervisor's coordinator starts them (its actors spawn
            // them: their exits are theirs to see); the outcomes come back
            // one by one, and the start goes on even if the client leaves.
            let (tx, mut rx) = mpsc::unbounded_channel();
            let n = set.len();
            shared
                .commands
                .send(StackCommand::Start {
                    services: set,
                    ticket: crate::supervisor::stack::Ticket(tx),
                })
                .await
                .map_err(|_| "the supervisor is exiting".to_string())?;
            let out = out.clone();
            tokio::spawn(async move {
                let mut ok = true;
                for _ in 0..n {
                    let Some((name, r)) = rx.recv().await else {
                        ok = false;
                        break;
                    };
                    ok &= r.is_ok();
                    let (outcome, error) = match r {
                        Ok(o) => (Some(o), None),
                        Err(e) => (None, Some(e.0)),
                    };
                    let result = StartResult {
                        name,
                        outcome,
                        error,
                    };
                    let _ = out.try_send(Reply::Result { result }.line());
                }
                let _ = out.try_send(Reply::done(ok).line());
            });
        }
    }
    Ok(None)
}

fn summary(shared: &Shared) -> SupervisorSummary {
    SupervisorSummary {
        pid: std::process::id() as i32,
        since: rfc3339_ms(shared.since_ms),
        // Not counting the asking one.
        attached_clients: shared.clients.load(Ordering::SeqCst).saturating_sub(1),
    }
}

/// A connection to the supervisor.
pub struct Client {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
    /// The PID of the process that listens (the kernel's word, from when it
    /// called `listen`: known even when it does not answer).
    pub peer: Option<i32>,
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
    args
}

/// Starts a detached supervisor (`local supervise`: its own session, stdin
/// `/dev/null`, output appended to `logs/stigmer.log`) and waits, bounded,
/// until its socket answers.
/// Why no detached supervisor could be had, with where to look.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct NoSupervisor(pub String);

pub async fn spawn_supervisor(stack: &Stack, port: Option<u16>) -> Result<Client, NoSupervisor> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()
        .map_err(|e| NoSupervisor(format!("cannot find stigmer itself: {e}")))?;
    let s = &stack.settings;
    let log_path: PathBuf = s.state.logs_dir().join("stigmer.log");
    let log = crate::state::open_private(&log_path, true)
        .map_err(|e| NoSupervisor(crate::state::refusal(&log_path, &e)))?;
    let log2 = log.try_clone().map_err(|e| NoSupervisor(e.to_string()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(same_stack_args(stack, port))
        .args(["local", "supervise"])
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| rustix::process::setsid().map(|_| ()).map_err(Into::into));
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| NoSupervisor(format!("cannot start the supervisor: {e}")))?;
    let socket = s.state.socket_path();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(c) = Client::connect(&socket, Duration::from_millis(200)).await {
            // It outlives us in its own session; when we exit, init
            // becomes its parent and reaps it.
            drop(child);
            return Ok(c);
        }
        if let Ok(Some(st)) = child.try_wait() {
            // Lost a race with another supervisor: use that one.
            if let Some(c) = Client::connect(&socket, Duration::from_millis(500)).await {
                return Ok(c);
            }
            return Err(NoSupervisor(format!(
                "the supervisor exited at once ({st}); see {}",
                log_path.display()
            )));
        }
        if Instant::now() >= deadline {
            return Err(NoSupervisor(format!(
                "the supervisor did not answer within 10 s; see {}",
                log_path.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
