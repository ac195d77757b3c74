//! The boot GDT and the matching KVM segment register values (ABI.md §3).

use crate::layout::GDT;

/// GDT entries: null, 64-bit code (selector 0x08), data (selector 0x10).
pub const ENTRIES: [u64; 3] = [0, 0x00AF_9900_0000_FFFF, 0x00CF_9300_0000_FFFF];
/// GDTR limit (size - 1).
pub const LIMIT: u16 = (ENTRIES.len() * 8 - 1) as u16;
/// Code segment selector.
pub const CODE_SELECTOR: u16 = 0x08;
/// Data segment selector.
pub const DATA_SELECTOR: u16 = 0x10;

/// A segment register as KVM wants it (`struct kvm_segment`), arch-crate neutral.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub base: u64,
    pub limit: u32,
    pub selector: u16,
    pub type_: u8,
    pub present: u8,
    pub dpl: u8,
    pub db: u8,
    pub s: u8,
    pub l: u8,
    pub g: u8,
    pub unusable: u8,
}

/// Flat segments base 0, limit 4 GiB, ring 0.
const FLAT: Segment = Segment {
    base: 0,
    limit: 0xFFFF_FFFF,
    selector: 0,
    type_: 0,
    present: 1,
    dpl: 0,
    db: 0,
    s: 1,
    l: 0,
    g: 1,
    unusable: 0,
};

/// CS: execute/accessed, 64-bit.
pub const CODE: Segment = Segment { selector: CODE_SELECTOR, type_: 9, l: 1, db: 0, ..FLAT };
/// SS/DS/ES/FS/GS: read/write/accessed.
pub const DATA: Segment = Segment { selector: DATA_SELECTOR, type_: 3, l: 0, db: 1, ..FLAT };
/// TR: busy 64-bit TSS, selector 0.
pub const TSS: Segment = Segment { selector: 0, type_: 11, s: 0, ..FLAT };
/// LDT: unusable.
pub const LDT: Segment =
    Segment { selector: 0, type_: 0, present: 0, s: 0, g: 0, limit: 0, unusable: 1, ..FLAT };

/// `(base, limit)` of the GDTR.
pub const GDTR: (u64, u16) = (GDT, LIMIT);
/// `(base, limit)` of the IDTR: no IDT until the guest loads its own.
pub const IDTR: (u64, u16) = (0, 0);

/// Calls `write(gpa, entry)` for each GDT entry.
pub fn for_each_entry(mut write: impl FnMut(u64, u64)) {
    for (i, e) in ENTRIES.iter().enumerate() {
        write(GDT + 8 * i as u64, *e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_agree_with_segment_registers() {
        // Access byte of the code descriptor: P=1 DPL=0 S=1 type=0xA (execute/read);
        // KVM's CS type 9 (execute, accessed) is what the CPU caches for it.
        assert_eq!((ENTRIES[1] >> 40) & 0xFF, 0x99);
        assert_eq!((ENTRIES[1] >> 53) & 1, 1, "L bit");
        assert_eq!((ENTRIES[2] >> 40) & 0xFF, 0x93);
        assert_eq!((ENTRIES[2] >> 54) & 1, 1, "D/B bit");
        assert_eq!(LIMIT, 23);
        assert_eq!(CODE.type_, 9);
        assert_eq!(DATA.type_, 3);
        assert_eq!(TSS.type_, 11);
        assert_eq!(LDT.unusable, 1);
    }
}
