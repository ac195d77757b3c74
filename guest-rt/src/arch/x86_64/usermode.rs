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

/// Builds and loads the page tables for `mem_size` bytes, with the page at
/// `stack_guard` left unmapped. Called once at boot, at CPL 0. Only the image
/// and the stack's top are mapped now; the rest, with the guard's page table, is
/// mapped first thing at CPL 3 (`paging::map_deferred`), where the writes are
/// cheap on kvm-pvm.
pub fn init_memory(mem_size: u64, stack_guard: Option<u64>) {
    // A page past the image also covers the heap's first free-list header.
    let boot_end = crate::heap::image_end() + crate::paging::PAGE;
    let root = crate::paging::build_tables(mem_size, stack_guard, boot_end);
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
