//! AArch64 guest-physical layout (ABI.md §4).

/// Page-table root (PGD).
pub const PGD: u64 = 0x1000;
/// Level-1 table (PUD).
pub const PUD: u64 = 0x2000;
/// First of four level-2 tables (PMD), one per GiB.
pub const PMD: u64 = 0x3000;
/// Level-3 table for the first 2 MiB.
pub const PTE: u64 = 0x7000;
/// The hypercall MMIO window (not backed by RAM).
pub const MMIO_BASE: u64 = abi::hypercall::MMIO_BASE;
/// Size of the hypercall MMIO window that is decoded.
pub const MMIO_SIZE: u64 = abi::hypercall::MMIO_STRIDE * abi::hypercall::MAX as u64;
/// Initial stack pointer offset below the top of guest memory.
pub const STACK_TOP_GAP: u64 = 16;
