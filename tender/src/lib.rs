//! tender: loads one Solo5 hvt unikernel into a KVM virtual machine and serves its hypercalls.
//!
//! The binary is a thin shell over [`cli::parse`] and [`launch::launch`].

pub mod arch;
pub mod argfile;
pub mod block;
pub mod boot;
pub mod cli;
pub mod coredump;
pub mod devices;
pub mod diag;
pub mod elf;
pub mod gdb;
pub mod hypercall;
pub mod launch;
pub mod manifest;
pub mod memory;
pub mod memsize;
pub mod net;
pub mod run;
pub mod seccomp;
pub mod signal;
pub mod vm;
