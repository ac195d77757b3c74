//! fault: writes to an unmapped address; the runtime's page-fault handler
//! reports vector 14 with cr2 = that address and halts with status 255.
#![no_std]
#![no_main]

use guest_rt::println;

guest_rt::manifest!();
guest_rt::entry!(main);

/// Inside the first page, which the tender never maps (ABI.md §2-§3).
const UNMAPPED: usize = 0x8;

fn main() -> i32 {
    println!("fault: writing to unmapped address {UNMAPPED:#x}");
    // SAFETY: deliberately not sound: the page is not present, so the store
    // faults and the trap handler ends the guest; nothing reads the memory.
    unsafe { core::ptr::write_volatile(UNMAPPED as *mut u64, 0xdead_beef) };
    println!("FAIL: the write to {UNMAPPED:#x} did not fault");
    1
}
