//! The runtime's own identity page tables, with the user bit set so `main` can
//! run at CPL 3, a non-present page at address 0, and a guard page under the stack.
//!
//! Same identity map as the tender's (ABI.md §3) otherwise: 4 KiB pages in the
//! first 2 MiB (nothing below 0x10000, read-only up to 1 MiB), 2 MiB pages up to
//! the end of guest memory, nothing above.

/// A 4 KiB page.
pub const PAGE: u64 = 0x1000;
/// A 2 MiB page.
pub const LARGE_PAGE: u64 = 0x20_0000;
const ENTRIES: usize = 512;
/// Guest memory the tables can map (the ABI's maximum).
pub const MAX_MEM: u64 = 4 << 30;

/// Present.
const P: u64 = 1 << 0;
/// Writable.
const RW: u64 = 1 << 1;
/// User-accessible.
const US: u64 = 1 << 2;
/// 2 MiB page (in a PD entry).
const PS: u64 = 1 << 7;

/// First address mapped at all (below: the tender's tables, never for the guest).
const LOW_UNMAPPED_END: u64 = abi::layout::RO_REGION_START;
/// End of the read-only boot info / manifest / command line region.
const RO_END: u64 = abi::layout::RO_REGION_END;

/// One page-table page.
#[repr(C, align(4096))]
#[derive(Clone, Copy, Debug)]
pub struct Table(pub [u64; ENTRIES]);

impl Table {
    const EMPTY: Table = Table([0; ENTRIES]);

    fn addr(&self) -> u64 {
        self as *const Table as u64
    }
}

/// Every table the map needs: PML4, PDPT, one PD per GiB, a page table for the
/// first 2 MiB and one for the 2 MiB that hold the stack guard page.
#[repr(C, align(4096))]
#[derive(Debug)]
pub struct PageTables {
    pub pml4: Table,
    pub pdpt: Table,
    pub pd: [Table; 4],
    pub pt_low: Table,
    pub pt_guard: Table,
}

impl PageTables {
    /// All-empty tables.
    pub const EMPTY: PageTables = PageTables {
        pml4: Table::EMPTY,
        pdpt: Table::EMPTY,
        pd: [Table::EMPTY; 4],
        pt_low: Table::EMPTY,
        pt_guard: Table::EMPTY,
    };

    /// Fills in the identity map of `mem_size` bytes (a multiple of 2 MiB, at
    /// most 4 GiB), leaving the page at `guard` (if any) unmapped. The tables'
    /// own addresses are used as physical addresses (identity mapping).
    pub fn build(&mut self, mem_size: u64, guard: Option<u64>) {
        let mem_size = mem_size.min(MAX_MEM) & !(LARGE_PAGE - 1);
        let guard = guard.map(|g| g & !(PAGE - 1)).filter(|&g| g >= RO_END && g < mem_size);
        let pdpt = self.pdpt.addr();
        self.pml4.0[0] = pdpt | P | RW | US;
        let large_pages = (mem_size / LARGE_PAGE) as usize;
        for n in 0..large_pages {
            let base = n as u64 * LARGE_PAGE;
            let holds_guard = guard.is_some_and(|g| g & !(LARGE_PAGE - 1) == base);
            let entry = if n == 0 {
                fill_small(&mut self.pt_low, base, guard)
            } else if holds_guard {
                fill_small(&mut self.pt_guard, base, guard)
            } else {
                base | P | RW | US | PS
            };
            self.pd[n / ENTRIES].0[n % ENTRIES] = entry;
        }
        for gib in 0..large_pages.div_ceil(ENTRIES) {
            self.pdpt.0[gib] = self.pd[gib].addr() | P | RW | US;
        }
    }

    /// The value to load into CR3.
    pub fn root(&self) -> u64 {
        self.pml4.addr()
    }
}

