//! `_start`: the image's entry point, called by the tender with X0 = boot info.

use core::arch::global_asm;

/// Bytes of the stack every exception handler runs on (SP_EL1).
const TRAP_STACK_SIZE: usize = 16 * 1024;

// The tender enters at EL1h with the MMU on, SP_EL1 = mem_size - 16, DAIF
// masked and X0 = 0x10000. Keep that stack for normal code but run it on
// SP_EL0 (EL1t), and give SP_EL1 a stack of its own: exceptions then always
// start on a good stack, even after a stack overflow (the IST of the x86_64
// port). Clear the frame pointer and link register so backtraces end here,
// and hand over to Rust (`boot::guest_rt_boot`), which never returns.
global_asm!(
    ".section .text._start, \"ax\", %progbits",
    ".global _start",
    ".type _start, %function",
    "_start:",
    "    mov x1, sp",
    "    msr sp_el0, x1",
    "    adrp x2, guest_rt_trap_stack_top",
    "    add x2, x2, :lo12:guest_rt_trap_stack_top",
    "    mov sp, x2",
    "    msr spsel, #0",
    "    mov x29, #0",
    "    mov x30, #0",
    "    bl guest_rt_boot",
    "2:  wfi",
    "    b 2b",
    ".size _start, . - _start",
    ".section .bss.guest_rt_trap_stack, \"aw\", %nobits",
    ".balign 16",
    "guest_rt_trap_stack:",
    "    .space {size}",
    "guest_rt_trap_stack_top:",
    ".text",
    size = const TRAP_STACK_SIZE,
);
