//! The AArch64 hypercall: a 32-bit store of the argument's address to
//! `0x1_0000_0000 + 8·nr`, which the tender sees as an MMIO exit.

use abi::hypercall::{Nr, MMIO_BASE, MMIO_STRIDE};
use core::arch::asm;

/// Issues hypercall `nr` with `args` as its argument struct.
///
/// # Safety
/// `T` must be the argument struct of `nr` (ABI.md §5), e.g.
/// `abi::hypercall::Puts` for `Nr::Puts`: the tender reads and writes exactly that
/// layout at the address, and any buffer addresses inside must be valid for it.
pub unsafe fn hypercall<T>(nr: Nr, args: &mut T) {
    let addr = args as *mut T as u64;
    // Identity-mapped guest memory is at most 4 GiB, so every address fits W.
    debug_assert!(addr <= u64::from(u32::MAX));
    let port = MMIO_BASE + MMIO_STRIDE * nr as u64;
    // SAFETY: the store to the (Device, unbacked) hypercall window traps to the
    // tender, which accesses only `*args` (plus the buffers it names, valid per
    // the caller's contract). The asm is not `nomem`, so the compiler writes
    // `*args` before and reloads it after; the DSB makes those writes complete
    // before the trapping store.
    unsafe {
        asm!("dsb st", "str {arg:w}, [{port}]", arg = in(reg) addr, port = in(reg) port,
             options(nostack, preserves_flags));
    }
}

/// Rings the net ring's doorbell: a 4-byte write of 0 to 0x1_0000_0100 (ABI.md §7),
/// in the Device-memory hypercall window. The DSB makes the ring's earlier writes
/// complete before the host is woken.
pub fn net_ring_doorbell() {
    // SAFETY: the store to the (Device, unbacked) window traps to the host's ioeventfd
    // (or its vCPU loop); it touches no guest memory.
    unsafe {
        asm!("dsb st", "str wzr, [{port}]", port = in(reg) abi::netring::KICK_MMIO,
             options(nostack, preserves_flags));
    }
}