/// Maps the 2 MiB at `base` with 4 KiB pages in `pt`; returns the PD entry.
fn fill_small(pt: &mut Table, base: u64, guard: Option<u64>) -> u64 {
    for (i, e) in pt.0.iter_mut().enumerate() {
        let addr = base + i as u64 * PAGE;
        *e = if addr < LOW_UNMAPPED_END || Some(addr) == guard {
            0
        } else if addr < RO_END {
            addr | P | US
        } else {
            addr | P | RW | US
        };
    }
    pt.addr() | P | RW | US
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(mem: u64, guard: Option<u64>) -> Box<PageTables> {
        let mut t = Box::new(PageTables::EMPTY);
        t.build(mem, guard);
        t
    }

    /// Walks the tables for `addr`: `Some((writable, user))` if mapped.
    fn walk(t: &PageTables, addr: u64) -> Option<(bool, bool)> {
        let find = |phys: u64| -> &Table {
            let all = [&t.pml4, &t.pdpt, &t.pd[0], &t.pd[1], &t.pd[2], &t.pd[3], &t.pt_low, &t.pt_guard];
            all.into_iter().find(|x| x.addr() == phys & !0xFFF).expect("entry points at one of our tables")
        };
        let e4 = t.pml4.0[(addr >> 39) as usize & 511];
        let e3 = find(e4).0[(addr >> 30) as usize & 511];
        if e3 & P == 0 {
            return None;
        }
        let e2 = find(e3).0[(addr >> 21) as usize & 511];
        if e2 & P == 0 {
            return None;
        }
        let (leaf, frame) = if e2 & PS != 0 {
            (e2, (e2 & !(LARGE_PAGE - 1) & !(1 << 63)) | (addr & (LARGE_PAGE - 1)))
        } else {
            let e1 = find(e2).0[(addr >> 12) as usize & 511];
            (e1, (e1 & !0xFFF) | (addr & 0xFFF))
        };
        if leaf & P == 0 {
            return None;
        }
        assert_eq!(frame, addr, "identity map");
        Some((leaf & RW != 0, leaf & US != 0))
    }

    #[test]
    fn identity_map_with_holes_and_read_only_low_memory() {
        let mem = 512 << 20;
        let guard = mem - (1 << 20);
        let t = build(mem, Some(guard));
        assert_eq!(walk(&t, 0), None);
        assert_eq!(walk(&t, 0x8), None);
        assert_eq!(walk(&t, 0xFFFF), None);
        assert_eq!(walk(&t, 0x10000), Some((false, true)));
        assert_eq!(walk(&t, 0xFFFFF), Some((false, true)));
        assert_eq!(walk(&t, 0x100000), Some((true, true)));
        assert_eq!(walk(&t, 0x300000), Some((true, true)));
        assert_eq!(walk(&t, guard - 1), Some((true, true)));
        assert_eq!(walk(&t, guard), None);
        assert_eq!(walk(&t, guard + PAGE - 1), None);
        assert_eq!(walk(&t, guard + PAGE), Some((true, true)));
        assert_eq!(walk(&t, mem - 8), Some((true, true)));
        assert_eq!(walk(&t, mem), None);
        assert_eq!(walk(&t, 3 << 30), None);
    }

    #[test]
    fn four_gib_and_two_mib_guests() {
        let t = build(4 << 30, None);
        assert_eq!(walk(&t, (4 << 30) - 1), Some((true, true)));
        assert_eq!(walk(&t, (3 << 30) + 12345), Some((true, true)));
        let t = build(2 << 20, Some(0x1C_4000));
        assert_eq!(walk(&t, 0x1C_3FFF), Some((true, true)));
        assert_eq!(walk(&t, 0x1C_4000), None);
        assert_eq!(walk(&t, 0x1F_FFF8), Some((true, true)));
        assert_eq!(walk(&t, 2 << 20), None);
    }

    #[test]
    fn a_guard_in_low_memory_is_ignored() {
        let t = build(2 << 20, Some(0x1_0000));
        assert_eq!(walk(&t, 0x1_0000), Some((false, true)));
    }
}
