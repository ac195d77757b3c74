//! The runtime's own identity page tables: the tender's map (ABI.md §4) plus a
//! guard page under the stack, so a stack overflow faults instead of silently
//! running into the heap.
//!
//! 4 KiB granule, 40-bit VA (the tender's TCR_EL1): PGD → PUD (one entry per
//! GiB of RAM, and the MMIO block at 4 GiB) → one PMD per GiB → 4 KiB pages in
//! the first 2 MiB (nothing below 0x10000, read-only up to 1 MiB) and in the
//! 2 MiB that hold the guard page; 2 MiB blocks elsewhere. The builder and the
//! descriptor bits are `abi::paging`'s, shared with the tender.

// The port's paging names; on non-AArch64 hosts this file is compiled only for
// its unit tests (see `arch/mod.rs`), which do not use them all.
#[cfg_attr(test, allow(unused_imports))]
pub use crate::paging::{Table, BLOCK, GIB, MAX_MEM, PAGE};

/// Every table the map needs: PGD (`top`), PUD (`gib`), one PMD per GiB
/// (`dir`), PTEs for the first 2 MiB and for the 2 MiB that hold the guard
/// page, with `abi::paging`'s AArch64 bits (the tender's own: `main` runs at EL1).
pub type PageTables = crate::paging::PageTables<abi::paging::aarch64::El1>;

#[cfg(test)]
mod tests {
    use super::*;
    use abi::paging::aarch64::{BLOCK_DEVICE, BLOCK_RWX, PAGE_RO, PAGE_RWX, TABLE};

    fn build(mem: u64, guard: Option<u64>) -> Box<PageTables> {
        let mut t = Box::new(PageTables::NEW);
        let at = t.own_addresses();
        t.build(&at, mem, guard);
        t
    }

    const OA: u64 = 0x0000_FFFF_FFFF_F000;

    /// Walks the tables for `addr`: the leaf descriptor's attribute bits if mapped.
    fn walk(t: &PageTables, addr: u64) -> Option<u64> {
        let find = |d: u64| -> &Table {
            let all = [&t.top, &t.gib, &t.dir[0], &t.dir[1], &t.dir[2], &t.dir[3], &t.pt_low, &t.pt_guard];
            all.into_iter().find(|x| x.addr() == d & OA).expect("entry points at one of our tables")
        };
        let l0 = t.top.0[(addr >> 39) as usize & 511];
        assert_eq!(l0 & 3, TABLE);
        let l1 = find(l0).0[(addr >> 30) as usize & 511];
        match l1 & 3 {
            0 => return None,
            1 => return Some(check(l1, addr, GIB)),
            _ => {}
        }
        let l2 = find(l1).0[(addr >> 21) as usize & 511];
        match l2 & 3 {
            0 => return None,
            1 => return Some(check(l2, addr, BLOCK)),
            _ => {}
        }
        let l3 = find(l2).0[(addr >> 12) as usize & 511];
        (l3 & 3 == 3).then(|| check(l3, addr, PAGE))
    }

    /// Checks the identity mapping of a leaf of `size` bytes; returns its attributes.
    fn check(leaf: u64, addr: u64, size: u64) -> u64 {
        assert_eq!(leaf & OA & !(size - 1), addr & !(size - 1), "identity map at {addr:#x}");
        leaf & !(OA & !(size - 1))
    }

    #[test]
    fn same_map_as_the_tender_with_a_guard_page() {
        let mem = 512 << 20;
        let guard = mem - (1 << 20);
        let t = build(mem, Some(guard));
        assert_eq!(walk(&t, 0), None);
        assert_eq!(walk(&t, 0x8), None);
        assert_eq!(walk(&t, 0xFFFF), None);
        assert_eq!(walk(&t, 0x10000), Some(PAGE_RO));
        assert_eq!(walk(&t, 0xFFFFF), Some(PAGE_RO));
        assert_eq!(walk(&t, 0x100000), Some(PAGE_RWX));
        assert_eq!(walk(&t, 0x300000), Some(BLOCK_RWX));
        assert_eq!(walk(&t, guard - 1), Some(PAGE_RWX));
        assert_eq!(walk(&t, guard), None);
        assert_eq!(walk(&t, guard + PAGE - 1), None);
        assert_eq!(walk(&t, guard + PAGE), Some(PAGE_RWX));
        assert_eq!(walk(&t, mem - 16), Some(PAGE_RWX));
        assert_eq!(walk(&t, mem), None);
        assert_eq!(walk(&t, 3 << 30), None);
        assert_eq!(walk(&t, 0x1_0000_0040), Some(BLOCK_DEVICE));
    }

    #[test]
    fn four_gib_and_two_mib_guests() {
        let t = build(4 << 30, None);
        assert_eq!(walk(&t, (4 << 30) - 1), Some(BLOCK_RWX));
        assert_eq!(walk(&t, (3 << 30) + 12345), Some(BLOCK_RWX));
        assert_eq!(walk(&t, 0x1_0000_0000), Some(BLOCK_DEVICE));
        let t = build(2 << 20, Some(0x1C_4000));
        assert_eq!(walk(&t, 0x1C_3FFF), Some(PAGE_RWX));
        assert_eq!(walk(&t, 0x1C_4000), None);
        assert_eq!(walk(&t, 0x1F_FFF8), Some(PAGE_RWX));
        assert_eq!(walk(&t, 2 << 20), None);
        assert_eq!(walk(&t, 1 << 30), None);
    }

    #[test]
    fn a_guard_in_low_memory_is_ignored() {
        let t = build(2 << 20, Some(0x1_0000));
        assert_eq!(walk(&t, 0x1_0000), Some(PAGE_RO));
    }
}
