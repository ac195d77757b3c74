//! The Solo5 hvt ABI, version 2, defined once for the tender and the guest runtime.
//!
//! Everything here is plain data: numbers, `#[repr(C)]` layouts with compile-time
//! size/offset checks against `shared/ABI.md`, and safe little-endian
//! encoders/decoders so neither side ever casts raw bytes to a struct.
#![no_std]
#![forbid(unsafe_code)]

pub mod bootinfo;
pub mod bytes;
pub mod hypercall;
pub mod layout;
pub mod manifest;
pub mod netring;
pub mod note;
pub mod paging;

/// Version of the hvt ABI this crate describes (the ABI note's `abi_version`).
pub const ABI_VERSION: u32 = 2;
