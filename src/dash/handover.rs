//! Between the dashboard and a supervisor of another process: attaching
//! to the one that runs, handing ours over to a detached one at `q`.

use std::time::{Duration, Instant};

use crate::config::service::Stack;
use crate::supervisor::Phase;

/// Starts a detached supervisor (our lock already let go) and waits,
/// bounded, until it supervises each of `running` with the same PID; its
/// PID, or why not.
pub(super) async fn hand_to_detached(
    stack: &Stack,
    port: Option<u16>,
    running: &[(String, i32)],
) -> anyhow::Result<i32> {
    let c = crate::control::spawn_supervisor(stack, port).await?;
    drop(c);
    let socket = stack.settings.state.socket_path();
    let mut a = crate::control::attach(&socket, Duration::from_secs(2))
        .await
        .ok_or_else(|| anyhow::anyhow!("the new supervisor does not answer on its socket"))?;
    let pid = a.supervisor.pid;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut last = String::from("no view of the services yet");
    loop {
        let feed = tokio::time::timeout_at(deadline, a.feed.recv()).await;
        match feed {
            Err(_) => {
                anyhow::bail!(
                    "supervisor PID {pid} did not adopt the services within 10 s ({last})"
                )
            }
            Ok(None | Some(crate::control::Feed::Closed)) => {
                anyhow::bail!("supervisor PID {pid} went away")
            }
            Ok(Some(crate::control::Feed::Snapshot(view))) => {
                let missing: Vec<String> = running
                    .iter()
                    .filter(|(n, p)| {
                        !view
                            .iter()
                            .any(|s| &s.name == n && s.pid == Some(*p) && s.phase != Phase::Stopped)
                    })
                    .map(|(n, p)| format!("{n} PID {p}"))
                    .collect();
                if missing.is_empty() {
                    return Ok(pid);
                }
                last = format!("not adopted yet: {}", missing.join(", "));
            }
            Ok(Some(_)) => {}
        }
    }
}

/// Attaches to the supervisor of this state dir when one answers. When its
/// lock is held but the socket does not answer yet (it is starting), tries
/// again for up to 2 s.
pub(super) async fn attach(stack: &Stack) -> Option<crate::control::Attached> {
    let socket = stack.settings.state.socket_path();
    let lock = stack.settings.state.supervisor_lock_path();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if std::fs::symlink_metadata(&socket).is_ok() {
            if let Some(a) = crate::control::attach(&socket, Duration::from_millis(500)).await {
                return Some(a);
            }
        }
        let held = crate::state::lock::is_held(&lock).unwrap_or(false);
        if !held || Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
