//! Following a log file by path through appends, truncation and rotation,
//! with bounded memory: lines are capped in length and each poll reads at
//! most a fixed number of bytes, so a flood cannot make us balloon.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const MAX_LINE: usize = 4096;
const LAST: usize = 64;

/// How a rotation moved the bytes a follower was at.
enum Moved {
    /// The first `k` bytes were cut out: the same bytes are `k` earlier.
    Collapsed(u64),
    /// We were behind what went to `.1` (`k` bytes): read the rest there,
    /// then the live file from its start.
    ReadOld(u64),
}
const READ_CAP: usize = 1 << 20;

pub struct LogTail {
    path: PathBuf,
    file: Option<File>,
    ino: u64,
    pos: u64,
    partial: Vec<u8>,
    /// The identity of `<path>.1` last seen (a rotation replaces it).
    rot_id: Option<(u64, i64, i64)>,
    /// The last bytes read (up to [`LAST`]): where they are now tells how a
    /// rotation moved the file.
    last: Vec<u8>,
    /// Lines dropped because a poll hit its read cap (the rest comes next poll).
    pub truncations: u64,
    /// Inside a line longer than [`MAX_LINE`], already shown capped.
    skipping: bool,
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
            skipping: false,
            rot_id: None,
            last: Vec::new(),
            truncations: 0,
        };
        t.rot_id = t.rotated_id();
        if let Ok(f) = crate::state::open_read_nofollow(path) {
            if let Ok(m) = f.metadata() {
                t.ino = m.ino();
                t.pos = m.len();
            }
            t.file = Some(f);
        }
        t.remember_before(t.pos);
        t
    }

    /// The bytes before `pos`, as if just read (to recognise them after a
    /// rotation).
    fn remember_before(&mut self, pos: u64) {
        self.last.clear();
        let Some(f) = self.file.as_mut() else { return };
        let n = pos.min(LAST as u64);
        let mut buf = vec![0u8; n as usize];
        if f.seek(SeekFrom::Start(pos - n)).is_ok() && f.read_exact(&mut buf).is_ok() {
            self.last = buf;
        }
    }

    /// Follows from byte `offset` (from the end if the file is shorter now).
    pub fn from_offset(path: &Path, offset: u64) -> Self {
        let mut t = Self::at_end(path);
        if offset <= t.pos {
            t.pos = offset;
            t.remember_before(offset);
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
            // The window began inside a line: its start is not here. Alone
            // (a line longer than the window), its end is shown, marked.
            let first = lines.remove(0);
            if lines.is_empty() {
                lines.push(cut_tail(text.lines().next().unwrap_or(&first)));
            }
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
            self.last.clear();
            self.rot_id = self.rotated_id(); // that `.1` is the file we just finished
        } else if let Some(moved) = self.rotation_seen() {
            // Our rotation moved the file's first bytes to a new `.1` (see
            // `rotate`): what we had not read of them is there, and the rest
            // is now that much earlier. Seen by `.1` changing (the file may
            // have grown back past us already), and checked against the
            // last bytes we read, so a half-done rotation is not misread.
            match moved {
                Moved::Collapsed(k) => self.pos -= k,
                Moved::ReadOld(k) => {
                    self.read_rotated(k, &mut out);
                    self.pos = 0;
                }
            }
        } else if meta.as_ref().is_some_and(|m| m.len() < self.pos) {
            // Truncated by someone else: start again from the top.
            self.pos = 0;
            self.partial.clear();
            self.skipping = false;
            self.last.clear();
        }
        self.read_new(&mut out);
        out
    }

    /// `.1`'s identity: a rotation creates a new one.
    fn rotated_id(&self) -> Option<(u64, i64, i64)> {
        let m = std::fs::symlink_metadata(crate::logs::rotate::old_path(&self.path, 1)).ok()?;
        Some((m.ino(), m.ctime(), m.ctime_nsec()))
    }

    /// A rotation since the last look, once it is complete and the bytes we
    /// read last are found where it put them.
    fn rotation_seen(&mut self) -> Option<Moved> {
        let id = self.rotated_id();
        if id == self.rot_id {
            return None;
        }
        let old = crate::logs::rotate::old_path(&self.path, 1);
        let k = std::fs::symlink_metadata(&old).ok().map(|m| m.len());
        let Some(k) = k.filter(|_| id.is_some()) else {
            self.rot_id = id; // `.1` went away: nothing to follow there
            return None;
        };
        let at = |path: &Path, end: u64| -> bool {
            let n = self.last.len() as u64;
            if end < n {
                return false;
            }
            let Ok(mut f) = crate::state::open_read_nofollow(path) else {
                return false;
            };
            let mut buf = vec![0u8; n as usize];
            f.seek(SeekFrom::Start(end - n)).is_ok()
                && f.read_exact(&mut buf).is_ok()
                && buf == self.last
        };
        let live_len = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        let verdict = if self.last.is_empty() {
            // Nothing read to check against: wait until the live file has
            // lost what `.1` got, then read `.1` from our position.
            if live_len >= k && live_len >= self.pos {
                return None;
            }
            Some(Moved::ReadOld(k))
        } else if live_len >= self.pos && at(&self.path, self.pos) {
            // `.1` is new but the live file has not moved yet: look again.
            return None;
        } else if k <= self.pos && at(&self.path, self.pos - k) {
            Some(Moved::Collapsed(k))
        } else if self.pos <= k && at(&old, self.pos) {
            Some(Moved::ReadOld(k))
        } else {
            None
        };
        self.rot_id = id;
        verdict.or_else(|| {
            // Neither: not a rotation of ours; start again from the top.
            self.partial.clear();
            self.skipping = false;
            self.last.clear();
            Some(Moved::Collapsed(self.pos))
        })
    }

    /// What `.1` holds past our position (moved before we read it).
    fn read_rotated(&mut self, k: u64, out: &mut Vec<String>) {
        let Ok(old) =
            crate::state::open_read_nofollow(&crate::logs::rotate::old_path(&self.path, 1))
        else {
            return;
        };
        let live = self.file.replace(old);
        if self.pos > k {
            self.pos = 0; // not ours to make sense of: read it all
        }
        self.read_new(out);
        self.file = live;
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
        if n > 0 {
            let keep = buf.len().min(LAST);
            if keep == LAST {
                self.last.clear();
            } else {
                let drop = (self.last.len() + keep).saturating_sub(LAST);
                self.last.drain(..drop);
            }
            self.last.extend_from_slice(&buf[buf.len() - keep..]);
        }
        let mut start = 0;
        for (i, b) in buf.iter().enumerate() {
            if *b == b'\n' {
                if std::mem::take(&mut self.skipping) {
                    // The end of a line already shown capped.
                } else {
                    self.partial.extend_from_slice(&buf[start..i]);
                    out.push(cap_line(&String::from_utf8_lossy(&self.partial)));
                }
                self.partial.clear();
                start = i + 1;
            }
        }
        if !self.skipping {
            self.partial.extend_from_slice(&buf[start..]);
        }
        if self.partial.len() > MAX_LINE {
            // Shown capped now; the rest of that line is skipped, not
            // shown as more lines.
            self.flush_partial(out);
            self.skipping = true;
        }
    }

    fn flush_partial(&mut self, out: &mut Vec<String>) {
        if !self.partial.is_empty() {
            out.push(cap_line(&String::from_utf8_lossy(&self.partial)));
            self.partial.clear();
        }
    }
}

