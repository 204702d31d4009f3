//! Readiness checks, one at a time: what `wait_ready`, `inspect` and the
//! supervisor's probes share.

use std::process::Stdio;
use std::time::Duration;

use super::{fail, CheckFailed};
use crate::config::service::{Readiness, ServiceSpec};
use crate::probe::ports;
use crate::state::pidfile::PidRecord;
use crate::util::clock::now_ms;

/// One readiness check of a service running as `rec`. `Ok` says what
/// answered, `Err` why not. A log check passes once recorded (the scan that
/// found the line marked the PID file).
pub async fn probe(spec: &ServiceSpec, rec: &PidRecord) -> Result<String, CheckFailed> {
    let timeout = Duration::from_millis(500);
    match &spec.readiness {
        Readiness::Http { port, path } => ports::probe_http(*port, path, timeout)
            .await
            .map(|_| format!("GET {path} → 200")),
        // The kernel's table says whether it listens: no connection the
        // service would see.
        Readiness::Tcp(port) => match crate::util::blocking::blocking(|| ports::listening(*port)) {
            true => Ok(format!("port {port} listens")),
            false => fail(format!("nothing listens on port {port}")),
        },
        Readiness::Exec(argv) => probe_exec(spec, argv).await,
        Readiness::Log(re) => match rec.ready_at_ms {
            Some(_) => Ok(format!("a log line matched /{re}/")),
            None => fail(format!("no log line matched /{re}/ yet")),
        },
        Readiness::Completed => fail("a task is done when it exits with a success code".into()),
        Readiness::Uptime(d) => {
            let up = Duration::from_millis(now_ms().saturating_sub(rec.started_at_ms));
            if up >= *d {
                Ok(format!("running for {} s", up.as_secs()))
            } else {
                fail(format!(
                    "running for {} ms (ready at {} ms)",
                    up.as_millis(),
                    d.as_millis()
                ))
            }
        }
    }
}

/// One liveness check of a ready service running as `rec`: its readiness
/// check again where that asks the service something (HTTP, TCP, a
/// program); where readiness was a moment (a log line, an uptime), the
/// leader itself: alive as the very process recorded, not a zombie, not
/// stopped. It never depends on what the record says of readiness: a
/// record taken at spawn predates it.
pub async fn live(spec: &ServiceSpec, rec: &PidRecord) -> Result<String, CheckFailed> {
    match &spec.readiness {
        Readiness::Log(_) | Readiness::Uptime(_) | Readiness::Completed => leader_runs(rec),
        _ => probe(spec, rec).await,
    }
}

fn leader_runs(rec: &PidRecord) -> Result<String, CheckFailed> {
    let pid = rec.pid;
    match crate::process::identity::read_stat(pid) {
        Err(_) => fail(format!("PID {pid} is gone")),
        Ok(st) if st.start_ticks != rec.start_ticks => {
            fail(format!("PID {pid} is another process now"))
        }
        Ok(st) if st.is_zombie() => fail(format!("PID {pid} is a zombie")),
        Ok(st) if matches!(st.state, 'T' | 't') => fail(format!("PID {pid} is stopped (SIGSTOP?)")),
        Ok(st) => Ok(format!("PID {pid} runs ({})", st.state)),
    }
}

/// What a passing liveness check of `spec` found, in the words its own
/// check uses (for a pass the supervisor vouches for).
pub fn passing(spec: &ServiceSpec) -> String {
    match &spec.readiness {
        Readiness::Http { path, .. } => format!("GET {path} → 200"),
        Readiness::Tcp(port) => format!("port {port} listens"),
        Readiness::Exec(argv) => format!("`{}` exited 0", argv.join(" ")),
        Readiness::Log(_) | Readiness::Uptime(_) | Readiness::Completed => "it runs".into(),
    }
}

/// Runs a readiness program in the service's directory and environment,
/// bounded to 5 s (killed after).
async fn probe_exec(spec: &ServiceSpec, argv: &[String]) -> Result<String, CheckFailed> {
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own group, so that it and whatever it started end with it.
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    let name = argv.join(" ");
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("`{name}` cannot run: {e}"))?;
    // Killed with its group however this ends: done, timed out, or the
    // caller's deadline dropping this future.
    let _group = ProbeGroup(child.id());
    match tokio::time::timeout(EXEC_LIMIT, child.wait()).await {
        Ok(Ok(st)) if st.success() => Ok(format!("`{name}` exited 0")),
        Ok(Ok(st)) => fail(format!("`{name}`: {st}")),
        Ok(Err(e)) => fail(format!("`{name}` cannot run: {e}")),
        Err(_) => fail(format!(
            "`{name}` did not finish in {} s",
            EXEC_LIMIT.as_secs()
        )),
    }
}

/// How long one `exec` check may take, within any deadline of its caller.
const EXEC_LIMIT: Duration = Duration::from_secs(5);

/// An `exec` check's process group (its ID is the check's PID: we spawned
/// it as a group leader, and a PID is not given out again while a group
/// has it as its ID), killed when dropped.
struct ProbeGroup(Option<u32>);

impl Drop for ProbeGroup {
    fn drop(&mut self) {
        if let Some(pid) = self.0.map(|p| p as i32).filter(|p| *p > 1) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(-pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// [`probe`], ended at `deadline` whatever it is doing (a hung `exec`
/// check is killed with its group).
pub async fn probe_until(
    spec: &ServiceSpec,
    rec: &PidRecord,
    deadline: std::time::Instant,
) -> Result<String, CheckFailed> {
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    match tokio::time::timeout(left, probe(spec, rec)).await {
        Ok(r) => r,
        Err(_) => fail(format!(
            "the {} check did not finish by the readiness deadline",
            spec.readiness.layer()
        )),
    }
}
