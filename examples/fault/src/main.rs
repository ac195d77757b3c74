//! fault: writes to an unmapped address; the runtime's page-fault handler
//! reports vector 14 with cr2 = that address and halts with status 255.
//! `fault stack` instead recurses until the stack runs into its guard page,
//! which the handler names as a stack overflow; `fault breakpoint` executes the
//! architecture's breakpoint instruction (a trap no boot code raises).
#![no_std]
#![no_main]

use guest_rt::println;

guest_rt::manifest!();
guest_rt::entry!(main);

/// Inside the first page, which the tender never maps (ABI.md §2-§3).
const UNMAPPED: usize = 0x8;

fn main() -> i32 {
    if guest_rt::args().next() == Some("breakpoint") {
        println!("fault: executing a breakpoint instruction");
        // SAFETY: the instruction only traps; the handler ends the guest.
        unsafe { breakpoint() };
        println!("FAIL: the breakpoint did not trap");
        return 1;
    }
    if guest_rt::args().next() == Some("stack") {
        println!("fault: recursing until the stack overflows");
        let depth = recurse(0);
        println!("FAIL: {depth} frames and no fault");
        return 1;
    }
    println!("fault: writing to unmapped address {UNMAPPED:#x}");
    // SAFETY: deliberately not sound: the page is not present, so the store
    // faults and the trap handler ends the guest; nothing reads the memory.
    unsafe { core::ptr::write_volatile(UNMAPPED as *mut u64, 0xdead_beef) };
    println!("FAIL: the write to {UNMAPPED:#x} did not fault");
    1
}

/// Uses a 4 KiB frame per call, forever (the trap handler ends it).
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 512]);
    if depth == u64::MAX {
        return frame[0];
    }
    core::hint::black_box(recurse(depth + 1)) + frame[511]
}

/// `int3` / `brk #0`.
///
/// # Safety
/// Traps into the runtime's handler, which ends the guest.
unsafe fn breakpoint() {
    // SAFETY: per the function's contract; the instruction touches no memory.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!("int3", options(nomem, nostack))
    };
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!("brk #0", options(nomem, nostack))
    };
}
