//! Printing that survives a closed pipe (`stigmer local logs | head`): the
//! reader going away ends output quietly, with success, never a panic.

use std::io::Write;

/// Writes to stdout; when its reader is gone, exits 0 at once. Writes to
/// stderr are best effort and never end the program.
pub fn emit(to_stderr: bool, args: std::fmt::Arguments<'_>) {
    let r = if to_stderr {
        // Diagnostics are best effort: a supervisor whose terminal went away
        // keeps supervising.
        let _ = std::io::stderr().lock().write_fmt(args);
        return;
    } else {
        let mut out = std::io::stdout().lock();
        out.write_fmt(args).and_then(|()| out.flush())
    };
    if let Err(e) = r {
        reader_gone(&e);
    }
}

/// Ends the program quietly when `e` says the reader closed the pipe.
pub fn reader_gone(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
}

/// `println!` that ends quietly on a closed pipe.
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => { $crate::output::emit(false, format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!` that ends quietly on a closed pipe.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { $crate::output::emit(false, format_args!($($t)*)) };
}

/// `eprintln!` that never panics (a closed stderr is ignored).
#[macro_export]
macro_rules! errln {
    ($($t:tt)*) => { $crate::output::emit(true, format_args!("{}\n", format_args!($($t)*))) };
}
