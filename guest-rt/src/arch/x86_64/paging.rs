//! The runtime's own identity page tables, with the user bit set so `main` can
//! run at CPL 3, a non-present page at address 0, and a guard page under the stack.
//!
//! Same identity map as the tender's (ABI.md §3) otherwise: 4 KiB pages in the
//! first 2 MiB (nothing below 0x10000, read-only up to 1 MiB), 2 MiB pages up to
//! the end of guest memory, nothing above. The builder and the bits are
//! `abi::paging`'s, shared with the tender.

pub use crate::paging::{Table, BLOCK as LARGE_PAGE, MAX_MEM, PAGE};

/// Every table the map needs: PML4 (`top`), PDPT (`gib`), one PD per GiB
/// (`dir`), a page table for the first 2 MiB and one for the 2 MiB that hold
/// the stack guard page, with `abi::paging`'s user-accessible x86_64 bits.
pub type PageTables = crate::paging::PageTables<abi::paging::x86_64::User>;

#[cfg(test)]
mod tests {
    use super::*;
    use abi::paging::x86_64::{P, PS, RW, US};

    fn build(mem: u64, guard: Option<u64>) -> Box<PageTables> {
        let mut t = Box::new(PageTables::NEW);
        let at = t.own_addresses();
        t.build(&at, mem, guard);
        t
    }

    /// Walks the tables for `addr`: `Some((writable, user))` if mapped.
    fn walk(t: &PageTables, addr: u64) -> Option<(bool, bool)> {
        let find = |phys: u64| -> &Table {
            let all = [&t.top, &t.gib, &t.dir[0], &t.dir[1], &t.dir[2], &t.dir[3], &t.pt_low, &t.pt_guard];
            all.into_iter().find(|x| x.addr() == phys & !0xFFF).expect("entry points at one of our tables")
        };
        let e4 = t.top.0[(addr >> 39) as usize & 511];
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
