//! Property tests of every parser that reads a file a user or an attacker
//! can write: the PID file, config.toml, the intent file, and the lines a
//! supervisor's socket sends (its view of the services among them).
//! Whatever the bytes: no panic, and a verdict (the caps on what is read
//! bound time and memory; oversized input is refused, not parsed).

use std::path::Path;

use proptest::prelude::*;
use stigmer::config::FileConfig;
use stigmer::lifecycle::Intent;
use stigmer::state::pidfile::{self, PidFile};

const VALID_RECORD: &str = r#"{"service":"temporal","pid":4242,"pgid":4242,"sid":4242,
"start_ticks":99,"boot_id":"b","cmdline":["temporal","server"],"ports":[{"role":"grpc","port":7233}],
"version":"0.1.0","started_at_ms":1,"started_by_pid":1000,"started_by":"stigmer","tag":"temporal:x:y",
"ready_at_ms":5}"#;

const VALID_CONFIG: &str = "port = 7233\nui_port = 8233\nhttp_port = 7243\n\
temporal_bin = \"/x/temporal\"\nextra_args = [\"--log-level\", \"info\"]\n\
grace_secs = 15.0\nready_timeout_secs = 60.0\n[restart]\ninitial_ms = 250\n\
max_ms = 10000\nmax_failures = 5\nwindow_secs = 60\n";

/// A valid input with a few bytes replaced, inserted or cut off.
fn mutated(base: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    (
        prop::collection::vec((0..len, any::<u8>(), 0u8..3), 1..8),
        0..=len,
    )
        .prop_map(move |(edits, cut)| {
            let mut b = base.as_bytes().to_vec();
            for (at, byte, kind) in edits {
                let at = at.min(b.len().saturating_sub(1));
                match kind {
                    0 if !b.is_empty() => b[at] = byte,
                    1 => b.insert(at, byte),
                    _ if !b.is_empty() => {
                        b.remove(at);
                    }
                    _ => {}
                }
            }
            b.truncate(cut.max(b.len() / 2));
            b
        })
}

fn check_all(bytes: &[u8]) {
    let _ = pidfile::parse(bytes);
    let _ = FileConfig::parse(Path::new("config.toml"), bytes);
    let _ = Intent::parse(bytes);
    let _ = serde_json::from_slice::<stigmer::control::Reply>(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        check_all(&bytes);
    }

    #[test]
    fn near_valid_pid_files_are_valid_or_corrupt_never_a_panic(bytes in mutated(VALID_RECORD)) {
        check_all(&bytes);
        if let PidFile::Valid(r) = pidfile::parse(&bytes) {
            prop_assert!(r.pid > 1 && r.pgid > 1, "PID 0/1 is never valid: {r:?}");
        }
    }

    #[test]
    fn near_valid_configs_parse_or_say_which_file(bytes in mutated(VALID_CONFIG)) {
        if let Err(e) = FileConfig::parse(Path::new("/h/config.toml"), &bytes) {
            let msg = format!("{e:#}");
            prop_assert!(msg.contains("/h/config.toml") && msg.contains("fix or remove it"), "{msg}");
        }
    }

    #[test]
    fn config_values_of_any_size_are_checked(
        port in any::<i64>(), grace in any::<f64>(), failures in any::<i64>(),
    ) {
        let text = format!("port = {port}\ngrace_secs = {grace:?}\n[restart]\nmax_failures = {failures}\n");
        let _ = FileConfig::parse(Path::new("config.toml"), text.as_bytes());
    }

    #[test]
    fn toml_shaped_noise_never_panics(text in "[a-z_\\[\\]=\" 0-9.\n{},#'-]{0,300}") {
        check_all(text.as_bytes());
    }
}

#[test]
fn oversized_pid_files_are_refused_without_parsing() {
    let huge = format!("{{\"pid\": 5, \"x\": \"{}\"}}", "a".repeat(100 * 1024));
    assert!(
        matches!(pidfile::parse(huge.as_bytes()), PidFile::Corrupt(why) if why.contains("limit"))
    );
    assert!(matches!(
        pidfile::parse(VALID_RECORD.as_bytes()),
        PidFile::Valid(_)
    ));
    assert!(FileConfig::parse(Path::new("c"), VALID_CONFIG.as_bytes()).is_ok());
}
