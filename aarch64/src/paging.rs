//! Identity-mapped 4 KiB-granule page tables covering all of guest memory and
//! the hypercall MMIO window (ABI.md §4).

use crate::layout::{PGD, PMD, PTE, PUD};
use abi::paging::aarch64::El1;
pub use abi::paging::aarch64::{BLOCK_DEVICE, BLOCK_RWX, PAGE_RO, PAGE_RWX, TABLE};
use abi::paging::Addresses;

/// Where the tender's tables live in guest memory (ABI.md §4).
pub const ADDRESSES: Addresses = Addresses::host(PGD, PUD, PMD, PTE);

/// Calls `write(gpa, entry)` for every non-zero 64-bit table entry of a guest with
/// `mem_size` bytes (a multiple of 2 MiB, at most 4 GiB). Entries not written must
/// be zero (guest memory starts zeroed). The map is `abi::paging`'s, as guest-rt's
/// is: 4 KiB pages in the first 2 MiB, 2 MiB blocks above, the MMIO window's block.
pub fn for_each_entry(mem_size: u64, write: impl FnMut(u64, u64)) {
    abi::paging::for_each_host_entry::<El1>(&ADDRESSES, mem_size, write);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::BLOCK_SIZE;
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
        assert_eq!(t[&0x1000], 0x2003);
        assert_eq!(t[&0x2000], 0x3003);
        assert!(!t.contains_key(&0x2008), "no PUD entry for a GiB without RAM");
        assert_eq!(t[&0x2020], 0x0060_0001_0000_0705, "PUD[4] is the MMIO block");
        assert_eq!(t[&0x3000], 0x7003);
        assert!(!t.contains_key(&(0x7000 + 8 * 0xF)), "page 0xF000 must be unmapped");
        assert!(!t.contains_key(&0x7000), "the zero page must be unmapped");
        assert_eq!(t[&(0x7000 + 8 * 0x10)], 0x0060_0000_0001_0793);
        assert_eq!(t[&(0x7000 + 8 * 0xFF)], 0x0060_0000_000F_F793);
        assert_eq!(t[&(0x7000 + 8 * 0x100)], 0x0040_0000_0010_0713);
        assert_eq!(t[&(0x7000 + 8 * 0x1FF)], 0x0040_0000_001F_F713);
        assert_eq!(t[&0x3008], 0x0040_0000_0020_0711);
        assert_eq!(t[&0x3018], 0x0040_0000_0060_0711);
        assert!(!t.contains_key(&0x3020), "no mapping past the end of memory");
    }

    #[test]
    fn maps_four_gib_across_all_pmds() {
        let t = tables(4 << 30);
        for gib in 0..4 {
            assert_eq!(t[&(0x2000 + 8 * gib)], (0x3000 + 0x1000 * gib) | 3);
        }
        assert_eq!(t[&0x2020], 0x0060_0001_0000_0705);
        // First block of the second GiB lives in the second PMD.
        assert_eq!(t[&0x4000], (1 << 30) | 0x0040_0000_0000_0711);
        let last = PMD + 8 * (4 * 512 - 1);
        assert_eq!(t[&last], ((4u64 << 30) - BLOCK_SIZE) | 0x0040_0000_0000_0711);
        assert!(t.keys().all(|&gpa| (PGD..PTE + PAGE_SIZE).contains(&gpa)));
        // 1 PGD + 5 PUD + 1 table + 496 pages + 2047 blocks.
        assert_eq!(t.len(), 1 + 5 + 1 + 496 + (4 * 512 - 1));
    }

    #[test]
    fn partial_gib_gets_its_pud_entry() {
        let t = tables((1 << 30) + (2 << 20));
        assert_eq!(t[&0x2008], 0x4003);
        assert!(!t.contains_key(&0x2010));
        assert_eq!(t[&0x4000], (1 << 30) | BLOCK_RWX);
        assert!(!t.contains_key(&0x4008));
    }

    #[test]
    fn smallest_guest_has_only_the_first_two_mib() {
        let t = tables(2 << 20);
        assert!(!t.contains_key(&0x3008));
        assert!(!t.contains_key(&0x2008));
        assert_eq!(t.len(), 1 + 2 + 1 + 496);
    }

    #[test]
    fn descriptor_bits_mean_what_the_abi_says() {
        let attr = |d: u64| (d >> 2) & 0b111;
        let ap = |d: u64| (d >> 6) & 0b11;
        let (af, pxn, uxn) = (1 << 10, 1 << 53, 1 << 54);
        for d in [PAGE_RO, PAGE_RWX, BLOCK_RWX] {
            assert_eq!(attr(d), 4, "Normal WB");
            assert_eq!((d >> 8) & 0b11, 0b11, "inner shareable");
            assert_eq!(d & (af | uxn), af | uxn);
        }
        assert_eq!(ap(PAGE_RO), 0b10, "read-only at EL1");
        assert_eq!(PAGE_RO & pxn, pxn);
        assert_eq!((ap(PAGE_RWX), PAGE_RWX & pxn), (0, 0));
        assert_eq!((ap(BLOCK_RWX), BLOCK_RWX & pxn), (0, 0));
        assert_eq!((PAGE_RWX & 0b11, BLOCK_RWX & 0b11), (0b11, 0b01), "page vs block");
        assert_eq!(attr(BLOCK_DEVICE), 1, "Device-nGnRE");
        assert_eq!(BLOCK_DEVICE & (pxn | uxn | af | 1), pxn | uxn | af | 1);
    }
}
