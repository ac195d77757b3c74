//! x86_64 port: descriptor and page tables, trap stubs, CPL 3 entry, the
//! `out`-based hypercall, RDTSC.

pub mod descriptors;
pub mod paging;
pub mod trapframe;

#[cfg(target_os = "none")]
mod cpu;
#[cfg(target_os = "none")]
mod hypercall;
#[cfg(target_os = "none")]
mod start;
#[cfg(target_os = "none")]
mod tables;
#[cfg(target_os = "none")]
mod traps;
#[cfg(target_os = "none")]
mod usermode;

#[cfg(target_os = "none")]
pub use cpu::{cycles, halt_forever};
#[cfg(target_os = "none")]
pub use hypercall::{hypercall, net_ring_doorbell};
#[cfg(target_os = "none")]
pub use tables::{finish_cpu, init_cpu};
pub use trapframe::TrapFrame;
#[cfg(target_os = "none")]
pub use usermode::{enter_user, finish_memory, init_memory};
