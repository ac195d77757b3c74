//! Exception entry: the vector table (VBAR_EL1), a common register save, and the
//! Rust handler that reports the trap and halts with the frame as HALT cookie.

use super::trapframe::{RawFrame, TrapFrame, RAW_FRAME_SIZE};
use core::arch::{asm, global_asm};

// Sixteen 128-byte slots: {synchronous, IRQ, FIQ, SError} taken from EL1 on
// SP_EL0 (normal code), EL1 on SP_EL1 (the handler itself), lower EL AArch64,
// lower EL AArch32. Each reserves a `RawFrame` on SP_EL1, saves x0/x1, puts
// its slot number in x0 and joins the common path, which saves the other
// registers and the syndrome, works out the interrupted SP and calls Rust.
global_asm!(
    ".section .text.guest_rt_vectors, \"ax\", %progbits",
    ".balign 2048",
    ".global guest_rt_vectors",
    "guest_rt_vectors:",
    ".irp kind, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
    ".balign 128",
    "    sub sp, sp, #{frame}",
    "    stp x0, x1, [sp]",
    "    mov x0, #\\kind",
    "    b .Lguest_rt_trap_common",
    ".endr",
    ".Lguest_rt_trap_common:",
    "    stp x2, x3, [sp, #16]",
    "    stp x4, x5, [sp, #32]",
    "    stp x6, x7, [sp, #48]",
    "    stp x8, x9, [sp, #64]",
    "    stp x10, x11, [sp, #80]",
    "    stp x12, x13, [sp, #96]",
    "    stp x14, x15, [sp, #112]",
    "    stp x16, x17, [sp, #128]",
    "    stp x18, x19, [sp, #144]",
    "    stp x20, x21, [sp, #160]",
    "    stp x22, x23, [sp, #176]",
    "    stp x24, x25, [sp, #192]",
    "    stp x26, x27, [sp, #208]",
    "    stp x28, x29, [sp, #224]",
    "    stp x30, x0, [sp, #240]",
    "    mrs x1, esr_el1",
    "    mrs x2, elr_el1",
    "    stp x1, x2, [sp, #256]",
    "    mrs x1, far_el1",
    "    mrs x2, spsr_el1",
    "    stp x1, x2, [sp, #272]",
    // SPSR.M[0] = 0: taken from EL1t, whose stack is SP_EL0; else the frame sits
    // on the interrupted SP_EL1 stack.
    "    mrs x3, sp_el0",
    "    add x4, sp, #{frame}",
    "    tst x2, #1",
    "    csel x3, x3, x4, eq",
    "    str x3, [sp, #288]",
    "    mov x0, sp",
    "    mov x29, #0",
    "    bl guest_rt_trap",
    "2:  wfi",
    "    b 2b",
    ".text",
    frame = const RAW_FRAME_SIZE,
);

extern "C" {
    /// The vector table defined above.
    static guest_rt_vectors: [u8; 2048];
}

/// Points VBAR_EL1 at the vector table. Called once, first thing at boot
/// (`_start` has already put exceptions on their own SP_EL1 stack).
pub fn init_cpu() {
    let table = core::ptr::addr_of!(guest_rt_vectors) as u64;
    // SAFETY: the table is 2 KiB-aligned code that lives forever; the ISB makes
    // the new VBAR_EL1 apply to the next exception.
    unsafe { asm!("msr vbar_el1, {}", "isb", in(reg) table, options(nostack, preserves_flags)) };
}

/// Called by the common stub on the SP_EL1 stack with the saved registers.
#[no_mangle]
extern "C" fn guest_rt_trap(raw: &RawFrame) -> ! {
    crate::trap::report_and_halt(|| TrapFrame::from_raw(raw))
}
