//! The panic handler: report message and location, then halt with status 255.

use crate::boot::EXIT_ABORT;
use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    if !PANICKING.swap(true, Ordering::Relaxed) {
        crate::console::report(|w: &mut dyn Write| {
            match info.location() {
                Some(l) => write!(w, "guest-rt: panicked at {}:{}:{}: ", l.file(), l.line(), l.column())?,
                None => write!(w, "guest-rt: panicked: ")?,
            }
            writeln!(w, "{}", info.message())
        });
    }
    crate::hypercall::halt(0, EXIT_ABORT)
}
