//! Single AArch64 instructions the runtime needs: the virtual counter and a final stop.

use abi::hypercall::{Nr, MMIO_BASE, MMIO_STRIDE};
use core::arch::asm;

/// The virtual counter CNTVCT_EL0 (ticks at `boot_info().cpu_cycle_freq` Hz,
/// which the tender read from CNTFRQ_EL0).
pub fn cycles() -> u64 {
    let v: u64;
    // SAFETY: reading the counter has no side effect; the ISB keeps the read
    // from being taken early, ahead of the code it is meant to time.
    unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Stops the vCPU for good (only reached if a HALT hypercall ever returned).
pub fn halt_forever() -> ! {
    let addr = MMIO_BASE + MMIO_STRIDE * Nr::Halt as u64;
    loop {
        // SAFETY: a read from the hypercall window never reaches memory: the
        // tender treats it as a fatal malformed access and ends the VM. WFI with
        // interrupts masked and no interrupt source only waits.
        unsafe { asm!("ldr {t:w}, [{a}]", "wfi", a = in(reg) addr, t = out(reg) _, options(nostack)) };
    }
}
