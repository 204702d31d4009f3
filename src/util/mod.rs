//! Small shared pieces: time (`clock`), the one bounded poll (`wait`),
//! blocking sections on the async runtime (`blocking`), and printing that
//! survives a closed pipe (`output`: `outln!`, `errln!`).

pub(crate) mod blocking;
pub(crate) mod clock;
pub mod output;
pub(crate) mod wait;
