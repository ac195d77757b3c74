//! Switches to the runtime's page tables (with the stack guard page) and runs
//! `main`.
//!
//! Unlike the x86_64 port, `main` stays at EL1: x86_64 drops to CPL 3 because
//! kvm-pvm runs CPL 0 code slowly (ABI.md §8), which has no AArch64 counterpart,
//! and EL0 would need EL0-accessible pages, PAN handling and counter access
//! controls for no gain.

use core::arch::asm;

/// Builds and loads the page tables for `[0, map_end)` (the guest's memory and the
/// net ring above it), with the page at `stack_guard` left unmapped. Called once at boot.
pub fn init_memory(_mem_size: u64, map_end: u64, stack_guard: Option<u64>) {
    // All mapped now: EL1 is not slow here (the x86_64 port finishes its map later).
    let root = crate::paging::build_tables(map_end, stack_guard);
    // SAFETY: the new tables identity-map everything the runtime uses (image,
    // stacks, heap, boot info, the hypercall window) at the same addresses and
    // with the same attributes as the tender's, so execution continues
    // unchanged; they live in a static forever. The DSB makes the table writes
    // visible to the walker before TTBR0_EL1 changes; the TLB invalidation drops
    // the tender's translations (ASID 0 throughout).
    unsafe {
        asm!(
            "dsb ishst",
            "msr ttbr0_el1, {root}",
            "isb",
            "tlbi vmalle1",
            "dsb ish",
            "isb",
            root = in(reg) root,
            options(nostack, preserves_flags),
        );
    }
}

/// Runs `entry` (at EL1, see the module docs); it never returns.
pub fn enter_user(entry: extern "C" fn() -> !) -> ! {
    entry()
}

/// Nothing to finish: [`init_memory`] mapped everything at boot.
pub fn finish_memory() {}

/// Nothing to finish: the vector table is complete at boot.
pub fn finish_cpu() {}
