//! `_start`: the image's entry point, called by the tender with RDI = boot info.

use core::arch::global_asm;

// The tender enters in long mode with RSP = mem_size - 8, interrupts off, and
// RDI = 0x10000. Align the stack for the SysV ABI, clear the frame pointer so
// backtraces end here, and hand over to Rust (`boot::guest_rt_boot`), which
// never returns.
global_asm!(
    ".section .text._start, \"ax\", @progbits",
    ".global _start",
    ".type _start, @function",
    "_start:",
    "    cld",
    "    and rsp, -16",
    "    xor ebp, ebp",
    "    call guest_rt_boot",
    "2:  cli",
    "    hlt",
    "    jmp 2b",
    ".size _start, . - _start",
);
