//! The identity maps of ABI.md §3 (x86_64) and §4 (AArch64), built once for both sides: the
//! tender's host crates write them into a new guest's memory, and guest-rt builds its own
//! copy with a guard page under the stack (so a stack overflow faults instead of running
//! into the heap) and, on x86_64, the user bit for CPL 3.
//!
//! Both architectures use four levels of 4 KiB tables with 512 entries: a top table
//! whose first entry covers the low 512 GiB, one table with an entry per GiB,
//! one table per GiB of RAM with an entry per 2 MiB, and 4 KiB pages in the
//! first 2 MiB (nothing below 0x10000, read-only up to 1 MiB) and in the 2 MiB
//! that hold the guard page; 2 MiB blocks elsewhere, nothing above RAM except
//! what the port adds (`Descriptors::FIXED_GIB`). Only the descriptor bits
//! differ: each map supplies them as a [`Descriptors`] implementation ([`x86_64`],
//! [`aarch64`]). Where the tables live is the caller's: [`Addresses`].

use core::marker::PhantomData;

pub mod aarch64;
pub mod x86_64;

/// A 4 KiB page.
pub const PAGE: u64 = 0x1000;
/// A 2 MiB block (large page).
pub const BLOCK: u64 = 0x20_0000;
/// One GiB (the reach of an entry in the per-GiB table).
pub const GIB: u64 = 1 << 30;
/// Entries per table.
pub const ENTRIES: usize = 512;
/// Guest memory the tables can map (the ABI's maximum).
pub const MAX_MEM: u64 = crate::layout::MEM_MAX;
/// Tables of 2 MiB entries: one per GiB of `MAX_MEM`.
pub const DIRS: usize = (MAX_MEM / GIB) as usize;

/// First address mapped at all (below: the tender's tables, never for the guest).
const LOW_UNMAPPED_END: u64 = crate::layout::RO_REGION_START;
/// End of the read-only boot info / manifest / command line region.
const RO_END: u64 = crate::layout::RO_REGION_END;

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
    /// Whether every per-GiB entry points at its table, RAM or not (solo5-hvt's x86_64
    /// map), rather than only those of GiBs that hold RAM.
    const EVERY_GIB: bool = false;
}

/// Where each table of a map lives (guest-physical = virtual: the maps are identities).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addresses {
    pub top: u64,
    pub gib: u64,
    pub dir: [u64; DIRS],
    pub pt_low: u64,
    pub pt_guard: u64,
}

impl Addresses {
    /// A host's fixed layout (ABI.md §3/§4): the per-GiB tables in consecutive pages from
    /// `first_dir`, and no guard page (its table is never used).
    pub const fn host(top: u64, gib: u64, first_dir: u64, pt_low: u64) -> Addresses {
        let mut dir = [0; DIRS];
        let mut i = 0;
        while i < DIRS {
            dir[i] = first_dir + i as u64 * PAGE;
            i += 1;
        }
        Addresses { top, gib, dir, pt_low, pt_guard: 0 }
    }
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

    /// Where this table is in the address space it is built in (guest-rt's own tables
    /// are where the guest's identity map puts them).
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

    /// The addresses of these tables where they are (for tables built in the address
    /// space that will use them: guest-rt's).
    pub fn own_addresses(&self) -> Addresses {
        Addresses {
            top: self.top.addr(),
            gib: self.gib.addr(),
            dir: [self.dir[0].addr(), self.dir[1].addr(), self.dir[2].addr(), self.dir[3].addr()],
            pt_low: self.pt_low.addr(),
            pt_guard: self.pt_guard.addr(),
        }
    }

    /// Fills in the identity map of `mem_size` bytes (a multiple of 2 MiB, at
    /// most 4 GiB) and the fixed entries, leaving the page at `guard` (if any)
    /// unmapped; tables point at each other at `at`. Starts from [`NEW`](Self::NEW),
    /// whose first-2-MiB pages it does not rewrite.
    pub fn build(&mut self, at: &Addresses, mem_size: u64, guard: Option<u64>) {
        self.build_for_boot(at, mem_size, guard, u64::MAX);
    }

    /// Every non-zero entry, as (its address at `at`, its value): what a host writes
    /// into a new guest's memory.
    pub fn for_each_entry(&self, at: &Addresses, mut write: impl FnMut(u64, u64)) {
        let tables = [(&self.top, at.top), (&self.gib, at.gib)]
            .into_iter()
            .chain(self.dir.iter().zip(at.dir))
            .chain([(&self.pt_low, at.pt_low), (&self.pt_guard, at.pt_guard)]);
        for (table, base) in tables {
            for (i, &e) in table.0.iter().enumerate().filter(|(_, &e)| e != 0) {
                write(base + 8 * i as u64, e);
            }
        }
    }

