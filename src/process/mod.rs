//! Processes: identity (pid + start time + boot id), safe signals, and the
//! one-pass process scan that finds group members, tagged escapees, lock
//! holders and port owners; CPU and memory from tick and page counts. The
//! facts themselves come from `platform`.

pub mod identity;
pub mod scan;
pub mod signal;
pub mod usage;

pub use identity::{boot_id, read_stat, Identity, ProcStat, Verdict};
pub use scan::scan as scan_proc;
pub use scan::{ProcEntry, Scan, ScanRequest};
pub use signal::{Sig, SignalOutcome};
