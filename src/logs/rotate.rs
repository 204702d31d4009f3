//! Size-based rotation of a log that a running service keeps open with
//! `O_APPEND`: `<name>.log` → `<name>.log.1` → … → `<name>.log.<keep>`.
//!
//! The writer never reopens its file, so the live file cannot be renamed
//! away; its content is copied out and then removed from the live file.
//! Removal is lossless where the file system can collapse a range (ext4,
//! XFS): the copied, block-aligned prefix is cut out of the file with
//! `fallocate(FALLOC_FL_COLLAPSE_RANGE)`, and whatever was appended during
//! the copy stays. Elsewhere (tmpfs, overlayfs, …) the file is copied to its
//! end and truncated: a line written in the microseconds between the last
//! read and the truncation is lost (logrotate's `copytruncate` has the same
//! window). Followers (`LogTail`) see the file shrink and continue where
//! the same bytes now are.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::platform::{collapse, collapse_possible};
use std::time::Duration;

/// When and how much to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate once the live file is larger than this.
    pub max_bytes: u64,
    /// Old files kept (`.1` newest … `.keep` oldest); 0 discards.
    pub keep: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            keep: 3,
        }
    }
}

/// How often a supervisor looks at its logs' sizes (a `stat` each).
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotated {
    /// Bytes moved out of the live file.
    pub moved: u64,
    /// No byte could have been lost (the range was collapsed).
    pub lossless: bool,
}

pub fn old_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Is `path` a file larger than the limit? (One `stat`; no file is no.)
pub fn needs_rotation(path: &Path, r: Rotation) -> io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(m.is_file() && m.len() > r.max_bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Rotates `path` if it is larger than the limit.
pub fn rotate_if_needed(path: &Path, r: Rotation) -> io::Result<Option<Rotated>> {
    if needs_rotation(path, r)? {
        rotate(path, r.keep).map(Some)
    } else {
        Ok(None)
    }
}

/// Rotates `path` now.
pub fn rotate(path: &Path, keep: u32) -> io::Result<Rotated> {
    rotate_with(path, keep, true)
}

/// `collapse: false` forces the copy-and-truncate path (tests).
pub(crate) fn rotate_with(path: &Path, keep: u32, collapse_ok: bool) -> io::Result<Rotated> {
    use std::os::unix::fs::OpenOptionsExt;
    // Never through a symlink; never blocking on a FIFO (refused below).
    let mut live = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)?;
    let meta = live.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let staging = old_path(path, 0); // `<name>.log.0`, never kept
                                     // Make room: .keep-1 → .keep, …, .1 → .2 (the oldest is replaced).
    let mut out: Box<dyn Write> = if keep == 0 {
        Box::new(io::sink())
    } else {
        for n in (1..keep).rev() {
            let from = old_path(path, n);
            if std::fs::symlink_metadata(&from).is_ok() {
                std::fs::rename(&from, old_path(path, n + 1))?;
            }
        }
        // Written under a temporary name, put in place when complete: a
        // follower never sees a half-written `.1`.
        let _ = std::fs::remove_file(&staging);
        Box::new(crate::state::open_private(&staging, true)?)
    };
    let block = meta.blksize().max(512);
    // Block-aligned and short of the end: a collapse may not reach EOF
    // (EINVAL), and falling back to copy-and-truncate would lose what is
    // appended meanwhile. A file of exactly k blocks keeps its last one.
    let aligned = meta.len().saturating_sub(1) / block * block;
    // The block-aligned prefix first; then, if it can be cut out, done.
    io::copy(&mut (&mut live).take(aligned), &mut out)?;
    out.flush()?;
    // Once: the open file keeps receiving the copy under its new name.
    let publish = || -> io::Result<()> {
        if keep > 0 && std::fs::symlink_metadata(&staging).is_ok() {
            std::fs::rename(&staging, old_path(path, 1))?;
        }
        Ok(())
    };
    // `.1` is in place, complete, before the live file changes: a follower
    // that sees it waits until the bytes it read last have moved.
    if aligned > 0 && collapse_ok && collapse_possible(&live) {
        publish()?;
        if collapse(&live, aligned).is_ok() {
            return Ok(Rotated {
                moved: aligned,
                lossless: true,
            });
        }
    }
    // Cannot collapse: copy up to the end (appends during the copy
    // included), then truncate at once.
    live.seek(SeekFrom::Start(aligned))?;
    let mut moved = aligned;
    loop {
        let n = io::copy(&mut (&mut live).take(1 << 20), &mut out)?;
        moved += n;
        if n == 0 {
            break;
        }
    }
    out.flush()?;
    publish()?;
    live.set_len(0)?;
    Ok(Rotated {
        moved,
        lossless: false,
    })
}

