//! Architecture facade: the rest of the runtime calls only these names.
//!
//! Each port (`arch/<arch>/`) provides, for `target_os = "none"`:
//! `init_cpu()` (own descriptor tables and trap handlers) and `finish_cpu()` (what of them
//! can wait for CPL 3),
//! `init_memory(mem_size, map_end, stack_guard)` (own page tables, the guard page unmapped),
//! `enter_user(entry) -> !` (continue unprivileged: CPL 3 / EL0),
//! `hypercall(nr, &mut args)`, `net_ring_doorbell()`, `cycles()` (the free-running counter scaled by
//! `cpu_cycle_freq`) and `halt_forever()`; and, on every target, the `TrapFrame`
//! saved at a HALT cookie.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use self::aarch64::*;

// The AArch64 trap report and page tables are pure logic: unit-test them on any host.
#[cfg(all(test, not(target_arch = "aarch64")))]
#[path = "aarch64/paging.rs"]
mod aarch64_paging;
#[cfg(all(test, not(target_arch = "aarch64")))]
#[path = "aarch64/trapframe.rs"]
mod aarch64_trapframe;
