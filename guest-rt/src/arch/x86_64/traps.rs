//! Exception entry: one stub per vector 0-31, a common register save, and the
//! Rust handler that reports the trap and halts with the frame as HALT cookie.

use super::cpu::read_cr2;
use super::trapframe::{RawFrame, TrapFrame};
use core::arch::global_asm;

// Each stub makes the stack uniform (a 0 where the CPU pushed no error code),
// pushes its vector and joins the common path, which pushes the GPRs so that
// RSP points at a `RawFrame` (rax lowest), aligns the stack and calls Rust.
// The address of every stub is kept in `guest_rt_trap_table`.
global_asm!(
    ".section .text.guest_rt_traps, \"ax\", @progbits",
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    ".p2align 4",
    ".Lguest_rt_stub_\\n:",
    // #UD with a root pending is `usermode::finish_memory` asking for CR3 (see there):
    // load it, step over its UD2 and return to CPL 3.
    ".if \\n == 6",
    "    push rax",
    "    xor eax, eax",
    "    xchg rax, [rip + {next_root}]",
    "    test rax, rax",
    "    jz 1f",
    "    mov cr3, rax",
    "    pop rax",
    "    add qword ptr [rsp], 2",
    "    iretq",
    "1:  pop rax",
    ".endif",
    ".if (\\n == 8) || ((\\n >= 10) && (\\n <= 14)) || (\\n == 17) || (\\n == 21) || (\\n == 29) || (\\n == 30)",
    ".else",
    "    push 0",
    ".endif",
    "    push \\n",
    "    jmp .Lguest_rt_trap_common",
    ".endr",
    ".Lguest_rt_trap_common:",
    "    push r15",
    "    push r14",
    "    push r13",
    "    push r12",
    "    push r11",
    "    push r10",
    "    push r9",
    "    push r8",
    "    push rbp",
    "    push rdi",
    "    push rsi",
    "    push rdx",
    "    push rcx",
    "    push rbx",
    "    push rax",
    "    mov rdi, rsp",
    "    and rsp, -16",
    "    cld",
    "    call guest_rt_trap",
    "    ud2",
    ".section .rodata.guest_rt_traps, \"a\", @progbits",
    ".p2align 3",
    ".global guest_rt_trap_table",
    "guest_rt_trap_table:",
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    .quad .Lguest_rt_stub_\\n",
    ".endr",
    ".text",
    next_root = sym super::usermode::GUEST_RT_NEXT_ROOT,
);

extern "C" {
    static guest_rt_trap_table: [u64; 32];
}

/// Address of the entry stub for `vector` (0-31).
pub(super) fn trap_stub(vector: usize) -> u64 {
    // SAFETY: the table is immutable data defined by the global_asm above.
    unsafe { guest_rt_trap_table[vector] }
}

/// Called by the common stub on the IST1 stack with the saved registers.
#[no_mangle]
extern "C" fn guest_rt_trap(raw: &RawFrame) -> ! {
    crate::trap::report_and_halt(|| TrapFrame::from_raw(raw, read_cr2()))
}
