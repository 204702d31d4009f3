//! Whether a flock is held on a file, from `/proc/locks` (by device and
//! inode: asking never takes or disturbs the lock). Who holds it is found
//! through each process's open files (`proc::scan_fds`).

use std::io;
use std::os::unix::fs::MetadataExt;

/// Device and inode of a file, in the `MAJ:MIN:INO` form of `/proc/locks`.
fn lock_key(meta: &std::fs::Metadata) -> String {
    let dev = meta.dev();
    format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        meta.ino()
    )
}

/// Is any flock held on the file `meta` describes right now? Never takes
/// the lock itself (the caller has checked it is a regular file).
pub fn flock_held(meta: &std::fs::Metadata) -> io::Result<bool> {
    let locks = std::fs::read_to_string("/proc/locks")?;
    Ok(locks_mention(&locks, &lock_key(meta)))
}

fn locks_mention(locks: &str, key: &str) -> bool {
    locks.lines().any(|line| {
        let mut f = line.split_whitespace().skip(1);
        let first = f.next();
        // "N: -> FLOCK ..." lines are waiters, not holders.
        first == Some("FLOCK") && f.nth(3) == Some(key)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_parsing_ignores_waiters_and_other_files() {
        let text = "1: FLOCK  ADVISORY  WRITE 100 fd:01:42 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 200 fd:01:43 0 EOF\n\
                    2: POSIX  ADVISORY  WRITE 300 fd:01:44 0 EOF\n";
        assert!(locks_mention(text, "fd:01:42"));
        assert!(!locks_mention(text, "fd:01:43"));
        assert!(!locks_mention(text, "fd:01:44"));
        assert!(!locks_mention(text, "fd:01:4"));
    }
}
