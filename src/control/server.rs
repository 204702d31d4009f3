//! The socket's server: one task per client, bounded input, a bounded
//! output queue and a request rate limit; each request handled by its own
//! function.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

use super::{Reply, Request, StartResult, SupervisorSummary, Verb};
use super::{IDLE, MAX_CLIENTS, MAX_LINE, MAX_RATE, OUT_QUEUE};
use crate::config::service::Stack;
use crate::supervisor::history::{History, Kind};
use crate::supervisor::{Command, StackCommand, StackHandle};
use crate::util::clock::{now_ms, rfc3339_ms};
use crate::view::ServiceView;

struct Shared {
    /// The stack as supervised now.
    stack: watch::Receiver<Stack>,
    history: Arc<History>,
    commands: mpsc::Sender<StackCommand>,
    views: watch::Receiver<Vec<ServiceView>>,
    reloader: crate::supervisor::reload::Reloader,
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
        stack: handle.stack.clone(),
        history: handle.history.clone(),
        commands: handle.commands.clone(),
        views: handle.views.clone(),
        reloader: handle.reloader.clone(),
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
    let who = peer_name(peer.and_then(|c| c.pid()));
    let (rd, wr) = stream.into_split();
    let (out, out_rx) = mpsc::channel::<String>(OUT_QUEUE);
    let writer = tokio::spawn(write_replies(wr, out_rx));
    let mut reader = BufReader::new(rd);
    let mut window = (Instant::now(), 0u32);
    let mut subscribed = false;
    loop {
        let req = match read_request(&mut reader, subscribed, &mut window).await {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(why) => {
                let _ = out.try_send(error_line(why));
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

/// Who asked, for the history: the peer's PID (the kernel's word) and its
/// command line.
fn peer_name(pid: Option<i32>) -> String {
    let Some(pid) = pid else {
        return "a client".into();
    };
    let cmd = crate::platform::read_cmdline(pid)
        .map(|parts| parts.join(" "))
        .unwrap_or_default();
    format!("PID {pid} ({})", crate::util::output::short(&cmd, 60))
}

/// The writer: a client that stops reading blocks only this task, and its
/// queue filling up ends the connection.
async fn write_replies(
    mut wr: tokio::net::unix::OwnedWriteHalf,
    mut out_rx: mpsc::Receiver<String>,
) {
    while let Some(mut line) = out_rx.recv().await {
        line.push('\n');
        let w = tokio::time::timeout(Duration::from_secs(10), wr.write_all(line.as_bytes()));
        if !matches!(w.await, Ok(Ok(()))) {
            break;
        }
    }
}

/// The next request: `None` when the client closed or idled out (a
/// subscribed one never does), an error (sent, then the connection ends)
/// for a line too long, too many a second, or no request.
async fn read_request(
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    subscribed: bool,
    window: &mut (Instant, u32),
) -> Result<Option<Request>, Refused> {
    let mut buf = Vec::new();
    let mut limited = reader.take(MAX_LINE as u64 + 1);
    let read = limited.read_until(b'\n', &mut buf);
    let got = if subscribed {
        read.await.ok()
    } else {
        tokio::time::timeout(IDLE, read)
            .await
            .ok()
            .and_then(Result::ok)
    };
    match got {
        None | Some(0) => return Ok(None),
        Some(_) => {}
    }
    if buf.len() > MAX_LINE || !buf.ends_with(b"\n") {
        return refuse(format!("a request is one line of at most {MAX_LINE} bytes"));
    }
    if window.0.elapsed() >= Duration::from_secs(1) {
        *window = (Instant::now(), 0);
    }
    window.1 += 1;
    if window.1 > MAX_RATE {
        return refuse(format!("too many requests (at most {MAX_RATE} a second)"));
    }
    serde_json::from_slice(&buf)
        .map(Some)
        .map_err(|e| Refused(format!("bad request: {e}")))
}

/// One client's side of a request: who asked, and where replies go.
struct Conn<'a> {
    shared: &'a Arc<Shared>,
    who: &'a str,
    out: &'a mpsc::Sender<String>,
}

impl Conn<'_> {
    fn send(&self, r: Reply) -> Result<(), Refused> {
        self.out
            .try_send(r.line())
            .map_err(|_| Refused("client does not read its replies".into()))
    }

    /// A service this stack has, or the error that says so.
    fn known(&self, name: &str) -> Result<(), Refused> {
        match self.shared.stack.borrow().get(name) {
            Some(_) => Ok(()),
            None => refuse(format!("no service named {name:?}")),
        }
    }

    fn requested(&self, target: &str, what: &str) {
        let text = format!("{what} by {}", self.who);
        self.shared
            .history
            .push(target, Kind::Requested, None, text);
    }

    async fn to_coordinator(&self, c: StackCommand) -> Result<(), Refused> {
        self.shared
            .commands
            .send(c)
            .await
            .map_err(|_| Refused("the supervisor is exiting".into()))
    }
}

/// Handles one request; `Some(true)` when the connection now streams events.
async fn handle(
    req: Request,
    shared: &Arc<Shared>,
    who: &str,
    out: &mpsc::Sender<String>,
) -> Result<Option<bool>, Refused> {
    let conn = Conn { shared, who, out };
    match req {
        Request::Hello => conn.send(Reply::Hello {
            ok: true,
            supervisor: summary(shared),
        })?,
        Request::Events => events(&conn).await?,
        Request::View => conn.send(Reply::Snapshot {
            snapshot: shared.views.borrow().clone(),
        })?,
        Request::Subscribe { snapshots } => {
            subscribe(&conn, snapshots);
            return Ok(Some(true));
        }
        Request::Shutdown if !shared.detached => {
            return refuse("this supervisor is a dashboard or `start --foreground`; quit it there")
        }
        Request::Shutdown => {
            conn.requested("stigmer", "supervisor exit");
            conn.send(Reply::ok())?;
            let _ = conn
                .to_coordinator(StackCommand::Shutdown { stop: false })
                .await;
        }
        Request::Command { command, service } => {
            let c = stack_command(&conn, &command, service)?;
            conn.to_coordinator(c).await?;
            conn.send(Reply::ok())?;
        }
        Request::Requested { command, services } => {
            if !matches!(command.parse::<Verb>()?, Verb::Stop | Verb::Kill) {
                return refuse(format!("unknown command {command:?}"));
            }
            for name in &services {
                conn.known(name)?;
            }
            for name in &services {
                conn.requested(name, &command);
            }
            let names = services.into_iter().collect();
            conn.to_coordinator(StackCommand::StoppedByClient(names))
                .await?;
            conn.send(Reply::ok())?;
        }
        Request::Start {
            services,
            deadline_ms,
        } => start(&conn, services, deadline_ms).await?,
        Request::Scale { service, replicas } => {
            conn.requested(&service, &format!("scale to {replicas}"));
            match shared.reloader.scale(service, replicas).await {
                Ok(reloaded) => conn.send(Reply::Reloaded { ok: true, reloaded })?,
                Err(e) => conn.send(Reply::error(e))?,
            }
        }
        Request::Reload { config, profiles } => {
            conn.requested("stigmer", "reload");
            match shared.reloader.reload(config, profiles).await {
                Ok(reloaded) => conn.send(Reply::Reloaded { ok: true, reloaded })?,
                Err(e) => conn.send(Reply::error(e))?,
            }
        }
    }
    Ok(None)
}

/// `events`: the whole history, then `done`. Bounded by the ring's size,
/// which fits the queue's worst case only in part: sent with waiting, but
/// never longer than 10 s.
async fn events(conn: &Conn<'_>) -> Result<(), Refused> {
    for event in conn.shared.history.all() {
        let line = Reply::Event { event }.line();
        tokio::time::timeout(Duration::from_secs(10), conn.out.send(line))
            .await
            .map_err(|_| "client does not read its replies".to_string())?
            .map_err(|_| "closed".to_string())?;
    }
    conn.send(Reply::done(true))
}

/// `subscribe`: the history so far, then each event as it happens; with
/// `snapshots`, the latest view first, then each change (a watch: a slow
/// client skips intermediate views, never queues them).
fn subscribe(conn: &Conn<'_>, snapshots: bool) {
    let (old, mut rx) = conn.shared.history.snapshot_and_subscribe();
    if snapshots {
        let mut views = conn.shared.views.clone();
        let out = conn.out.clone();
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
    let out = conn.out.clone();
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
}

/// `command`: a key's command for one service, or start and stop of the
/// whole stack; recorded (who asked) before it is handed on.
fn stack_command(
    conn: &Conn<'_>,
    command: &str,
    service: Option<String>,
) -> Result<StackCommand, Refused> {
    let c = command.parse::<Verb>()?.command();
    let stack_command = match (service, c) {
        (Some(name), c) => {
            conn.known(&name)?;
            StackCommand::Service(name, c)
        }
        (None, Command::Start) => StackCommand::StartAll,
        (None, Command::Stop) => StackCommand::StopAll,
        (None, _) => return refuse(format!("{command} needs a service")),
    };
    match &stack_command {
        StackCommand::Service(name, _) => conn.requested(name, command),
        _ => conn.requested("stigmer", &format!("{command} of the stack")),
    }
    Ok(stack_command)
}

/// `start`: the coordinator starts them (its actors spawn them: their
/// exits are theirs to see); the outcomes come back one by one, and the
/// start goes on even if the client leaves.
async fn start(
    conn: &Conn<'_>,
    services: Vec<String>,
    deadline_ms: Option<u64>,
) -> Result<(), Refused> {
    if deadline_ms.is_some_and(|d| now_ms() > d) {
        // Read only now (the supervisor was stopped or busy): the client
        // gave up on it long ago; a stop may have come since.
        tracing::warn!(
            "dropped a start of {services:?} by {}: its deadline passed",
            conn.who
        );
        return refuse("this start's deadline passed before it was read; nothing was done");
    }
    for s in &services {
        conn.known(s)?;
    }
    // Closed under dependencies, whatever the client sent.
    let names: Vec<&str> = services.iter().map(String::as_str).collect();
    let set: BTreeSet<String> = conn
        .shared
        .stack
        .borrow()
        .graph
        .with_dependencies(&names)
        .map_err(|e| e.to_string())?;
    for s in &set {
        conn.requested(s, "start");
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let n = set.len();
    let ticket = crate::supervisor::stack::Ticket(tx);
    conn.to_coordinator(StackCommand::Start {
        services: set,
        ticket,
    })
    .await?;
    tokio::spawn(report_start(rx, n, conn.out.clone()));
    Ok(())
}

/// Each service's outcome as a `result` line, then `done`.
async fn report_start(
    mut rx: mpsc::UnboundedReceiver<crate::supervisor::stack::Outcome>,
    n: usize,
    out: mpsc::Sender<String>,
) {
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
}

fn summary(shared: &Shared) -> SupervisorSummary {
    SupervisorSummary {
        pid: std::process::id() as i32,
        since: rfc3339_ms(shared.since_ms),
        // Not counting the asking one.
        attached_clients: shared.clients.load(Ordering::SeqCst).saturating_sub(1),
        config: shared.reloader.status.borrow().clone(),
    }
}
