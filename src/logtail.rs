//! Following a log file by path through appends, truncation and rotation,
//! with bounded memory: lines are capped in length and each poll reads at
//! most a fixed number of bytes, so a flood cannot make us balloon.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const MAX_LINE: usize = 4096;
const READ_CAP: usize = 1 << 20;

pub struct LogTail {
    path: PathBuf,
    file: Option<File>,
    ino: u64,
    pos: u64,
    partial: Vec<u8>,
    /// Lines dropped because a poll hit its read cap (the rest comes next poll).
    pub truncations: u64,
}

impl LogTail {
    /// Starts at the end of the file: only new lines are reported.
    pub fn at_end(path: &Path) -> Self {
        let mut t = Self {
            path: path.to_path_buf(),
            file: None,
            ino: 0,
            pos: 0,
            partial: vec![],
            truncations: 0,
        };
        if let Ok(f) = crate::state::open_read_nofollow(path) {
            if let Ok(m) = f.metadata() {
                t.ino = m.ino();
                t.pos = m.len();
            }
            t.file = Some(f);
        }
        t
    }

    /// Follows from byte `offset` (from the end if the file is shorter now).
    pub fn from_offset(path: &Path, offset: u64) -> Self {
        let mut t = Self::at_end(path);
        if offset <= t.pos {
            t.pos = offset;
        }
        t
    }

    /// The last `n` complete lines written after byte `offset` (what one run
    /// of the service wrote, when `offset` was the length at its spawn).
    pub fn lines_since(path: &Path, offset: u64, n: usize) -> Vec<String> {
        let mut t = Self::at_end(path);
        if t.pos < offset {
            return vec![]; // truncated since: the run's lines are gone
        }
        t.pos = offset;
        let mut lines = t.poll();
        t.flush_partial(&mut lines);
        let skip = lines.len().saturating_sub(n);
        lines.split_off(skip)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last `n` lines of the file (reads at most the last few MiB).
    pub fn last_lines(path: &Path, n: usize) -> Vec<String> {
        let Ok(mut f) = crate::state::open_read_nofollow(path) else {
            return vec![];
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let want = ((n as u64 + 1) * 256).clamp(64 * 1024, 8 << 20).min(len);
        if f.seek(SeekFrom::Start(len - want)).is_err() {
            return vec![];
        }
        let mut buf = Vec::with_capacity(want as usize);
        let _ = f.take(want).read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        let mut lines: Vec<String> = text.lines().map(cap_line).collect();
        if want < len && !lines.is_empty() {
            lines.remove(0); // probably cut in the middle
        }
        let skip = lines.len().saturating_sub(n);
        lines.split_off(skip)
    }

    /// New complete lines since the last call.
    pub fn poll(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let meta = std::fs::metadata(&self.path).ok();
        let replaced = meta.as_ref().is_some_and(|m| m.ino() != self.ino) || self.file.is_none();
        if replaced {
            // Rotation: finish what the old file still had, then switch.
            self.read_new(&mut out);
            self.flush_partial(&mut out);
            self.file = crate::state::open_read_nofollow(&self.path).ok();
            self.ino = meta.as_ref().map(|m| m.ino()).unwrap_or(0);
            self.pos = 0;
        } else if meta.as_ref().is_some_and(|m| m.len() < self.pos) {
            // Truncated in place: start again from the top.
            self.pos = 0;
            self.partial.clear();
        }
        self.read_new(&mut out);
        out
    }

    fn read_new(&mut self, out: &mut Vec<String>) {
        let Some(f) = self.file.as_mut() else { return };
        if f.seek(SeekFrom::Start(self.pos)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        let n = f
            .by_ref()
            .take(READ_CAP as u64)
            .read_to_end(&mut buf)
            .unwrap_or(0);
        if n == READ_CAP {
            self.truncations += 1;
        }
        self.pos += n as u64;
        let mut start = 0;
        for (i, b) in buf.iter().enumerate() {
            if *b == b'\n' {
                self.partial.extend_from_slice(&buf[start..i]);
                out.push(cap_line(&String::from_utf8_lossy(&self.partial)));
                self.partial.clear();
                start = i + 1;
            }
        }
        self.partial.extend_from_slice(&buf[start..]);
        if self.partial.len() > MAX_LINE {
            self.flush_partial(out);
        }
    }

    fn flush_partial(&mut self, out: &mut Vec<String>) {
        if !self.partial.is_empty() {
            out.push(cap_line(&String::from_utf8_lossy(&self.partial)));
            self.partial.clear();
        }
    }
}

fn cap_line(s: &str) -> String {
    let s = s.trim_end_matches('\r');
    if s.len() <= MAX_LINE {
        return s.to_string();
    }
    let mut end = MAX_LINE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(p: &Path, text: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    #[test]
    fn follows_appends_truncation_and_rotation() {
        let dir = std::env::temp_dir().join(format!("stigmer-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.log");
        let _ = std::fs::remove_file(&p);
        append(&p, "old line\n");
        let mut t = LogTail::at_end(&p);
        assert!(t.poll().is_empty(), "starts at the end");
        append(&p, "one\ntw");
        assert_eq!(t.poll(), vec!["one"]);
        append(&p, "o\n");
        assert_eq!(t.poll(), vec!["two"]);
        std::fs::write(&p, "").unwrap();
        append(&p, "after truncate\n");
        assert_eq!(t.poll(), vec!["after truncate"]);
        append(&p, "last of old\n");
        std::fs::rename(&p, dir.join("t.log.1")).unwrap();
        append(&p, "first of new\n");
        assert_eq!(t.poll(), vec!["last of old", "first of new"]);
        std::fs::remove_file(&p).unwrap();
        assert!(t.poll().is_empty(), "a deleted file is not an error");
        append(&p, "recreated\n");
        assert_eq!(t.poll(), vec!["recreated"]);
        append(&p, &"x".repeat(10_000));
        append(&p, "\n");
        let long = t.poll();
        assert!(
            long.iter().all(|l| l.len() <= MAX_LINE + 3),
            "lines are capped"
        );
        assert_eq!(LogTail::last_lines(&p, 1).len(), 1);
        std::fs::write(&p, "before\n").unwrap();
        append(&p, "a\nb\nc");
        assert_eq!(LogTail::lines_since(&p, 7, 2), vec!["b", "c"]);
        assert!(LogTail::lines_since(&p, 999, 2).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
