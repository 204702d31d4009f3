//! The PID file: JSON metadata for humans and for identity checks. Written
//! atomically; read tolerantly (missing, corrupt, oversized or a symlink are
//! all just "not trustworthy"); never trusted alone.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::process::Identity;
use crate::state::{read_capped, write_atomic};

const PIDFILE_CAP: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortRecord {
    pub role: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PidRecord {
    pub service: String,
    pub pid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub start_ticks: u64,
    pub boot_id: String,
    pub cmdline: Vec<String>,
    pub ports: Vec<PortRecord>,
    /// This program's version when it started the service.
    pub version: String,
    /// Unix time in milliseconds.
    pub started_at_ms: u64,
    /// Who started it: PID and command of the starter.
    pub started_by_pid: i32,
    pub started_by: String,
    /// The value of the environment tag every service process inherits.
    pub tag: String,
    /// Unix ms when it first passed its readiness check. A service that was
    /// ready and stops answering is unhealthy, never "starting" again.
    #[serde(default)]
    pub ready_at_ms: Option<u64>,
    /// The log's length when it was spawned: what this run wrote starts here.
    #[serde(default)]
    pub log_offset: Option<u64>,
}

impl PidRecord {
    /// A record of no process, for checks that need none (a port probe).
    pub fn placeholder() -> Self {
        Self {
            service: String::new(),
            pid: 0,
            pgid: 0,
            sid: 0,
            start_ticks: 0,
            boot_id: String::new(),
            cmdline: vec![],
            ports: vec![],
            version: String::new(),
            started_at_ms: 0,
            started_by_pid: 0,
            started_by: String::new(),
            tag: String::new(),
            ready_at_ms: None,
            log_offset: None,
        }
    }

    /// The identity to prove before trusting or signalling the recorded
    /// process. A tag that does not begin with `tag_prefix` (this state
    /// dir's) proves nothing: the file was copied from another home.
    pub fn identity(&self, tag_prefix: &str) -> Identity {
        Identity {
            pid: self.pid,
            start_ticks: self.start_ticks,
            boot_id: self.boot_id.clone(),
            tag: Some(self.tag.clone())
                .filter(|t| t.starts_with(tag_prefix) && !tag_prefix.is_empty()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PidFile {
    Missing,
    Valid(Box<PidRecord>),
    /// Present but unreadable; the reason says why. Treated as stale.
    Corrupt(String),
}

impl PidFile {
    pub fn record(&self) -> Option<&PidRecord> {
        match self {
            PidFile::Valid(r) => Some(r),
            _ => None,
        }
    }
}

pub fn read(path: &Path) -> PidFile {
    let bytes = match read_capped(path, PIDFILE_CAP) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return PidFile::Missing,
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return PidFile::Corrupt("it is a symlink".into())
        }
        Err(e) => return PidFile::Corrupt(e.to_string()),
    };
    parse(&bytes)
}

/// The PID file's bytes as a verdict; never panics, whatever the bytes.
pub fn parse(bytes: &[u8]) -> PidFile {
    if bytes.len() as u64 > PIDFILE_CAP {
        return PidFile::Corrupt(format!("it is over the {PIDFILE_CAP}-byte limit"));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return PidFile::Corrupt("it is empty".into());
    }
    match serde_json::from_slice::<PidRecord>(bytes) {
        Ok(r) if r.pid > 1 && r.pgid > 1 => PidFile::Valid(Box::new(r)),
        Ok(r) => PidFile::Corrupt(format!("it names PID {} / PGID {}", r.pid, r.pgid)),
        Err(e) => PidFile::Corrupt(format!("not valid JSON metadata ({e})")),
    }
}

pub fn write(path: &Path, rec: &PidRecord) -> io::Result<()> {
    let mut json = serde_json::to_vec_pretty(rec).map_err(io::Error::other)?;
    json.push(b'\n');
    write_atomic(path, &json)
}

/// Records that the process `pid` names became ready (once; a no-op when
/// the file now names another process).
pub fn mark_ready(path: &Path, pid: i32, at_ms: u64) -> io::Result<()> {
    match read(path) {
        PidFile::Valid(mut r) if r.pid == pid && r.ready_at_ms.is_none() => {
            r.ready_at_ms = Some(at_ms);
            write(path, &r)
        }
        _ => Ok(()),
    }
}

pub fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PidRecord {
        PidRecord {
            service: "temporal".into(),
            pid: 4242,
            pgid: 4242,
            sid: 4242,
            start_ticks: 99,
            boot_id: "b".into(),
            cmdline: vec!["temporal".into()],
            ports: vec![PortRecord {
                role: "grpc".into(),
                port: 7233,
            }],
            version: "0".into(),
            started_at_ms: 1,
            started_by_pid: 1000,
            started_by: "stigmer".into(),
            tag: "temporal:x:y".into(),
            ready_at_ms: None,
            log_offset: None,
        }
    }

    #[test]
    fn round_trips_and_tolerates_garbage() {
        let dir = std::env::temp_dir().join(format!("stigmer-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("temporal.pid");
        assert_eq!(read(&path), PidFile::Missing);
        write(&path, &sample()).unwrap();
        assert_eq!(read(&path), PidFile::Valid(Box::new(sample())));
        for (bytes, why) in [
            (b"".to_vec(), "empty"),
            (b"  \n".to_vec(), "empty"),
            (b"{\"pid\": 12".to_vec(), "JSON"),
            (b"4242\n".to_vec(), "JSON"),
            (vec![b' '; 70 * 1024], "limit"),
        ] {
            std::fs::write(&path, bytes).unwrap();
            match read(&path) {
                PidFile::Corrupt(reason) => assert!(reason.contains(why), "{reason}"),
                other => panic!("{other:?}"),
            }
        }
        let mut bad = sample();
        bad.pid = 1;
        write(&path, &bad).unwrap();
        assert!(matches!(read(&path), PidFile::Corrupt(_)));
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", &path).unwrap();
        assert!(matches!(read(&path), PidFile::Corrupt(r) if r.contains("symlink")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
