//! Looking at a service without disturbing it: which ports listen and who
//! owns them (`ports`, from the kernel's tables), readiness and liveness
//! checks (`ready`), and the whole status of a service (`inspect`: gather
//! the facts and assemble them, `assemble`; the check; then the pure
//! decision), described by the types in `status`.

mod assemble;
pub mod inspect;
pub(crate) mod ports;
pub(crate) mod ready;
mod status;

/// A check that did not pass, and why ("nothing listens on port 8080").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CheckFailed(pub String);

impl From<String> for CheckFailed {
    fn from(s: String) -> Self {
        CheckFailed(s)
    }
}

/// `Err(CheckFailed)` with this reason.
pub(crate) fn fail<T>(why: String) -> Result<T, CheckFailed> {
    Err(CheckFailed(why))
}
