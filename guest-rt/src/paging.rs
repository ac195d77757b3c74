//! The runtime's own identity page tables, for either architecture: the
//! tender's map plus a guard page under the stack, so a stack overflow faults
//! instead of silently running into the heap.
//!
//! Both ports use four levels of 4 KiB tables with 512 entries: a top table
//! whose first entry covers the low 512 GiB, one table with an entry per GiB,
//! one table per GiB of RAM with an entry per 2 MiB, and 4 KiB pages in the
//! first 2 MiB (nothing below 0x10000, read-only up to 1 MiB) and in the 2 MiB
//! that hold the guard page; 2 MiB blocks elsewhere, nothing above RAM except
//! what the port adds (`Descriptors::FIXED_GIB`). Only the descriptor bits
//! differ: each port supplies them as a [`Descriptors`] implementation.

use core::marker::PhantomData;

/// A 4 KiB page.
pub const PAGE: u64 = 0x1000;
/// A 2 MiB block (large page).
pub const BLOCK: u64 = 0x20_0000;
/// One GiB (the reach of an entry in the per-GiB table).
pub const GIB: u64 = 1 << 30;
/// Entries per table.
pub const ENTRIES: usize = 512;
/// Guest memory the tables can map (the ABI's maximum).
pub const MAX_MEM: u64 = 4 << 30;
/// Tables of 2 MiB entries: one per GiB of `MAX_MEM`.
const DIRS: usize = (MAX_MEM / GIB) as usize;

/// First address mapped at all (below: the tender's tables, never for the guest).
const LOW_UNMAPPED_END: u64 = abi::layout::RO_REGION_START;
/// End of the read-only boot info / manifest / command line region.
const RO_END: u64 = abi::layout::RO_REGION_END;

/// A port's descriptor encodings: the bits OR-ed into an address (of a table,
/// block or page) to make an entry.
pub trait Descriptors {
    /// An entry pointing at a next-level table.
    const TABLE: u64;
    /// A 2 MiB RAM block.
    const BLOCK_RW: u64;
    /// A 4 KiB page of the read-only boot info region.
    const PAGE_RO: u64;
    /// A 4 KiB RAM page.
    const PAGE_RW: u64;
    /// Extra complete entries of the per-GiB table, as (index, entry), written
    /// after the RAM map (e.g. a device window).
    const FIXED_GIB: &'static [(usize, u64)];
}

/// One page-table page.
#[repr(C, align(4096))]
#[derive(Clone, Copy, Debug)]
pub struct Table(pub [u64; ENTRIES]);

impl Table {
    /// An all-zero table.
    pub const EMPTY: Table = Table([0; ENTRIES]);

    /// The 4 KiB pages of the first 2 MiB as every map has them (nothing below 0x10000,
    /// read-only to 1 MiB, RAM above), computed at compile time: the image carries the table
    /// and boot does not write it (each write at CPL 0 is costly on some hosts: ABI.md §8).
    pub const fn low_pages<D: Descriptors>() -> Table {
        let mut t = [0u64; ENTRIES];
        let mut i = 0;
        while i < ENTRIES {
            t[i] = page_entry::<D>(i as u64 * PAGE, None);
            i += 1;
        }
        Table(t)
    }

    /// The table's address, which is its physical address (identity mapping).
    pub fn addr(&self) -> u64 {
        self as *const Table as u64
    }
}

/// Every table the map needs, with the descriptor encodings of port `D`.
#[repr(C, align(4096))]
#[derive(Debug)]
pub struct PageTables<D> {
    /// The top table (x86_64 PML4, AArch64 level 0).
    pub top: Table,
    /// One entry per GiB (x86_64 PDPT, AArch64 level 1).
    pub gib: Table,
    /// One table per GiB of RAM, one entry per 2 MiB (x86_64 PD, AArch64 level 2).
    pub dir: [Table; DIRS],
    /// 4 KiB pages of the first 2 MiB (x86_64 PT, AArch64 level 3).
    pub pt_low: Table,
    /// 4 KiB pages of the 2 MiB that hold the stack guard page.
    pub pt_guard: Table,
    encoding: PhantomData<D>,
}

impl<D: Descriptors> PageTables<D> {
    /// The tables before [`build`](Self::build): empty but for the first 2 MiB's pages,
    /// which are the same for every memory size ([`Table::low_pages`]).
    pub const NEW: Self = PageTables {
        top: Table::EMPTY,
        gib: Table::EMPTY,
        dir: [Table::EMPTY; DIRS],
        pt_low: Table::low_pages::<D>(),
        pt_guard: Table::EMPTY,
        encoding: PhantomData,
    };

