//! AArch64 guest layout constants (ABI.md §4); the vCPU setup arrives with the AArch64 port.
#![no_std]
#![forbid(unsafe_code)]

pub mod layout;
