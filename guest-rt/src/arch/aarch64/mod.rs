//! AArch64 port: stacks and the exception vector table, page tables with a
//! stack guard, the MMIO-store hypercall, the virtual counter.

pub mod paging;
pub mod trapframe;

#[cfg(target_os = "none")]
mod cpu;
#[cfg(target_os = "none")]
mod hypercall;
#[cfg(target_os = "none")]
mod memory;
#[cfg(target_os = "none")]
mod start;
#[cfg(target_os = "none")]
mod traps;

#[cfg(target_os = "none")]
pub use cpu::{cycles, halt_forever};
#[cfg(target_os = "none")]
pub use hypercall::{hypercall, net_ring_doorbell};
#[cfg(target_os = "none")]
pub use memory::{enter_user, finish_cpu, finish_memory, init_memory};
pub use trapframe::TrapFrame;
#[cfg(target_os = "none")]
pub use traps::init_cpu;