    /// Fills in the identity map of `mem_size` bytes (a multiple of 2 MiB, at
    /// most 4 GiB) and the port's fixed entries, leaving the page at `guard`
    /// (if any) unmapped. The tables' own addresses are their physical addresses.
    /// Starts from [`NEW`](Self::NEW), whose first-2-MiB pages it does not rewrite.
    pub fn build(&mut self, mem_size: u64, guard: Option<u64>) {
        self.build_for_boot(mem_size, guard, u64::MAX);
    }

    /// Like [`build`](Self::build), but maps only the first 2 MiB, the blocks below
    /// `boot_end` (the image) and the last block (the boot stack's top): boot tables.
    /// Why: each entry written at CPL 0 costs ~14 µs on kvm-pvm (ABI.md §8), the guard
    /// page's 512 about 5 ms; the whole map is then built at CPL 3 in a second set.
    pub fn build_for_boot(&mut self, mem_size: u64, guard: Option<u64>, boot_end: u64) {
        let mem_size = mem_size.min(MAX_MEM) & !(BLOCK - 1);
        let guard = guard.map(|g| g & !(PAGE - 1)).filter(|&g| g >= RO_END && g < mem_size);
        self.top.0[0] = self.gib.addr() | D::TABLE;
        let blocks = (mem_size / BLOCK) as usize;
        let lazy_start = (boot_end.div_ceil(BLOCK).max(1) as usize).min(blocks);
        let lazy_end = blocks.saturating_sub(1).max(lazy_start);
        for n in (0..lazy_start).chain(lazy_end..blocks) {
            self.map_block(n, guard);
        }
        for gib in 0..blocks.div_ceil(ENTRIES) {
            self.gib.0[gib] = self.dir[gib].addr() | D::TABLE;
        }
        for &(index, entry) in D::FIXED_GIB {
            self.gib.0[index] = entry;
        }
    }

    /// Writes the entry for 2 MiB block `n`: 4 KiB pages if it holds the guard page (or is
    /// the first, whose pages are in `pt_low` since compile time), else one block entry.
    fn map_block(&mut self, n: usize, guard: Option<u64>) {
        let base = n as u64 * BLOCK;
        let holds_guard = guard.is_some_and(|g| g & !(BLOCK - 1) == base);
        let entry = if n == 0 && holds_guard {
            // Only with 2 MiB of memory: the guard page is in the first 2 MiB.
            fill_pages::<D>(&mut self.pt_low, base, guard)
        } else if n == 0 {
            // Already right since compile time (NEW).
            self.pt_low.addr() | D::TABLE
        } else if holds_guard {
            fill_pages::<D>(&mut self.pt_guard, base, guard)
        } else {
            base | D::BLOCK_RW
        };
        self.dir[n / ENTRIES].0[n % ENTRIES] = entry;
    }

    /// The root table's address (for CR3 / TTBR0_EL1).
    pub fn root(&self) -> u64 {
        self.top.addr()
    }
}

/// Maps the 2 MiB at `base` with 4 KiB pages in `pt`; returns the entry that
/// points at it.
fn fill_pages<D: Descriptors>(pt: &mut Table, base: u64, guard: Option<u64>) -> u64 {
    for (i, e) in pt.0.iter_mut().enumerate() {
        *e = page_entry::<D>(base + i as u64 * PAGE, guard);
    }
    pt.addr() | D::TABLE
}

/// The 4 KiB page entry for `addr`: nothing below 0x10000 or at the guard page, read-only
/// to the end of the boot info region, RAM above.
const fn page_entry<D: Descriptors>(addr: u64, guard: Option<u64>) -> u64 {
    match guard {
        _ if addr < LOW_UNMAPPED_END => 0,
        Some(g) if g == addr => 0,
        _ if addr < RO_END => addr | D::PAGE_RO,
        _ => addr | D::PAGE_RW,
    }
}

/// The runtime's tables and guard page, set up once at boot by the port's
/// `init_memory`.
#[cfg(target_os = "none")]
mod runtime {
    use super::PAGE;
    use crate::arch::paging::PageTables;
    use crate::racy::RacyCell;
    use core::sync::atomic::{AtomicU64, Ordering};

