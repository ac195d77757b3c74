//! x86_64 port: descriptor tables, trap stubs, the `out`-based hypercall, RDTSC.

pub mod descriptors;
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
pub use cpu::{cycles, halt_forever};
#[cfg(target_os = "none")]
pub use hypercall::hypercall;
#[cfg(target_os = "none")]
pub use tables::init_cpu;
pub use trapframe::TrapFrame;
