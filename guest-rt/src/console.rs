//! The console: `print!`/`println!` over PUTS, one hypercall per line, not per fragment.
//!
//! Exits are expensive (ABI.md §8), so text collects in a line buffer that is
//! written out after each `print!` that completed a line, when it fills up, and
//! before the guest halts.

use core::fmt;

/// Bytes buffered before a forced flush.
pub const LINE_CAPACITY: usize = 1024;

/// A fixed buffer that hands completed lines to a sink.
#[derive(Debug)]
pub(crate) struct LineBuf {
    buf: [u8; LINE_CAPACITY],
    len: usize,
}

impl LineBuf {
    pub(crate) const fn new() -> LineBuf {
        LineBuf { buf: [0; LINE_CAPACITY], len: 0 }
    }

    /// Appends `s`; whenever the buffer is full it goes to `sink` whole.
    pub(crate) fn push(&mut self, mut s: &[u8], sink: &mut dyn FnMut(&[u8])) {
        while !s.is_empty() {
            let take = (LINE_CAPACITY - self.len).min(s.len());
            self.buf[self.len..self.len + take].copy_from_slice(&s[..take]);
            self.len += take;
            s = &s[take..];
            if self.len == LINE_CAPACITY {
                sink(&self.buf);
                self.len = 0;
            }
        }
    }

    /// Hands everything up to the last newline to `sink` (in one piece).
    pub(crate) fn flush_lines(&mut self, sink: &mut dyn FnMut(&[u8])) {
        let Some(last) = self.buf[..self.len].iter().rposition(|&c| c == b'\n') else {
            return;
        };
        sink(&self.buf[..=last]);
        self.buf.copy_within(last + 1..self.len, 0);
        self.len -= last + 1;
    }

    /// Hands everything buffered to `sink`.
    pub(crate) fn flush_all(&mut self, sink: &mut dyn FnMut(&[u8])) {
        if self.len > 0 {
            sink(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

/// A `fmt::Write` into a fixed array that drops what does not fit.
#[derive(Debug)]
pub(crate) struct FixedBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> FixedBuf<N> {
    pub(crate) const fn new() -> Self {
        FixedBuf { buf: [0; N], len: 0 }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> fmt::Write for FixedBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let take = (N - self.len).min(s.len());
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

#[cfg(any(doc, target_os = "none"))]
pub(crate) use self::guest::report;
#[cfg(any(doc, target_os = "none"))]
pub use self::guest::{_print, flush};

#[cfg(any(doc, target_os = "none"))]
mod guest {
    use super::{FixedBuf, LineBuf};
    use crate::hypercall::puts;
    use crate::racy::RacyCell;
    use core::fmt::{self, Write};
    use core::sync::atomic::{AtomicBool, Ordering};

    static LINE: RacyCell<LineBuf> = RacyCell::new(LineBuf::new());
    /// Set while `LINE` is borrowed: a nested print (from a `Display` impl, a
    /// panic or a trap in the middle of printing) bypasses the buffer.
    static BUSY: AtomicBool = AtomicBool::new(false);

    /// Runs `f` on the line buffer, or returns `None` if it is already in use.
    fn with_line<R>(f: impl FnOnce(&mut LineBuf) -> R) -> Option<R> {
        if BUSY.swap(true, Ordering::Acquire) {
            return None;
        }
        // SAFETY: BUSY was clear, so no other reference to LINE exists; single
        // vCPU, and re-entry from a trap sees BUSY set and stays away.
        let r = f(unsafe { &mut *LINE.get() });
        BUSY.store(false, Ordering::Release);
        Some(r)
    }

    struct Buffered<'a>(&'a mut LineBuf);

    impl Write for Buffered<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.push(s.as_bytes(), &mut |b| puts(b));
            Ok(())
        }
    }

    struct Direct;

    impl Write for Direct {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            puts(s.as_bytes());
            Ok(())
        }
    }

    /// Implementation of `print!`; use the macros.
    #[doc(hidden)]
    pub fn _print(args: fmt::Arguments<'_>) {
        let done = with_line(|line| {
            let _ = Buffered(line).write_fmt(args);
            line.flush_lines(&mut |b| puts(b));
        });
        if done.is_none() {
            let _ = Direct.write_fmt(args);
        }
    }

    /// Writes out any partial line still buffered.
    pub fn flush() {
        with_line(|line| line.flush_all(&mut |b| puts(b)));
    }

    /// Last words (panic, trap): flushes what is buffered, then formats `f`
    /// into a stack buffer and writes it with one hypercall.
    pub(crate) fn report(f: impl FnOnce(&mut dyn Write) -> fmt::Result) {
        flush();
        let mut out = FixedBuf::<2048>::new();
        let _ = f(&mut out);
        puts(out.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    fn collect(f: impl FnOnce(&mut LineBuf, &mut dyn FnMut(&[u8]))) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut line = LineBuf::new();
        f(&mut line, &mut |b: &[u8]| out.push(b.to_vec()));
        out
    }

    #[test]
    fn fragments_become_one_write_per_print() {
        let out = collect(|l, sink| {
            l.push(b"arg[", sink);
            l.push(b"0]: a\nnext", sink);
            l.flush_lines(sink);
            l.push(b" line\n", sink);
            l.flush_lines(sink);
        });
        assert_eq!(out, [b"arg[0]: a\n".to_vec(), b"next line\n".to_vec()]);
    }

    #[test]
    fn partial_line_waits_for_flush_all() {
        let out = collect(|l, sink| {
            l.push(b"no newline", sink);
            l.flush_lines(sink);
            l.flush_all(sink);
            l.flush_all(sink);
        });
        assert_eq!(out, [b"no newline".to_vec()]);
    }

    #[test]
    fn full_buffer_is_written_whole() {
        let big = vec![b'x'; LINE_CAPACITY * 2 + 5];
        let out = collect(|l, sink| {
            l.push(&big, sink);
            l.flush_all(sink);
        });
        let lens: Vec<usize> = out.iter().map(Vec::len).collect();
        assert_eq!(lens, [LINE_CAPACITY, LINE_CAPACITY, 5]);
    }

    #[test]
    fn fixed_buf_truncates() {
        let mut b = FixedBuf::<8>::new();
        write!(b, "{}-{}", 12345, 67890).unwrap();
        assert_eq!(b.as_bytes(), b"12345-67");
    }
}
