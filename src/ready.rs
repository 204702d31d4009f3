//! Readiness checks, one at a time: what `wait_ready`, `inspect` and the
//! supervisor's probes share.

use std::process::Stdio;
use std::time::Duration;

use crate::clock::now_ms;
use crate::pidfile::PidRecord;
use crate::ports;
use crate::service::{Readiness, ServiceSpec};

/// One readiness check of a service running as `rec`. `Ok` says what
/// answered, `Err` why not. A log check passes once recorded (the scan that
/// found the line marked the PID file).
pub async fn probe(spec: &ServiceSpec, rec: &PidRecord) -> Result<String, String> {
    let timeout = Duration::from_millis(500);
    match &spec.readiness {
        Readiness::Http { port, path } => ports::probe_http(*port, path, timeout)
            .await
            .map(|_| format!("GET {path} → 200")),
        Readiness::Tcp(port) => ports::probe_tcp(*port, timeout)
            .await
            .map(|_| format!("port {port} accepts TCP")),
        Readiness::Exec(argv) => probe_exec(spec, argv).await,
        Readiness::Log(re) => match rec.ready_at_ms {
            Some(_) => Ok(format!("a log line matched /{re}/")),
            None => Err(format!("no log line matched /{re}/ yet")),
        },
        Readiness::Uptime(d) => {
            let up = Duration::from_millis(now_ms().saturating_sub(rec.started_at_ms));
            if up >= *d {
                Ok(format!("running for {} s", up.as_secs()))
            } else {
                Err(format!(
                    "running for {} ms (ready at {} ms)",
                    up.as_millis(),
                    d.as_millis()
                ))
            }
        }
    }
}

/// Runs a readiness program in the service's directory and environment,
/// bounded to 5 s (killed after).
async fn probe_exec(spec: &ServiceSpec, argv: &[String]) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    let name = argv.join(" ");
    match tokio::time::timeout(Duration::from_secs(5), cmd.status()).await {
        Ok(Ok(st)) if st.success() => Ok(format!("`{name}` exited 0")),
        Ok(Ok(st)) => Err(format!("`{name}`: {st}")),
        Ok(Err(e)) => Err(format!("`{name}` cannot run: {e}")),
        Err(_) => Err(format!("`{name}` did not finish in 5 s")),
    }
}