/// The end of a line whose start is missing: `…` and its last
/// [`MAX_LINE`] bytes.
fn cut_tail(s: &str) -> String {
    let s = s.trim_end_matches('\r');
    let mut start = s.len().saturating_sub(MAX_LINE);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

/// Reads one line (through its newline) from `r` into `out`, keeping at
/// most [`MAX_LINE`] bytes of it (then `…`, like every capped line) and
/// skipping the rest: a line of any length costs bounded memory. The bytes
/// consumed, 0 at the end.
pub fn read_line_capped(
    r: &mut impl std::io::BufRead,
    out: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut consumed = 0;
    let mut cut = false;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let room = MAX_LINE.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        cut |= chunk.len() > room && !(done && chunk.len() == room + 1);
        let n = chunk.len();
        r.consume(n);
        consumed += n;
        if done {
            break;
        }
    }
    if cut {
        while out.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            out.pop();
        }
        // A character cut in two reads as U+FFFD (callers read lossily).
        out.extend_from_slice("…".as_bytes());
    }
    Ok(consumed)
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

    #[test]
    fn a_line_of_any_length_is_read_capped_and_marked() {
        let long = "x".repeat(3 * MAX_LINE);
        let text = format!("short\n{long}\nend\n{long}");
        let mut r = std::io::BufReader::with_capacity(1000, text.as_bytes());
        let mut got = vec![];
        loop {
            let mut buf = Vec::new();
            if read_line_capped(&mut r, &mut buf).unwrap() == 0 {
                break;
            }
            got.push(String::from_utf8(buf).unwrap());
        }
        assert_eq!(
            got.len(),
            4,
            "{:?}",
            got.iter().map(|l| l.len()).collect::<Vec<_>>()
        );
        assert_eq!(got[0], "short\n");
        assert_eq!(got[2], "end\n");
        for l in [&got[1], &got[3]] {
            assert!(l.ends_with('…') && l.len() <= MAX_LINE + 3, "{}", l.len());
        }
    }

    #[test]
    fn the_tail_of_a_line_longer_than_the_window_is_shown_marked() {
        let dir = std::env::temp_dir().join(format!("stigmer-tail-long-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("long.log");
        std::fs::write(&p, format!("{}THE-END", "y".repeat(200_000))).unwrap();
        let lines = LogTail::last_lines(&p, 10);
        assert_eq!(
            lines.len(),
            1,
            "{:?}",
            lines.iter().map(|l| l.len()).collect::<Vec<_>>()
        );
        assert!(lines[0].starts_with('…') && lines[0].ends_with("THE-END"));
        assert!(lines[0].len() <= MAX_LINE + 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

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

    #[test]
    fn follows_a_rotation_in_place_without_losing_or_repeating_lines() {
        let dir = std::env::temp_dir().join(format!("stigmer-tail-rot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.log");
        let mut w = crate::state::open_private(&p, true).unwrap();
        let mut t = LogTail::at_end(&p);
        let mut seen = vec![];
        let mut n = 0;
        for round in 0..6 {
            for _ in 0..700 {
                writeln!(w, "line {n}").unwrap();
                n += 1;
            }
            // Sometimes the follower is behind when the rotation comes.
            if round % 2 == 0 {
                seen.extend(t.poll());
            }
            // Both ways: collapsing a range, and copy-then-truncate.
            crate::logs::rotate::rotate_with(&p, 3, round < 3).unwrap();
            for _ in 0..10 {
                writeln!(w, "line {n}").unwrap();
                n += 1;
            }
            seen.extend(t.poll());
        }
        let want: Vec<String> = (0..n).map(|i| format!("line {i}")).collect();
        let first_diff = seen.iter().zip(&want).position(|(a, b)| a != b);
        assert!(
            first_diff.is_none() && seen.len() == want.len(),
            "{} lines seen of {}; first difference at {first_diff:?}: {:?}",
            seen.len(),
            want.len(),
            first_diff.map(|i| &seen[i.saturating_sub(2)..(i + 3).min(seen.len())])
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
