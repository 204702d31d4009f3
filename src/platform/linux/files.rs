//! Cutting the head off a file in place: `fallocate(COLLAPSE_RANGE)`,
//! where the file system can (log rotation without losing a byte a writer
//! appends meanwhile).

use std::fs::File;
use std::io;

/// Whether the file system can collapse a range of this file (there is no
/// dry run of `fallocate`, so ask the file system's type).
pub fn collapse_possible(f: &File) -> bool {
    // ext4 and XFS collapse ranges; tmpfs, overlayfs, NFS… do not.
    const EXT4: i64 = 0xEF53;
    const XFS: i64 = 0x5846_5342;
    rustix::fs::fstatfs(f).is_ok_and(|s| {
        // Its width differs between architectures.
        #[allow(clippy::unnecessary_cast)]
        let t = s.f_type as i64;
        t == EXT4 || t == XFS
    })
}

pub fn collapse(f: &File, len: u64) -> io::Result<()> {
    use rustix::fs::{fallocate, FallocateFlags};
    fallocate(f, FallocateFlags::COLLAPSE_RANGE, 0, len).map_err(io::Error::from)
}

/// In a forked child, before exec: every descriptor from `first` up is
/// marked close-on-exec, so that nothing this process inherited (a job
/// server's pipe, a terminal's descriptor, a socket) outlives the exec in
/// a service or a detached supervisor. `close_range(2)` with
/// `CLOSE_RANGE_CLOEXEC` (Linux 5.11); on an older kernel nothing changes.
/// One raw syscall: async-signal-safe.
pub fn cloexec_from(first: u32) {
    use nix::libc;
    // SAFETY: a raw syscall on this process's own descriptor table.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}