    static TABLES: RacyCell<PageTables> = RacyCell::new(PageTables::NEW);
    /// The boot tables of `build_boot_tables` (only the image and the stack's top).
    static BOOT_TABLES: RacyCell<PageTables> = RacyCell::new(PageTables::NEW);
    /// Address of the unmapped page under the stack (0: none).
    static STACK_GUARD: AtomicU64 = AtomicU64::new(0);
    /// Guest memory for `build_final_tables` (0: nothing left to build).
    static FINAL_MEM: AtomicU64 = AtomicU64::new(0);

    /// Builds the page tables for `mem_size` bytes, with the page at
    /// `stack_guard` left unmapped, and returns the root for the port to load.
    /// Called once at boot.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    pub(crate) fn build_tables(mem_size: u64, stack_guard: Option<u64>) -> u64 {
        let tables = TABLES.get();
        // SAFETY: called once at boot, before anything else uses TABLES.
        let root = unsafe {
            (*tables).build(mem_size, stack_guard);
            (*tables).root()
        };
        STACK_GUARD.store(stack_guard.unwrap_or(0), Ordering::Relaxed);
        root
    }

    /// Builds the boot tables (`PageTables::build_for_boot`) and returns their root;
    /// [`build_final_tables`] builds the whole map later. Called once at boot.
    /// The final map covers `[0, map_end)`: the guest's memory and the net ring above it.
    #[cfg_attr(target_arch = "aarch64", allow(dead_code))]
    pub(crate) fn build_boot_tables(
        mem_size: u64,
        map_end: u64,
        stack_guard: Option<u64>,
        boot_end: u64,
    ) -> u64 {
        let tables = BOOT_TABLES.get();
        // SAFETY: called once at boot, before anything else uses BOOT_TABLES.
        let root = unsafe {
            (*tables).build_for_boot(mem_size, stack_guard, boot_end);
            (*tables).root()
        };
        STACK_GUARD.store(stack_guard.unwrap_or(0), Ordering::Relaxed);
        FINAL_MEM.store(map_end, Ordering::Relaxed);
        root
    }

    /// Builds the whole map after [`build_boot_tables`] and returns its root to load;
    /// `None` if there is nothing to build (already done, or boot built it all).
    #[cfg_attr(target_arch = "aarch64", allow(dead_code))]
    pub(crate) fn build_final_tables() -> Option<u64> {
        let mem_size = FINAL_MEM.swap(0, Ordering::Relaxed);
        if mem_size == 0 {
            return None;
        }
        let guard = match STACK_GUARD.load(Ordering::Relaxed) {
            0 => None,
            g => Some(g),
        };
        let tables = TABLES.get();
        // SAFETY: runs once (FINAL_MEM is taken) on the only thread; TABLES is not in
        // use yet (the boot tables are), so nothing else refers to it.
        unsafe {
            (*tables).build(mem_size, guard);
            Some((*tables).root())
        }
    }

    /// The page under the stack, if there is one: a fault there is a stack overflow.
    pub(crate) fn stack_guard() -> Option<(u64, u64)> {
        match STACK_GUARD.load(Ordering::Relaxed) {
            0 => None,
            g => Some((g, g + PAGE)),
        }
    }
}
#[cfg(target_os = "none")]
pub(crate) use runtime::stack_guard;
// AArch64 maps everything at boot; x86_64 boots on partial tables and finishes at CPL 3.
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub(crate) use runtime::build_tables;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
pub(crate) use runtime::{build_boot_tables, build_final_tables};

#[cfg(test)]
mod tests {
    use super::*;

    /// Made-up encodings whose tags tell every kind of entry apart.
    #[derive(Debug)]
    struct Tagged;

    impl Descriptors for Tagged {
        const TABLE: u64 = 0x1;
        const BLOCK_RW: u64 = 0x2;
        const PAGE_RO: u64 = 0x3;
        const PAGE_RW: u64 = 0x4;
        const FIXED_GIB: &'static [(usize, u64)] = &[(4, 0x1_0000_0005), (9, 0x6)];
    }

    fn build(mem: u64, guard: Option<u64>) -> Box<PageTables<Tagged>> {
        let mut t = Box::new(PageTables::NEW);
        t.build(mem, guard);
        t
    }

    /// Entries of `t` that are not zero, as (index, entry).
    fn used(t: &Table) -> Vec<(usize, u64)> {
        t.0.iter().copied().enumerate().filter(|&(_, e)| e != 0).collect()
    }