/// The oldest first, then the live file: everything kept, in order.
pub fn all_files(path: &Path, keep: u32) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = (1..=keep)
        .rev()
        .map(|n| old_path(path, n))
        .filter(|p| p.exists())
        .collect();
    v.push(path.to_path_buf());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_of_exactly_whole_blocks_is_still_collapsed_not_copied() {
        // A collapse may not reach EOF: cutting all of a file of exactly k
        // blocks fails, and the copy-and-truncate fallback loses what a
        // writer appends meanwhile. The last block stays instead.
        let d = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/tmp")
            .join(format!("rot-exact-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join("svc.log");
        let line = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
        std::fs::write(&path, line.repeat(4 * 8192 / line.len())).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let block = meta.blksize();
        assert_eq!(meta.len() % block, 0, "exactly whole blocks");
        let can = collapse_possible(&std::fs::File::open(&path).unwrap());
        let r = rotate(&path, 2).unwrap();
        assert!(
            r.lossless || !can,
            "collapsed where the file system can: {r:?}"
        );
        let old = std::fs::read_to_string(d.join("svc.log.1")).unwrap();
        let live = std::fs::read_to_string(&path).unwrap();
        assert_eq!(old.len() + live.len(), meta.len() as usize, "nothing lost");
        if can {
            assert_eq!(live.len() as u64, block, "the last block stays");
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("stigmer-rot-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn read_all(path: &Path, keep: u32) -> String {
        all_files(path, keep)
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    #[test]
    fn rotates_over_the_limit_keeping_n_old_files_in_order() {
        let d = dir("keep");
        let log = d.join("svc.log");
        let r = Rotation {
            max_bytes: 10_000,
            keep: 3,
        };
        let mut expected = String::new();
        let mut w = crate::state::open_private(&log, true).unwrap();
        for round in 0..3 {
            for i in 0..800 {
                let line = format!("round {round} line {i}\n");
                w.write_all(line.as_bytes()).unwrap();
                expected += &line;
            }
            assert!(rotate_if_needed(&log, r).unwrap().is_some());
        }
        assert!(
            rotate_if_needed(&log, r).unwrap().is_none(),
            "under the limit now"
        );
        assert_eq!(read_all(&log, 3), expected, "nothing lost, nothing twice");
        assert!(old_path(&log, 3).exists() && !old_path(&log, 4).exists());
        // A fourth rotation drops the oldest.
        for i in 0..600 {
            writeln!(w, "round 3 line {i}").unwrap();
        }
        rotate(&log, 3).unwrap();
        assert!(!read_all(&log, 3).contains("round 0 line 0\n"));
        assert!(read_all(&log, 3).ends_with("round 3 line 599\n"));
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn keep_zero_discards_and_missing_files_are_fine() {
        let d = dir("zero");
        let log = d.join("svc.log");
        assert_eq!(rotate_if_needed(&log, Rotation::default()).unwrap(), None);
        std::fs::write(&log, "x".repeat(9000)).unwrap();
        rotate(&log, 0).unwrap();
        assert!(std::fs::metadata(&log).unwrap().len() < 9000);
        assert!(!old_path(&log, 1).exists());
        let _ = std::fs::remove_dir_all(d);
    }
}
