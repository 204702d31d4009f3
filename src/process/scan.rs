//! One pass over `/proc` that answers every question the status needs: who
//! is in the service's group, who carries our environment tag (escaped and
//! orphaned processes), who holds the lock file open with a lock on it, and
//! who owns the listening sockets on our ports.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

use super::identity::{cmd_string, parse_stat, read_env, ProcStat};

pub struct ScanRequest<'a> {
    pub tag_var: &'a str,
    /// Prefix of the tag value that marks processes of this state dir.
    pub tag_prefix: &'a str,
    /// Groups whose members we want.
    pub pgids: &'a [i32],
    /// Find processes holding a lock through this file.
    pub lock_path: Option<&'a Path>,
    /// Socket inodes whose owners we want (listening sockets on our ports).
    pub socket_inodes: &'a [u64],
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct ProcEntry {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub state: char,
    pub start_ticks: u64,
    pub cmd: String,
    /// The tag value, when the process carries ours.
    pub tag: Option<String>,
    pub rss_bytes: u64,
    /// CPU time used so far, user + system, in clock ticks.
    pub cpu_ticks: u64,
}

#[derive(Debug, Default, Clone)]
pub struct Scan {
    /// Processes of interest: group members, tagged, holders, owners.
    pub procs: Vec<ProcEntry>,
    pub lock_holders: Vec<i32>,
    pub socket_owners: HashMap<u64, i32>,
    /// How many processes were looked at.
    pub total: usize,
}

impl Scan {
    pub fn get(&self, pid: i32) -> Option<&ProcEntry> {
        self.procs.iter().find(|p| p.pid == pid)
    }
}

use crate::platform::page_size;

/// Tag values by (pid, start time, comm). The environment a process was
/// exec'ed with does not change, so each process's `environ` is read once;
/// comm is in the key because exec changes it (a forked child shows its
/// parent's environment until it execs).
type TagKey = (i32, u64, String);
static TAGS: Mutex<Option<HashMap<TagKey, Option<String>>>> = Mutex::new(None);

pub fn scan(req: &ScanRequest<'_>) -> Scan {
    let mut out = Scan::default();
    let Ok(pids) = crate::platform::pids() else {
        return out;
    };
    let own_uid = rustix::process::geteuid().as_raw();
    let mut cache = TAGS.lock().unwrap_or_else(|e| e.into_inner());
    let old = cache.take().unwrap_or_default();
    let mut fresh: HashMap<TagKey, Option<String>> = HashMap::with_capacity(old.len() + 16);
    let mut procs: Vec<(ProcStat, Option<String>, bool)> = Vec::new();
    let mut buf = String::with_capacity(512);
    for pid in pids {
        out.total += 1;
        if crate::platform::read_stat_text(pid, &mut buf).is_err() {
            continue;
        }
        let Some(stat) = parse_stat(pid, &buf) else {
            continue;
        };
        // Kernel threads (children of kthreadd) have no environment.
        if stat.ppid == 2 || pid == 2 {
            continue;
        }
        // Only our own user's processes can be ours; others' environ is unreadable anyway.
        let mine = uid_of(pid) == Some(own_uid);
        let key = (pid, stat.start_ticks, stat.comm.clone());
        let tag = match old.get(&key) {
            Some(t) => t.clone(),
            None if mine => match read_env(pid, req.tag_var) {
                Some(t) => t,
                // Mid-exec or exiting: read again next time, cache nothing.
                None => {
                    procs.push((stat, None, mine));
                    continue;
                }
            },
            None => None,
        };
        fresh.insert(key, tag.clone());
        let tag = tag.filter(|t| t.starts_with(req.tag_prefix));
        procs.push((stat, tag, mine));
    }
    *cache = Some(fresh);
    drop(cache);

    let interesting = holders_and_owners(req, &procs, &mut out);
    out.procs = procs
        .into_iter()
        .filter(|(st, _, _)| interesting.contains(&st.pid))
        .map(|(st, tag, _)| entry_of(st, tag))
        .collect();
    out.procs.sort_by_key(|p| p.pid);
    out.lock_holders.sort_unstable();
    out
}

/// Marks who holds the lock and who owns the sockets asked about (through
/// each process's open files); the PIDs worth keeping in the scan.
fn holders_and_owners(
    req: &ScanRequest<'_>,
    procs: &[(ProcStat, Option<String>, bool)],
    out: &mut Scan,
) -> HashSet<i32> {
    let want_fds = req.lock_path.is_some() || !req.socket_inodes.is_empty();
    let lock_target = req.lock_path.map(|p| p.to_string_lossy().into_owned());
    let sockets: HashSet<String> = req
        .socket_inodes
        .iter()
        .map(|i| format!("socket:[{i}]"))
        .collect();
    let is_candidate =
        |st: &ProcStat, tag: &Option<String>| tag.is_some() || req.pgids.contains(&st.pgid);
    let mut interesting: HashSet<i32> = procs
        .iter()
        .filter(|(st, tag, _)| is_candidate(st, tag))
        .map(|(st, _, _)| st.pid)
        .collect();
    if want_fds {
        // Our own processes first; everyone else only if a holder or owner is
        // still missing (a stranger holds our lock or one of our ports).
        for pass in [true, false] {
            if !pass {
                let lock_found = lock_target.is_none() || !out.lock_holders.is_empty();
                if lock_found && out.socket_owners.len() >= req.socket_inodes.len() {
                    break;
                }
            }
            for (st, tag, _) in procs {
                if is_candidate(st, tag) != pass {
                    continue;
                }
                let (holds_lock, owned) =
                    crate::platform::scan_fds(st.pid, lock_target.as_deref(), &sockets);
                if holds_lock {
                    out.lock_holders.push(st.pid);
                    interesting.insert(st.pid);
                }
                for ino in owned {
                    out.socket_owners.entry(ino).or_insert(st.pid);
                    interesting.insert(st.pid);
                }
            }
        }
    }
    interesting
}

fn entry_of(stat: ProcStat, tag: Option<String>) -> ProcEntry {
    ProcEntry {
        cmd: cmd_string(stat.pid, &stat.comm),
        pid: stat.pid,
        ppid: stat.ppid,
        pgid: stat.pgid,
        sid: stat.sid,
        state: stat.state,
        start_ticks: stat.start_ticks,
        tag,
        rss_bytes: stat.rss_pages * page_size(),
        cpu_ticks: stat.utime + stat.stime,
    }
}

fn uid_of(pid: i32) -> Option<u32> {
    super::identity::proc_uid(pid)
}
