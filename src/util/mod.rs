//! Small shared pieces: time (`clock`), the one bounded poll (`wait`), and
//! blocking sections on the async runtime (`blocking`).

pub(crate) mod blocking;
pub(crate) mod clock;
pub(crate) mod wait;
