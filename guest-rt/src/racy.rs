//! A cell for runtime globals on a single vCPU that never takes interrupts.

use core::cell::UnsafeCell;

/// Interior-mutable global state shared without locks.
///
/// hvt guests run on one vCPU with interrupts disabled and no threads, so the
/// only way two accesses could interleave is re-entry from a CPU exception
/// handler; the users of this type say in their `SAFETY` comments why that
/// cannot hand out overlapping `&mut`.
pub(crate) struct RacyCell<T>(UnsafeCell<T>);

// SAFETY: there is exactly one thread of execution (see the type's docs).
unsafe impl<T> Sync for RacyCell<T> {}

impl<T> RacyCell<T> {
    pub(crate) const fn new(v: T) -> Self {
        RacyCell(UnsafeCell::new(v))
    }

    /// Raw pointer to the value; callers uphold exclusivity.
    pub(crate) fn get(&self) -> *mut T {
        self.0.get()
    }
}
