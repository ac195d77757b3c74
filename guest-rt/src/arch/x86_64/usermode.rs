//! Drops to CPL 3 for `main`: loads the runtime's page tables (user bit set,
//! stack guard page) and IRETQs into the entry function.
//!
//! Why: on kvm-pvm (ABI.md §8) guest code at CPL 0 is emulated instruction by
//! instruction, while CPL 3 runs natively, thousands of times faster. On other
//! KVMs CPL 3 costs nothing: hypercalls are still one `out` (the TSS I/O bitmap
//! opens the hypercall ports), RDTSC is allowed (CR4.TSD is clear), and traps
//! switch to the IST stack at CPL 0 as before.

use super::descriptors::{USER_CODE_SELECTOR, USER_DATA_SELECTOR};
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// Builds and loads the page tables for `mem_size` bytes, with the page at
/// `stack_guard` left unmapped. Called once at boot, at CPL 0. These boot tables
/// map only the image and the stack's top; [`finish_memory`] builds the whole
/// map (up to `map_end`, which includes the net ring) at CPL 3, where the writes
/// are cheap on kvm-pvm.
pub fn init_memory(mem_size: u64, map_end: u64, stack_guard: Option<u64>) {
    // A page past the image also covers the heap's first free-list header.
    let boot_end = crate::heap::image_end() + crate::paging::PAGE;
    let root = crate::paging::build_boot_tables(mem_size, map_end, stack_guard, boot_end);
    // SAFETY: the new tables identity-map all guest memory the runtime uses
    // (image, stack, heap, boot info) with the same addresses as the tender's,
    // so execution continues unchanged; they live in a static forever.
    unsafe { asm!("mov cr3, {}", in(reg) root, options(nostack, preserves_flags)) };
}

/// Continues at CPL 3 in `entry`, on the current stack, interrupts still off.
pub fn enter_user(entry: extern "C" fn() -> !) -> ! {
    // SAFETY: the GDT has the user selectors and the TSS (loaded by `init_cpu`),
    // the page tables (`init_memory`) give CPL 3 access to all guest memory, and
    // `entry` never returns, so abandoning this frame is fine. The stack pointer
    // is set up as if `entry` had been called (RSP + 8 16-byte aligned).
    unsafe {
        asm!(
            "mov ds, eax",
            "mov es, eax",
            "mov rsi, rsp",
            "and rsi, -16",
            "sub rsi, 8",
            "push rax", // SS
            "push rsi", // RSP
            "push 0x2", // RFLAGS: IF = 0, IOPL = 0
            "push rdx", // CS
            "push rcx", // RIP
            "iretq",
            in("rax") u64::from(USER_DATA_SELECTOR),
            in("rdx") u64::from(USER_CODE_SELECTOR),
            in("rcx") entry,
            in("rsi") 0u64,
            options(noreturn),
        )
    }
}

/// The root [`finish_memory`] asks the #UD stub to load into CR3 (0: none).
#[no_mangle]
pub(super) static GUEST_RT_NEXT_ROOT: AtomicU64 = AtomicU64::new(0);

/// Builds the whole map at CPL 3 (in tables not yet in use: on a host that shadows
/// page tables, writes to tables in use trap, ~10K cycles each) and switches to it.
/// CPL 3 cannot load CR3 and kvm-pvm routes neither `int` nor SYSCALL to CPL 0, but
/// it does route exceptions: a UD2 with a root pending makes the #UD stub load it.
/// Called once, first thing at CPL 3.
pub fn finish_memory() {
    if let Some(root) = crate::paging::build_final_tables() {
        GUEST_RT_NEXT_ROOT.store(root, Ordering::SeqCst);
        // SAFETY: the #UD stub loads CR3 with the runtime's final tables, which map
        // everything the boot tables did at the same addresses and permissions, and
        // resumes after the 2-byte UD2.
        unsafe { asm!("ud2") };
    }
}
