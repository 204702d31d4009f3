//! Text for people: printing that survives a closed pipe (`stigmer local
//! logs | head` ends quietly, with success, never a panic), and shortening.

use std::io::Write;

/// Writes to stdout; when its reader is gone, exits 0 at once.
pub fn emit_out(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Writes to stderr, best effort: diagnostics never end the program (a
/// supervisor whose terminal went away keeps supervising).
pub fn emit_err(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `println!` that ends quietly on a closed pipe.
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => { $crate::util::output::emit_out(format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!` that ends quietly on a closed pipe.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { $crate::util::output::emit_out(format_args!($($t)*)) };
}

/// `eprintln!` that never panics (a closed stderr is ignored).
#[macro_export]
macro_rules! errln {
    ($($t:tt)*) => { $crate::util::output::emit_err(format_args!("{}\n", format_args!($($t)*))) };
}

/// `s` cut to `n` characters, with `…` when cut.
pub fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!(
            "{}…",
            s.chars().take(n.saturating_sub(1)).collect::<String>()
        )
    }
}
