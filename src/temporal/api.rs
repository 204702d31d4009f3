//! Temporal's HTTP API: one bounded GET (`Api::get`) whose every failure is
//! an error that says what, and the calls of one refresh made
//! concurrently (`concurrently`).

use serde_json::Value;

/// What Temporal's HTTP API would not tell, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(super) struct ApiError(pub(super) String);

impl From<&str> for ApiError {
    fn from(s: &str) -> Self {
        ApiError(s.to_string())
    }
}

pub(super) struct Api {
    pub(super) agent: ureq::Agent,
    pub(super) base: String,
}

impl Api {
    pub(super) fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.get(&url);
        for (k, v) in query {
            req = req.query(*k, *v);
        }
        let mut resp = req.call().map_err(|e| {
            ApiError(match e {
                ureq::Error::Timeout(_) => format!("Temporal did not answer {path} in time"),
                ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    "Temporal's HTTP API refuses connections (not running?)".to_string()
                }
                other => format!("{path}: {other}"),
            })
        })?;
        let status = resp.status();
        let body = resp
            .body_mut()
            .with_config()
            .limit(8 << 20)
            .read_to_string()
            .map_err(|e| ApiError(format!("{path}: {e}")))?;
        if !status.is_success() {
            return Err(ApiError(format!(
                "{path}: HTTP {status}: {}",
                crate::util::output::short(body.trim(), 120)
            )));
        }
        let v: Value = serde_json::from_str(&body).map_err(|e| {
            ApiError(format!(
                "{path}: not the JSON Temporal's API answers ({e}): {:?}",
                crate::util::output::short(body.trim(), 60)
            ))
        })?;
        if !v.is_object() {
            return Err(ApiError(format!("{path}: expected a JSON object")));
        }
        Ok(v)
    }
}

/// At most this many of one refresh's calls at once.
const CONCURRENT: usize = 8;

/// `f` of each item, [`CONCURRENT`] at a time on scoped threads, in
/// order; a call that panicked (a bug) is an error, never the refresh's end.
pub(super) fn concurrently<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, ApiError> + Sync,
) -> Vec<Result<R, ApiError>> {
    let f = &f;
    items
        .chunks(CONCURRENT)
        .flat_map(|chunk| {
            std::thread::scope(|s| {
                let handles: Vec<_> = chunk.iter().map(|i| s.spawn(move || f(i))).collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(ApiError("a call to Temporal failed unexpectedly".into()))
                        })
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn calls_run_concurrently_in_order_and_a_panic_is_an_error() {
        let items: Vec<u64> = (0..20).collect();
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let out = concurrently(&items, |i| {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            now.fetch_sub(1, Ordering::SeqCst);
            if *i == 7 {
                panic!("a bug (on purpose)");
            }
            Ok(i * 2)
        });
        let most = most.load(Ordering::SeqCst);
        assert!(most > 1 && most <= CONCURRENT, "{most} at once");
        assert_eq!(out.len(), 20);
        assert!(out[7].is_err());
        assert_eq!(out[19].as_ref().ok(), Some(&38));
        assert_eq!(out[3].as_ref().ok(), Some(&6));
    }
}
