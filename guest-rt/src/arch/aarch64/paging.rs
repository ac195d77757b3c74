//! The runtime's own identity page tables: the tender's map (ABI.md §4) plus a
//! guard page under the stack, so a stack overflow faults instead of silently
//! running into the heap.
//!
//! 4 KiB granule, 40-bit VA (the tender's TCR_EL1): PGD → PUD (one entry per
//! GiB of RAM, and the MMIO block at 4 GiB) → one PMD per GiB → 4 KiB pages in
//! the first 2 MiB (nothing below 0x10000, read-only up to 1 MiB) and in the
//! 2 MiB that hold the guard page; 2 MiB blocks elsewhere.

/// A 4 KiB page.
pub const PAGE: u64 = 0x1000;
/// A 2 MiB block.
pub const BLOCK: u64 = 0x20_0000;
/// One GiB (a PUD entry's reach).
pub const GIB: u64 = 1 << 30;
const ENTRIES: usize = 512;
/// Guest memory the tables can map (the ABI's maximum).
pub const MAX_MEM: u64 = 4 << 30;

/// Next-level table.
const TABLE: u64 = 0b11;
/// Boot info pages: Normal WB, read-only at EL1, never executable.
const PAGE_RO: u64 = 0x0060_0000_0000_0793;
/// RAM pages: Normal WB, read-write, executable at EL1 only.
const PAGE_RWX: u64 = 0x0040_0000_0000_0713;
/// RAM blocks: as `PAGE_RWX`, 2 MiB at a time.
const BLOCK_RWX: u64 = 0x0040_0000_0000_0711;
/// The hypercall window: a 1 GiB Device-nGnRE block, never executable.
const BLOCK_DEVICE: u64 = 0x0060_0000_0000_0705;
/// Where the hypercall window starts.
const MMIO_BASE: u64 = abi::hypercall::MMIO_BASE;

/// First address mapped at all (below: the tender's tables, never for the guest).
const LOW_UNMAPPED_END: u64 = abi::layout::RO_REGION_START;
/// End of the read-only boot info / manifest / command line region.
const RO_END: u64 = abi::layout::RO_REGION_END;

/// One translation table.
#[repr(C, align(4096))]
#[derive(Clone, Copy, Debug)]
pub struct Table(pub [u64; ENTRIES]);

impl Table {
    const EMPTY: Table = Table([0; ENTRIES]);

    fn addr(&self) -> u64 {
        self as *const Table as u64
    }
}

/// Every table the map needs.
#[repr(C, align(4096))]
#[derive(Debug)]
pub struct PageTables {
    pub pgd: Table,
    pub pud: Table,
    pub pmd: [Table; 4],
    pub pte_low: Table,
    pub pte_guard: Table,
}

impl PageTables {
    /// All-empty tables.
    pub const EMPTY: PageTables = PageTables {
        pgd: Table::EMPTY,
        pud: Table::EMPTY,
        pmd: [Table::EMPTY; 4],
        pte_low: Table::EMPTY,
        pte_guard: Table::EMPTY,
    };

    /// Fills in the identity map of `mem_size` bytes (a multiple of 2 MiB, at
    /// most 4 GiB) and the MMIO window, leaving the page at `guard` (if any)
    /// unmapped. The tables' own addresses are their physical addresses.
    pub fn build(&mut self, mem_size: u64, guard: Option<u64>) {
        let mem_size = mem_size.min(MAX_MEM) & !(BLOCK - 1);
        let guard = guard.map(|g| g & !(PAGE - 1)).filter(|&g| g >= RO_END && g < mem_size);
        self.pgd.0[0] = self.pud.addr() | TABLE;
        let blocks = (mem_size / BLOCK) as usize;
        for n in 0..blocks {
            let base = n as u64 * BLOCK;
            let holds_guard = guard.is_some_and(|g| g & !(BLOCK - 1) == base);
            let entry = if n == 0 {
                fill_pages(&mut self.pte_low, base, guard)
            } else if holds_guard {
                fill_pages(&mut self.pte_guard, base, guard)
            } else {
                base | BLOCK_RWX
            };
            self.pmd[n / ENTRIES].0[n % ENTRIES] = entry;
        }
        for gib in 0..blocks.div_ceil(ENTRIES) {
            self.pud.0[gib] = self.pmd[gib].addr() | TABLE;
        }
        self.pud.0[(MMIO_BASE / GIB) as usize] = MMIO_BASE | BLOCK_DEVICE;
    }

    /// The value for TTBR0_EL1.
    pub fn root(&self) -> u64 {
        self.pgd.addr()
    }
}

/// Maps the 2 MiB at `base` with 4 KiB pages in `pte`; returns the PMD entry.
fn fill_pages(pte: &mut Table, base: u64, guard: Option<u64>) -> u64 {
    for (i, e) in pte.0.iter_mut().enumerate() {
        let addr = base + i as u64 * PAGE;
        *e = if addr < LOW_UNMAPPED_END || Some(addr) == guard {
            0
        } else if addr < RO_END {
            addr | PAGE_RO
        } else {
            addr | PAGE_RWX
        };
    }
    pte.addr() | TABLE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(mem: u64, guard: Option<u64>) -> Box<PageTables> {
        let mut t = Box::new(PageTables::EMPTY);
        t.build(mem, guard);
        t
    }

    const OA: u64 = 0x0000_FFFF_FFFF_F000;

    /// Walks the tables for `addr`: the leaf descriptor's attribute bits if mapped.
    fn walk(t: &PageTables, addr: u64) -> Option<u64> {
        let find = |d: u64| -> &Table {
            let all = [&t.pgd, &t.pud, &t.pmd[0], &t.pmd[1], &t.pmd[2], &t.pmd[3], &t.pte_low, &t.pte_guard];
            all.into_iter().find(|x| x.addr() == d & OA).expect("entry points at one of our tables")
        };
        let l0 = t.pgd.0[(addr >> 39) as usize & 511];
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