    #[test]
    fn builds_every_level_with_the_ports_encodings() {
        let mem = (1 << 30) + (6 << 20);
        let guard = (1 << 30) + (2 << 20) + 0x5000;
        let t = build(mem, Some(guard));
        assert_eq!(t.root(), t.top.addr());
        assert_eq!(used(&t.top), [(0, t.gib.addr() | 0x1)]);
        let gib = [(0, t.dir[0].addr() | 0x1), (1, t.dir[1].addr() | 0x1), (4, 0x1_0000_0005), (9, 0x6)];
        assert_eq!(used(&t.gib), gib);
        assert_eq!(t.dir[0].0[0], t.pt_low.addr() | 0x1);
        assert!((1..ENTRIES).all(|n| t.dir[0].0[n] == (n as u64 * BLOCK) | 0x2));
        let upper = [(0, GIB | 0x2), (1, t.pt_guard.addr() | 0x1), (2, (GIB + 2 * BLOCK) | 0x2)];
        assert_eq!(used(&t.dir[1]), upper);
        assert!(used(&t.dir[2]).is_empty() && used(&t.dir[3]).is_empty());
        for (i, &e) in t.pt_low.0.iter().enumerate() {
            let addr = i as u64 * PAGE;
            let want = match addr {
                _ if addr < LOW_UNMAPPED_END => 0,
                _ if addr < RO_END => addr | 0x3,
                _ => addr | 0x4,
            };
            assert_eq!(e, want, "page at {addr:#x}");
        }
        for (i, &e) in t.pt_guard.0.iter().enumerate() {
            let addr = GIB + BLOCK + i as u64 * PAGE;
            assert_eq!(e, if addr == guard & !(PAGE - 1) { 0 } else { addr | 0x4 }, "page at {addr:#x}");
        }
    }

    #[test]
    fn boot_tables_map_the_image_and_the_stack_top_as_the_full_map_does() {
        let mem = (1 << 30) + (512 << 20);
        let guard = mem - (4 << 20);
        let boot_end = (3 << 20) + 5;
        let mut t = Box::new(PageTables::<Tagged>::NEW);
        t.build_for_boot(mem, Some(guard), boot_end);
        let full = build(mem, Some(guard));
        let blocks = (mem / BLOCK) as usize;
        let entry = |t: &PageTables<Tagged>, n: usize| t.dir[n / ENTRIES].0[n % ENTRIES];
        // The image ends in block 1: blocks 0 and 1, and the last (the stack's top).
        for n in (0..2).chain([blocks - 1]) {
            let want = match entry(&full, n) {
                e if e == full.pt_low.addr() | 0x1 => t.pt_low.addr() | 0x1,
                e => e,
            };
            assert_eq!(entry(&t, n), want, "block {n}");
        }
        assert!((2..blocks - 1).all(|n| entry(&t, n) == 0), "nothing else");
        assert!(used(&t.pt_guard).is_empty(), "the guard's block is not needed at boot");
        assert_eq!(used(&t.gib)[..2], [(0, t.dir[0].addr() | 0x1), (1, t.dir[1].addr() | 0x1)]);
        // A guard in an eager block gets its pages at boot; a small guest is all eager.
        let mut t = Box::new(PageTables::<Tagged>::NEW);
        t.build_for_boot(8 << 20, Some((8 << 20) - 0x8000), 1 << 20);
        assert_eq!(t.dir[0].0[3], t.pt_guard.addr() | 0x1);
        assert_eq!(t.dir[0].0[1..3], [0, 0]);
        let mut t = Box::new(PageTables::<Tagged>::NEW);
        t.build_for_boot(4 << 20, None, 1 << 20);
        assert_eq!(used(&t.dir[0]).len(), 2);
    }

    #[test]
    fn memory_is_capped_and_rounded_and_stray_guards_are_ignored() {
        let t = build(6 << 30, Some(5 << 30));
        assert!(t.dir.iter().all(|d| d.0.iter().all(|&e| e != 0)));
        assert!(used(&t.pt_guard).is_empty());
        let t = build((4 << 20) + 0x1234, Some(4 << 20));
        assert_eq!(used(&t.dir[0]), [(0, t.pt_low.addr() | 0x1), (1, BLOCK | 0x2)]);
        assert!(used(&t.pt_guard).is_empty());
        let t = build(0, None);
        assert_eq!(used(&t.top), [(0, t.gib.addr() | 0x1)]);
        assert_eq!(used(&t.gib), [(4, 0x1_0000_0005), (9, 0x6)]);
    }
}
