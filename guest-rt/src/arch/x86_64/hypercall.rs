//! The x86_64 hypercall: `out dx, eax` to port 0x500 + nr with the argument's address.

use abi::hypercall::{Nr, PIO_BASE};
use core::arch::asm;

/// Issues hypercall `nr` with `args` as its argument struct.
///
/// # Safety
/// `T` must be the argument struct of `nr` (ABI.md §5), e.g.
/// `abi::hypercall::Puts` for `Nr::Puts`: the tender reads and writes exactly that
/// layout at the address, and any buffer addresses inside must be valid for it.
pub unsafe fn hypercall<T>(nr: Nr, args: &mut T) {
    let addr = args as *mut T as u64;
    // Identity-mapped guest memory is at most 4 GiB, so every address fits EAX.
    debug_assert!(addr <= u64::from(u32::MAX));
    // SAFETY: the port write traps to the tender, which accesses only `*args`
    // (plus the buffers it names, valid per the caller's contract); the asm is
    // not `nomem`, so the compiler reloads `*args` afterwards.
    unsafe {
        asm!("out dx, eax", in("dx") PIO_BASE + nr as u16, in("eax") addr as u32,
             options(nostack, preserves_flags));
    }
}

/// Rings the net ring's doorbell: a 4-byte write of 0 to port 0x600 (ABI.md §7), which
/// the TSS I/O bitmap opens to CPL 3.
pub fn net_ring_doorbell() {
    // SAFETY: the port write reaches the host's ioeventfd (or its vCPU loop); it touches
    // no guest memory.
    unsafe {
        asm!("out dx, eax", in("dx") abi::netring::KICK_PORT, in("eax") 0u32,
             options(nostack, preserves_flags, nomem));
    }
}
