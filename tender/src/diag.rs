//! Messages to the user on stderr/stdout that can never take tender down: a
//! closed or broken stream is ignored (the print macros would panic, and with
//! `panic = "abort"` abort), and per-I/O warnings a guest can provoke are capped.

use std::fmt::Arguments;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

/// An error and its sources on one line, `a: b: c` (what a binary reports at its top).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        line.push_str(": ");
        line.push_str(&s.to_string());
        source = s.source();
    }
    line
}

/// Writes one line `tender: ...` to stderr, ignoring write errors.
pub fn error(args: Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "tender: {args}");
}

/// Writes text as is to stderr, ignoring write errors.
pub fn stderr(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Writes text as is to stdout, ignoring write errors.
pub fn stdout(text: &str) {
    let mut out = std::io::stdout();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// How many guest-provoked warnings are printed before the rest are counted only.
pub const WARN_LIMIT: u32 = 20;

/// A counter for one kind of guest-provoked warning.
#[derive(Debug, Default)]
pub struct Limited(AtomicU32);

impl Limited {
    /// A fresh counter.
    pub const fn new() -> Limited {
        Limited(AtomicU32::new(0))
    }

    /// Prints the warning unless [`WARN_LIMIT`] of them were printed already; says
    /// once that further ones are suppressed. A guest cannot flood stderr.
    pub fn warn(&self, args: Arguments<'_>) {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        if n < WARN_LIMIT {
            error(args);
        } else if n == WARN_LIMIT {
            error(format_args!("further warnings of this kind are suppressed"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_counts_past_the_limit() {
        let l = Limited::new();
        for i in 0..WARN_LIMIT + 5 {
            l.warn(format_args!("test warning {i}"));
        }
        assert_eq!(l.0.load(Ordering::Relaxed), WARN_LIMIT + 5);
    }
}
