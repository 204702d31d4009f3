//! The state directory: where the lock, PID file, log and database live.
//!
//! Everything is created 0700/0600 and opened without following symlinks, so
//! another local user cannot point our writes somewhere else.
//!
//! `pidfile`: the metadata file (atomic, tolerant read); `lock`: the flock
//! lock files and who holds them.

pub(crate) mod lock;
pub mod pidfile;

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Opens (creating when needed) the state directory and its sub-folders.
    ///
    /// The home itself must be a real directory (not a symlink), owned by us
    /// and writable by nobody else; a trailing slash changes nothing. Symlinks
    /// in its *parent* components are followed, like any path (`/home` is a
    /// link on some systems). Directories stigmer creates are made 0700; an
    /// existing one is never `chmod`ed: an unsafe one is refused with advice.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root: PathBuf = root.into();
        let root = if root.is_relative() {
            std::env::current_dir()?.join(root)
        } else {
            root
        };
        // `components()` drops a trailing slash, which would otherwise make
        // `symlink_metadata` follow a symlinked home.
        let root: PathBuf = root.components().collect();
        let dir = Self { root };
        for d in [dir.root.clone(), dir.logs_dir(), dir.data_dir()] {
            ensure_private_dir(&d)?;
        }
        Ok(dir)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("temporal.lock")
    }
    pub fn pid_path(&self) -> PathBuf {
        self.root.join("temporal.pid")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// A declared service's own directory: its lock, PID file, start lock
    /// and intent, under names no other service or stigmer itself can
    /// take (`services/NAME/…`).
    pub fn service_dir(&self, name: &str) -> PathBuf {
        self.root.join("services").join(name)
    }

    /// Makes `services/NAME/` (0700) and moves what an older stigmer kept
    /// for this service at the top of the state dir (`NAME.lock`,
    /// `NAME.pid`, `NAME.intent.json`) into it. A rename keeps the inode, so
    /// a running service's lock stays held across it: the service is
    /// adopted, not broken.
    pub fn prepare_service_dir(&self, name: &str) -> io::Result<PathBuf> {
        let services = self.root.join("services");
        ensure_private_dir(&services).map_err(io::Error::other)?;
        let dir = self.service_dir(name);
        ensure_private_dir(&dir).map_err(io::Error::other)?;
        for (old, new) in [
            (format!("{name}.lock"), "lock"),
            (format!("{name}.pid"), "pid"),
            (format!("{name}.intent.json"), "intent.json"),
        ] {
            let (old, new) = (self.root.join(old), dir.join(new));
            let legacy = std::fs::symlink_metadata(&old).is_ok_and(|m| m.is_file());
            if legacy && std::fs::symlink_metadata(&new).is_err() {
                // Another process may have moved it a moment ago: fine.
                let _ = std::fs::rename(&old, &new);
            }
        }
        Ok(dir)
    }
    pub fn log_path(&self) -> PathBuf {
        self.logs_dir().join("temporal.log")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("temporal-data")
    }
    pub fn db_path(&self) -> PathBuf {
        self.data_dir().join("temporal.db")
    }
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    /// Held for life by the one process that may restart the service.
    pub fn supervisor_lock_path(&self) -> PathBuf {
        self.root.join("supervisor.lock")
    }
    /// The supervisor's control socket.
    pub fn socket_path(&self) -> PathBuf {
        self.root.join("stigmer.sock")
    }
    /// Serialises the check-then-spawn of concurrent starters.
    pub fn start_lock_path(&self) -> PathBuf {
        self.root.join("start.lock")
    }
    /// What the user last asked for (running or stopped), so a supervisor
    /// never restarts a service that another command stopped on purpose.
    pub fn intent_path(&self) -> PathBuf {
        self.root.join("intent.json")
    }
    /// The event history a supervisor leaves for the next one.
    pub fn history_path(&self) -> PathBuf {
        self.root.join("history.json")
    }
    /// What a supervisor that handed over knew of each service it left
    /// running (PID, restarts, last exit), for the next one to go on from.
    pub fn handover_path(&self) -> PathBuf {
        self.root.join("handover.json")
    }
    pub fn bin_dir(&self) -> PathBuf {
        self.root.join("bin")
    }
}

fn ensure_private_dir(dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => {
            bail!(
                "{} is a symlink; refusing to use it as state. Point --home at a real directory.",
                dir.display()
            )
        }
        Ok(meta) if !meta.is_dir() => bail!(
            "{} exists and is not a directory; move it away or choose another --home",
            dir.display()
        ),
        Ok(meta) => match unsafe_dir(meta.uid(), meta.mode()) {
            Some(why) => bail!(
                "{} {why}; stigmer keeps locks, PID files and logs there and will not use a \
                 directory others can change. Fix it (`chmod 700 {0}`, as its owner) or \
                 choose another --home / STIGMER_HOME.",
                dir.display()
            ),
            None => Ok(()),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating state directory {}", dir.display()))?;
            // Ours, just created: make sure the umask did not widen it.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("making {} private (0700)", dir.display()))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

/// Why a directory with this owner and mode is unsafe for state, if it is.
fn unsafe_dir(uid: u32, mode: u32) -> Option<String> {
    let me = nix::unistd::geteuid().as_raw();
    if uid != me {
        Some(format!("is owned by uid {uid}, not by you (uid {me})"))
    } else if mode & 0o1000 != 0 {
        Some("is a shared (sticky) directory like /tmp".into())
    } else if mode & 0o022 != 0 {
        Some(format!(
            "is writable by {} (mode {:o})",
            if mode & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            },
            mode & 0o7777
        ))
    } else {
        None
    }
}

/// Why `path` cannot be used as a state file, in words that say what to do.
/// A state file stigmer will not use, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

pub fn refusal(path: &Path, e: &io::Error) -> String {
    let what = if e.raw_os_error() == Some(nix::libc::ELOOP) {
        "is a symlink; stigmer never reads or writes state through symlinks".to_string()
    } else if e.kind() == io::ErrorKind::InvalidInput || e.raw_os_error() == Some(nix::libc::ENXIO)
    {
        "is not a regular file (a FIFO, socket or device?)".to_string()
    } else {
        return format!("cannot open {}: {e}", path.display());
    };
    format!(
        "{} {what}: remove or replace it with a regular file",
        path.display()
    )
}

/// What is wrong with a state file that exists but cannot be used (a
/// symlink, a FIFO, …), in words that say what to do; `None` when it is a
/// regular file or missing.
pub fn file_problem(path: &Path) -> Option<String> {
    match check_regular(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Some(refusal(path, &e)),
        _ => None,
    }
}

/// Is `path` a regular file (not a symlink, FIFO, …)? Looks without
/// opening it; errors read like `open_read_nofollow`'s (see `refusal`).
pub fn check_regular(path: &Path) -> io::Result<std::fs::Metadata> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Err(io::Error::from_raw_os_error(nix::libc::ELOOP));
    }
    if !meta.is_file() {
        return Err(not_regular(path));
    }
    Ok(meta)
}

