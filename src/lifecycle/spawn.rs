//! Spawning a service: its own session and group, its lock taken in the
//! child before exec, its output appended to its log, its PID file written;
//! refused while one of its ports is taken (naming the holder).

use super::*;

/// Refuses to start while one of our ports is taken, naming the holder.
pub fn check_ports(spec: &ServiceSpec) -> Result<(), SpawnError> {
    if spec.ports.iter().all(|p| ports::bindable(p.port)) {
        return Ok(());
    }
    let listeners = ports::listeners();
    for p in &spec.ports {
        if let Some(l) = listeners.iter().find(|l| l.port == p.port) {
            let owners = crate::process::scan::scan(&crate::process::ScanRequest {
                tag_var: TAG_VAR,
                tag_prefix: &spec.tag_prefix,
                pgids: &[],
                lock_path: None,
                socket_inodes: &[l.inode],
            });
            let owner = owners
                .socket_owners
                .get(&l.inode)
                .and_then(|pid| owners.get(*pid))
                .map(|e| format!("PID {} ({})", e.pid, e.cmd))
                .unwrap_or_else(|| "a process we cannot see (another user or namespace)".into());
            return Err(SpawnError::PortBusy {
                service: spec.name.clone(),
                role: p.role.name(),
                port: p.port,
                owner,
                fix: if p.role == ports::PortRole::Port {
                    "change `ports` of this service in the config"
                } else {
                    "choose another port with --port"
                },
            });
        }
    }
    Ok(())
}

pub struct Spawned {
    pub child: tokio::process::Child,
    pub record: PidRecord,
    /// The log's length at spawn: what this run wrote starts here.
    pub log_offset: u64,
}

/// Starts the service in its own session and group, holding the lock, with
/// output appended to its log, and records it in the PID file. Fails with
/// `LockHeld` if another copy holds the lock — the lock, taken in the child
/// before exec, is what makes a second copy impossible.
pub fn spawn(ctx: &Ctx) -> Result<Spawned, SpawnError> {
    let spec = &ctx.spec;
    let program = spec
        .program
        .clone()
        .map_err(|e| SpawnError::NoProgram(e.0))?;
    if let Some(dir) = spec.cwd.as_ref().filter(|d| !d.is_dir()) {
        return Err(SpawnError::NoProgram(format!(
            "{}: its working directory {} does not exist; fix cwd in the config",
            spec.name,
            dir.display()
        )));
    }
    check_ports(spec)?;
    let io_err = |source| SpawnError::Io {
        program: program.display().to_string(),
        source,
    };
    let state_file = |path: std::path::PathBuf| {
        move |e: std::io::Error| SpawnError::StateFile(crate::state::refusal(&path, &e))
    };
    let log = crate::state::open_private(&ctx.spec.paths.log, true)
        .map_err(state_file(ctx.spec.paths.log.clone()))?;
    let log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
    let log2 = log.try_clone().map_err(io_err)?;
    let lock_file = lock::open_service_lock(&ctx.spec.paths.lock)
        .map_err(state_file(ctx.spec.paths.lock.clone()))?;
    let lock_fd = lock_file.as_raw_fd();
    let tag = spec.new_tag();

    let mut cmd = tokio::process::Command::new(&program);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env(TAG_VAR, &tag)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .kill_on_drop(false);
    // SAFETY: only async-signal-safe syscalls run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::setsid()?;
            // Only stdio and the lock cross the exec.
            crate::platform::cloexec_from(3);
            lock::take_in_child(lock_fd)
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.raw_os_error() == Some(nix::libc::EWOULDBLOCK) => {
            return Err(SpawnError::LockHeld(
                ctx.spec.paths.lock.clone().display().to_string(),
            ))
        }
        Err(e) => return Err(io_err(e)),
    };
    // The child holds the lock now; our copy must go (never unlocked: that
    // would release the child's lock too, as they share the open file).
    drop(lock_file);
    let pid = child.id().map(|p| p as i32).unwrap_or(0);
    let record = record_of(spec, &program, pid, tag, log_offset);
    if let Err(e) = pidfile::write(&ctx.spec.paths.pid, &record) {
        tracing::warn!("could not write PID file: {e}");
    }
    tracing::info!(pid, "spawned {}", spec.name);
    Ok(Spawned {
        child,
        record,
        log_offset,
    })
}

/// What the PID file says of the process just spawned: who it is (start
/// time, boot, tag), what it runs, its ports, who started it and when.
fn record_of(
    spec: &ServiceSpec,
    program: &std::path::Path,
    pid: i32,
    tag: String,
    log_offset: u64,
) -> PidRecord {
    let identity = Identity::of(pid).unwrap_or(Identity {
        pid,
        start_ticks: 0,
        boot_id: crate::process::boot_id().into(),
        tag: None,
    });
    let mut cmdline = vec![program.display().to_string()];
    cmdline.extend(spec.args.iter().cloned());
    PidRecord {
        service: spec.name.clone(),
        pid,
        pgid: pid,
        sid: pid,
        start_ticks: identity.start_ticks,
        boot_id: identity.boot_id,
        cmdline,
        ports: spec
            .ports
            .iter()
            .map(|p| PortRecord {
                role: p.role.name().into(),
                port: p.port,
            })
            .collect(),
        version: env!("CARGO_PKG_VERSION").into(),
        started_at_ms: now_ms(),
        started_by_pid: std::process::id() as i32,
        started_by: std::env::args().collect::<Vec<_>>().join(" "),
        tag,
        ready_at_ms: None,
        log_offset: Some(log_offset),
    }
}
