//! The state directory: where the lock, PID file, log and database live.
//!
//! Everything is created 0700/0600 and opened without following symlinks, so
//! another local user cannot point our writes somewhere else.

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
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let root = if root.is_relative() {
            std::env::current_dir()?.join(root)
        } else {
            root
        };
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
    /// Serialises the check-then-spawn of concurrent starters.
    pub fn start_lock_path(&self) -> PathBuf {
        self.root.join("start.lock")
    }
    /// What the user last asked for (running or stopped), so a supervisor
    /// never restarts a service that another command stopped on purpose.
    pub fn intent_path(&self) -> PathBuf {
        self.root.join("intent.json")
    }
    /// The supervisor's last published phase, for `status` from outside.
    pub fn supervisor_state_path(&self) -> PathBuf {
        self.root.join("supervisor.json")
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
        Ok(meta) => {
            if meta.uid() == nix::unistd::geteuid().as_raw() && meta.mode() & 0o077 != 0 {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("making {} private (0700)", dir.display()))?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating state directory {}", dir.display())),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

/// Opens a state file read-write, creating it 0600, never through a symlink.
pub fn open_private(path: &Path, append: bool) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW);
    if append {
        opts.append(true);
    } else {
        opts.read(true).write(true);
    }
    opts.open(path)
}

/// Opens a state file for reading, never through a symlink.
pub fn open_read_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
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
    f.write_all(bytes)?;
    // No fsync: these files describe live processes, and after a power loss
    // they are stale anyway (new boot id); a torn file reads as corrupt.
    // Skipping it keeps a respawn off the disk's flush latency.
    drop(f);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
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
