//! Single x86_64 instructions the runtime needs: RDTSC, CR2, and a final stop.

use core::arch::asm;

/// The time-stamp counter (ticks at `boot_info().cpu_cycle_freq` Hz).
pub fn cycles() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: RDTSC only reads the counter into EDX:EAX; CR4.TSD is clear at CPL 0.
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// The faulting linear address of the last page fault.
pub(crate) fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effect; the guest runs at CPL 0.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Stops the vCPU for good (only reached if a HALT hypercall ever returned).
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: with interrupts off HLT never resumes; the tender reports the exit.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}
