//! tender: loads one Solo5 hvt unikernel into a KVM virtual machine and serves its hypercalls.

pub mod elf;
pub mod manifest;
