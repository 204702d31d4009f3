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
        answer(path, req.call())
    }

    /// A GET whose answer is read straight into `T` (fields `T` does not
    /// name are skipped, never built: a list of 1 000 workflows is big).
    pub(super) fn get_as<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.get(&url);
        for (k, v) in query {
            req = req.query(*k, *v);
        }
        let body = body_of(path, req.call())?;
        serde_json::from_str(&body).map_err(|e| not_json(path, &e, &body))
    }

    /// A POST of `body` (a query, a cancel, a terminate, a reset).
    pub(super) fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.base);
        answer(path, self.agent.post(&url).send_json(body))
    }
}

/// Temporal's answer to a call to `path`: a JSON object, or an error that
/// says what went wrong.
fn answer(
    path: &str,
    resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Value, ApiError> {
    let body = body_of(path, resp)?;
    let v: Value = serde_json::from_str(&body).map_err(|e| not_json(path, &e, &body))?;
    if !v.is_object() {
        return Err(ApiError(format!("{path}: expected a JSON object")));
    }
    Ok(v)
}

fn not_json(path: &str, e: &serde_json::Error, body: &str) -> ApiError {
    ApiError(format!(
        "{path}: not the JSON Temporal's API answers ({e}): {:?}",
        crate::util::output::short(body.trim(), 60)
    ))
}

/// The body of a successful answer; an error that says why otherwise.
fn body_of(
    path: &str,
    resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<String, ApiError> {
    let mut resp = resp.map_err(|e| {
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
        // Temporal says why in `message`; the whole body otherwise.
        let why = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(String::from))
            .unwrap_or_else(|| body.trim().to_string());
        return Err(ApiError(format!(
            "{path}: HTTP {status}: {}",
            crate::util::output::short(&why, 120)
        )));
    }
    Ok(body)
}

/// At most this many of one refresh's calls at once.
const CONCURRENT: usize = 4;

/// `f` of each item, in order, on at most [`CONCURRENT`] scoped threads
/// that each take the next item when done with one; a call that panicked
/// (a bug) is that item's error, never the refresh's end.
pub(super) fn concurrently<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, ApiError> + Sync,
) -> Vec<Result<R, ApiError>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let call = |item: &T| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(item)))
            .unwrap_or_else(|_| Err(ApiError("a call to Temporal failed unexpectedly".into())))
    };
    if items.len() <= 1 {
        return items.iter().map(call).collect();
    }
    let next = AtomicUsize::new(0);
    let done: Vec<(usize, Result<R, ApiError>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..CONCURRENT.min(items.len()))
            .map(|_| {
                // A small stack: a call needs little, and a thread's stack
                // is mapped, touched and unmapped each refresh.
                std::thread::Builder::new()
                    .stack_size(256 << 10)
                    .spawn_scoped(s, || {
                        let mut mine = vec![];
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(item) = items.get(i) else {
                                return mine;
                            };
                            mine.push((i, call(item)));
                        }
                    })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.ok().and_then(|w| w.join().ok()).unwrap_or_default())
            .collect()
    });
    let mut out: Vec<Option<Result<R, ApiError>>> = (0..items.len()).map(|_| None).collect();
    for (i, r) in done {
        out[i] = Some(r);
    }
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ApiError("a call to Temporal was not made".into()))))
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
