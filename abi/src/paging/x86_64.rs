//! x86_64 entry bits (ABI.md §3): the tender's map (supervisor only, every PDPT entry
//! present as solo5-hvt has it) and guest-rt's (the same with the user bit, for `main` at
//! CPL 3).

use super::Descriptors;

/// Present.
pub const P: u64 = 1 << 0;
/// Writable.
pub const RW: u64 = 1 << 1;
/// User-accessible.
pub const US: u64 = 1 << 2;
/// 2 MiB page (in a PD entry).
pub const PS: u64 = 1 << 7;

/// The map the tender builds in a new guest's memory.
#[derive(Debug)]
pub struct Host;

impl Descriptors for Host {
    const TABLE: u64 = P | RW;
    const BLOCK_RW: u64 = P | RW | PS;
    const PAGE_RO: u64 = P;
    const PAGE_RW: u64 = P | RW;
    const FIXED_GIB: &'static [(usize, u64)] = &[];
    const EVERY_GIB: bool = true;
}

/// guest-rt's own map: the tender's, user-accessible.
#[derive(Debug)]
pub struct User;

impl Descriptors for User {
    const TABLE: u64 = P | RW | US;
    const BLOCK_RW: u64 = P | RW | US | PS;
    const PAGE_RO: u64 = P | US;
    const PAGE_RW: u64 = P | RW | US;
    const FIXED_GIB: &'static [(usize, u64)] = &[];
}
