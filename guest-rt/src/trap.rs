//! The architecture-independent end of a CPU exception: save the port's trap
//! frame as HALT cookie, report it on the console once, halt.

use crate::arch::TrapFrame;
use crate::racy::RacyCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// The crash state handed to the tender as HALT cookie (512 bytes, in guest RAM).
static SAVED: RacyCell<TrapFrame> = RacyCell::new(TrapFrame::ZERO);
/// Set by the first trap: a trap while reporting halts without printing.
static IN_TRAP: AtomicBool = AtomicBool::new(false);

/// Called by the port's trap handler: on the first trap, stores the frame made
/// by `capture` and prints its report; then halts with the frame as cookie.
pub(crate) fn report_and_halt(capture: impl FnOnce() -> TrapFrame) -> ! {
    let cookie = SAVED.get();
    let nested = IN_TRAP.swap(true, Ordering::Relaxed);
    if !nested {
        // SAFETY: the first trap is the only writer of SAVED (IN_TRAP guards
        // re-entry), and nothing else references it.
        let frame = unsafe {
            *cookie = capture();
            &*cookie
        };
        crate::console::report(|w| frame.write_report(w, crate::paging::stack_guard()));
    }
    crate::hypercall::halt(cookie as u64, crate::boot::EXIT_ABORT)
}
