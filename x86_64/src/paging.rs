//! Identity-mapped 4-level page tables covering all of guest memory (ABI.md §3).

use crate::layout::{ENTRIES, PD, PDPT, PD_COUNT, PML4, PT};
use abi::layout::{MIN_LOAD_ADDR, PAGE_SIZE, RO_REGION_START};

/// Present.
const P: u64 = 1 << 0;
/// Writable.
const RW: u64 = 1 << 1;
/// Page size (a 2 MiB page in a PD entry).
const PS: u64 = 1 << 7;
/// Size of one PD entry's page.
const LARGE_PAGE: u64 = 2 << 20;

/// Calls `write(gpa, entry)` for every non-zero 64-bit page-table entry of a
/// guest with `mem_size` bytes (a multiple of 2 MiB). Entries not written must be
/// zero (guest memory starts zeroed).
pub fn for_each_entry(mem_size: u64, mut write: impl FnMut(u64, u64)) {
    write(PML4, PDPT | P | RW);
    for n in 0..PD_COUNT {
        write(PDPT + 8 * n, (PD + n * PAGE_SIZE) | P | RW);
    }
    // The first 2 MiB use 4 KiB pages so that the zero page and the page tables
    // stay unmapped and boot info is read-only.
    write(PD, PT | P | RW);
    for i in 0..ENTRIES {
        let addr = i * PAGE_SIZE;
        let flags = if addr < RO_REGION_START {
            continue;
        } else if addr < MIN_LOAD_ADDR {
            P
        } else {
            P | RW
        };
        write(PT + 8 * i, addr | flags);
    }
    let mut addr = LARGE_PAGE;
    while addr < mem_size {
        write(PD + 8 * (addr / LARGE_PAGE), addr | P | RW | PS);
        addr += LARGE_PAGE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn tables(mem: u64) -> BTreeMap<u64, u64> {
        let mut m = BTreeMap::new();
        for_each_entry(mem, |gpa, v| {
            assert!(m.insert(gpa, v).is_none(), "entry {gpa:#x} written twice");
        });
        m
    }

    #[test]
    fn matches_abi_entries() {
        let t = tables(8 << 20);
        assert_eq!(t[&0x2000], 0x3003);
        assert_eq!(t[&0x3000], 0x4003);
        assert_eq!(t[&0x3008], 0x5003);
        assert_eq!(t[&0x3010], 0x6003);
        assert_eq!(t[&0x3018], 0x7003);
        assert_eq!(t[&0x4000], 0x8003);
        assert!(!t.contains_key(&(0x8000 + 8 * 0xF)), "page 0xF000 must be unmapped");
        assert_eq!(t[&(0x8000 + 8 * 0x10)], 0x10001);
        assert_eq!(t[&(0x8000 + 8 * 0xFF)], 0xFF001);
        assert_eq!(t[&(0x8000 + 8 * 0x100)], 0x100003);
        assert_eq!(t[&(0x8000 + 8 * 0x1FF)], 0x1FF003);
        assert_eq!(t[&0x4008], 0x20_0083);
        assert_eq!(t[&0x4018], 0x60_0083);
        assert!(!t.contains_key(&0x4020), "no mapping past the end of memory");
    }

    #[test]
    fn maps_four_gib_across_all_directories() {
        let t = tables(4 << 30);
        let last = PD + 8 * (4 * 512 - 1);
        assert_eq!(t[&last], ((4u64 << 30) - LARGE_PAGE) | 0x83);
        assert!(t.keys().all(|&gpa| gpa < PT + PAGE_SIZE));
    }

    #[test]
    fn smallest_guest_has_only_the_first_two_mib() {
        let t = tables(2 << 20);
        assert!(!t.contains_key(&0x4008));
    }
}
