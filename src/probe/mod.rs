//! Looking at a service without disturbing it: which ports listen and who
//! owns them (`ports`, from the kernel's tables), readiness and liveness
//! checks (`ready`), and the whole status of a service (`inspect`: gather
//! the facts, then a pure decision).

pub mod inspect;
pub(crate) mod ports;
pub(crate) mod ready;
