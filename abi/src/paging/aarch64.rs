//! AArch64 entry bits (ABI.md §4), 4 KiB granule: one set for the tender's map and
//! guest-rt's (which runs `main` at EL1 too), plus the 1 GiB device block of the
//! hypercall MMIO window.

use super::{Descriptors, GIB};
use crate::hypercall::MMIO_BASE;

/// Next-level table descriptor (valid | table).
pub const TABLE: u64 = 0b11;
/// Read-only boot-info pages: page | AttrIndx 4 (Normal WB) | AP = read-only at EL1 |
/// inner shareable | AF | PXN | UXN.
pub const PAGE_RO: u64 = 0x0060_0000_0000_0793;
/// Image pages in the first 2 MiB: page | Normal WB | RW at EL1 | inner shareable |
/// AF | UXN (executable at EL1).
pub const PAGE_RWX: u64 = 0x0040_0000_0000_0713;
/// The rest of RAM: 2 MiB block | Normal WB | RW at EL1 | inner shareable | AF | UXN.
pub const BLOCK_RWX: u64 = 0x0040_0000_0000_0711;
/// The MMIO window: 1 GiB block | AttrIndx 1 (Device-nGnRE) | RW at EL1 | AF | PXN | UXN.
pub const BLOCK_DEVICE: u64 = 0x0060_0000_0000_0705;
/// Index of the MMIO window's entry in the per-GiB table.
pub const MMIO_GIB_INDEX: usize = (MMIO_BASE / GIB) as usize;

/// The map at EL1: RAM and the hypercall window.
#[derive(Debug)]
pub struct El1;

impl Descriptors for El1 {
    const TABLE: u64 = TABLE;
    const BLOCK_RW: u64 = BLOCK_RWX;
    const PAGE_RO: u64 = PAGE_RO;
    const PAGE_RW: u64 = PAGE_RWX;
    const FIXED_GIB: &'static [(usize, u64)] = &[(MMIO_GIB_INDEX, MMIO_BASE | BLOCK_DEVICE)];
}