    /// Like [`build`](Self::build), but maps only the first 2 MiB, the blocks below
    /// `boot_end` (the image) and the last block (the boot stack's top): boot tables.
    /// Why: each entry written at CPL 0 costs ~14 µs on kvm-pvm (ABI.md §8), the guard
    /// page's 512 about 5 ms; the whole map is then built at CPL 3 in a second set.
    pub fn build_for_boot(&mut self, at: &Addresses, mem_size: u64, guard: Option<u64>, boot_end: u64) {
        let mem_size = mem_size.min(MAX_MEM) & !(BLOCK - 1);
        let guard = guard.map(|g| g & !(PAGE - 1)).filter(|&g| g >= RO_END && g < mem_size);
        self.top.0[0] = at.gib | D::TABLE;
        let blocks = (mem_size / BLOCK) as usize;
        let lazy_start = (boot_end.div_ceil(BLOCK).max(1) as usize).min(blocks);
        let lazy_end = blocks.saturating_sub(1).max(lazy_start);
        for n in (0..lazy_start).chain(lazy_end..blocks) {
            self.map_block(at, n, guard);
        }
        let gibs = if D::EVERY_GIB { DIRS } else { blocks.div_ceil(ENTRIES) };
        for gib in 0..gibs {
            self.gib.0[gib] = at.dir[gib] | D::TABLE;
        }
        for &(index, entry) in D::FIXED_GIB {
            self.gib.0[index] = entry;
        }
    }

    /// Writes the entry for 2 MiB block `n`: 4 KiB pages if it holds the guard page (or is
    /// the first, whose pages are in `pt_low` since compile time), else one block entry.
    fn map_block(&mut self, at: &Addresses, n: usize, guard: Option<u64>) {
        let base = n as u64 * BLOCK;
        let holds_guard = guard.is_some_and(|g| g & !(BLOCK - 1) == base);
        let entry = if n == 0 && holds_guard {
            // Only with 2 MiB of memory: the guard page is in the first 2 MiB.
            fill_pages::<D>(&mut self.pt_low, base, guard);
            at.pt_low | D::TABLE
        } else if n == 0 {
            // Already right since compile time (NEW).
            at.pt_low | D::TABLE
        } else if holds_guard {
            fill_pages::<D>(&mut self.pt_guard, base, guard);
            at.pt_guard | D::TABLE
        } else {
            base | D::BLOCK_RW
        };
        self.dir[n / ENTRIES].0[n % ENTRIES] = entry;
    }
}

/// Calls `write(entry address, value)` for every non-zero entry of the map of `mem_size`
/// bytes with its tables at `at` and no guard page: what a host writes into a new guest's
/// (zeroed) memory.
pub fn for_each_host_entry<D: Descriptors>(at: &Addresses, mem_size: u64, write: impl FnMut(u64, u64)) {
    let mut tables = PageTables::<D>::NEW;
    tables.build(at, mem_size, None);
    tables.for_each_entry(at, write);
}

/// Maps the 2 MiB at `base` with 4 KiB pages in `pt`.
fn fill_pages<D: Descriptors>(pt: &mut Table, base: u64, guard: Option<u64>) {
    for (i, e) in pt.0.iter_mut().enumerate() {
        *e = page_entry::<D>(base + i as u64 * PAGE, guard);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::boxed::Box;
    use std::vec::Vec;

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
        let at = t.own_addresses();
        t.build(&at, mem, guard);
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
        t.build_for_boot(&t.own_addresses(), mem, Some(guard), boot_end);
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
        t.build_for_boot(&t.own_addresses(), 8 << 20, Some((8 << 20) - 0x8000), 1 << 20);
        assert_eq!(t.dir[0].0[3], t.pt_guard.addr() | 0x1);
        assert_eq!(t.dir[0].0[1..3], [0, 0]);
        let mut t = Box::new(PageTables::<Tagged>::NEW);
        t.build_for_boot(&t.own_addresses(), 4 << 20, None, 1 << 20);
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

    #[test]
    fn a_host_gets_every_entry_at_its_address() {
        let mut t = Box::new(PageTables::<Tagged>::NEW);
        let at = Addresses {
            top: 0x1000,
            gib: 0x2000,
            dir: [0x3000, 0x4000, 0x5000, 0x6000],
            pt_low: 0x7000,
            pt_guard: 0x8000,
        };
        t.build(&at, 4 << 20, None);
        let mut seen = Vec::new();
        t.for_each_entry(&at, |gpa, v| seen.push((gpa, v)));
        assert_eq!(seen[0], (0x1000, 0x2000 | 0x1));
        assert!(seen.contains(&(0x3000, 0x7000 | 0x1)), "block 0 points at the low table's address");
        assert!(seen.contains(&(0x3008, BLOCK | 0x2)));
        assert!(seen.contains(&(0x7000 + 8 * 0x10, 0x10000 | 0x3)));
        assert!(seen.iter().all(|&(_, v)| v != 0));
    }
}
