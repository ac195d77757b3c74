//! Host-side AArch64 knowledge for hvt guests (ABI.md §2, §4): the fixed guest
//! layout, identity page tables, initial register values and the KVM one-reg ids.
//!
//! Everything here is pure data and arithmetic so it unit-tests on any host (the
//! `kvm-bindings` arm64 module only builds for aarch64 targets, so the register ids
//! are computed here); the tender turns it into KVM ioctls.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod layout;
pub mod mmio;
pub mod onereg;
pub mod paging;
pub mod registers;