fn not_regular(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} is not a regular file", path.display()),
    )
}

/// Opens without blocking (a FIFO would otherwise hang the open) and without
/// following a symlink, then refuses anything but a regular file.
fn open_regular(opts: &mut OpenOptions, path: &Path) -> io::Result<File> {
    let f = opts
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(not_regular(path));
    }
    // Back to blocking I/O (it makes no difference for regular files, but
    // the descriptor may be handed to a child as its stdout).
    let fd = std::os::fd::AsFd::as_fd(&f);
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags - rustix::fs::OFlags::NONBLOCK)?;
    Ok(f)
}

/// Opens a state file read-write, creating it 0600, never through a symlink.
/// Refuses symlinks and non-regular files (FIFOs never block it).
pub fn open_private(path: &Path, append: bool) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).mode(0o600);
    if append {
        opts.append(true);
    } else {
        opts.read(true).write(true);
    }
    open_regular(&mut opts, path)
}

/// Opens a state file for reading: never through a symlink, never blocking
/// on a FIFO, regular files only.
pub fn open_read_nofollow(path: &Path) -> io::Result<File> {
    open_regular(OpenOptions::new().read(true), path)
}

/// Writes `bytes` to `path` atomically: a private temp file beside it, then
/// rename over. Readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&tmp)?;
    // No fsync: these files describe live processes, and after a power loss
    // they are stale anyway (new boot id); a torn file reads as corrupt.
    // Skipping it keeps a respawn off the disk's flush latency.
    let written = f.write_all(bytes);
    drop(f);
    // A failed write (disk full) or rename must not leave the temp behind.
    written
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

/// When the filesystem holding `dir` is (nearly) full, says so: the reason a
/// service that writes a database or a log dies young.
pub fn disk_full_note(dir: &Path) -> Option<String> {
    let st = rustix::fs::statvfs(dir).ok()?;
    let avail = st.f_bavail.saturating_mul(st.f_frsize);
    let total = st.f_blocks.saturating_mul(st.f_frsize);
    (total > 0 && avail < (64 << 20).min(total / 20)).then(|| {
        format!(
            "the disk holding {} is full ({} KiB free of {} KiB): free some space, then start again",
            dir.display(),
            avail / 1024,
            total / 1024
        )
    })
}

/// Temp files `write_atomic` left behind (`.NAME.PID.tmp`) by a process that
/// is gone: a crash between create and rename. Ours (alive) are kept.
pub fn stale_temp_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return vec![];
    };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let pid: i32 = name
                .strip_prefix('.')?
                .strip_suffix(".tmp")?
                .rsplit('.')
                .next()?
                .parse()
                .ok()?;
            let alive = crate::platform::exists(pid);
            let regular = e.file_type().ok()?.is_file();
            (!alive && regular).then(|| e.path())
        })
        .collect()
}

/// Reads a small state file, refusing symlinks and anything over `cap` bytes.
pub fn read_capped(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let f = open_read_nofollow(path)?;
    let len = f.metadata()?.len();
    if len > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is {len} bytes, over the {cap}-byte limit",
                path.display()
            ),
        ));
    }
    let mut buf = Vec::with_capacity(len as usize);
    f.take(cap + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_is_private_and_refuses_symlinks() {
        let tmp = std::env::temp_dir().join(format!("stigmer-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let dir = StateDir::open(&tmp).unwrap();
        let mode = std::fs::metadata(dir.root()).unwrap().mode();
        assert_eq!(mode & 0o777, 0o700);
        let f = open_private(&dir.pid_path(), false).unwrap();
        assert_eq!(f.metadata().unwrap().mode() & 0o777, 0o600);
        drop(f);
        std::fs::remove_file(dir.pid_path()).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.pid_path()).unwrap();
        assert!(open_read_nofollow(&dir.pid_path()).is_err());
        assert!(
            write_atomic(&dir.pid_path(), b"{}").is_ok(),
            "rename replaces the link itself"
        );
        assert!(!std::fs::symlink_metadata(dir.pid_path())
            .unwrap()
            .file_type()
            .is_symlink());
        let link = tmp.with_extension("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&tmp, &link).unwrap();
        assert!(StateDir::open(&link).is_err());
        std::fs::remove_file(&link).unwrap();
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
