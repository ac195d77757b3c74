//! Identity-mapped 4-level page tables covering all of guest memory (ABI.md §3).

use crate::layout::{PD, PDPT, PML4, PT};
use abi::paging::x86_64::Host;
use abi::paging::Addresses;

/// Size of one PD entry's page.
#[cfg(test)]
const LARGE_PAGE: u64 = abi::paging::BLOCK;

/// Where the tender's tables live in guest memory (ABI.md §3).
pub const ADDRESSES: Addresses = Addresses::host(PML4, PDPT, PD, PT);

/// Calls `write(gpa, entry)` for every non-zero 64-bit page-table entry of a
/// guest with `mem_size` bytes (a multiple of 2 MiB). Entries not written must be
/// zero (guest memory starts zeroed). The map is `abi::paging`'s, as guest-rt's is:
/// 4 KiB pages in the first 2 MiB (the zero page and the tables unmapped, boot info
/// read-only), 2 MiB pages above.
pub fn for_each_entry(mem_size: u64, write: impl FnMut(u64, u64)) {
    abi::paging::for_each_host_entry::<Host>(&ADDRESSES, mem_size, write);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::PD;
    use abi::layout::PAGE_SIZE;
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
