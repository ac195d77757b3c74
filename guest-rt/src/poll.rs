//! Waiting for the network: POLL until a monotonic deadline, and the set of
//! net devices it found readable.

/// Handles of the net devices POLL found readable (bit `handle`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadySet(pub u64);

impl ReadySet {
    /// Whether device `handle` is readable.
    pub fn contains(self, handle: u64) -> bool {
        handle < 64 && self.0 & (1 << handle) != 0
    }

    /// Whether nothing is readable (the deadline passed).
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

#[cfg(any(doc, target_os = "none"))]
pub use self::guest::*;

#[cfg(any(doc, target_os = "none"))]
mod guest {
    use super::ReadySet;

    /// Waits until `monotonic_ns()` reaches `deadline_ns` or a net device is
    /// readable (each POLL is one exit); returns the readable devices, empty if
    /// the deadline passed first.
    pub fn wait_until(deadline_ns: u64) -> ReadySet {
        ReadySet(crate::clock::yield_until(deadline_ns))
    }

    /// Which net devices are readable right now (one POLL with no timeout).
    pub fn ready_now() -> ReadySet {
        ReadySet(crate::hypercall::poll(0).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_handles() {
        let s = ReadySet((1 << 2) | (1 << 63));
        assert!(s.contains(2) && s.contains(63));
        assert!(!s.contains(1) && !s.contains(64) && !s.contains(u64::MAX));
        assert!(!s.is_empty() && ReadySet::default().is_empty());
    }
}
