//! Decoding a guest MMIO access: a hypercall is a 4-byte write of the argument
//! struct's address to `0x1_0000_0000 + 8·nr` (ABI.md §4); anything else in the
//! window is a malformed access, and anything below it touched guest RAM.

use crate::layout::MMIO_BASE;
use abi::hypercall::{MAX, MMIO_STRIDE};
use core::fmt;

/// What an MMIO exit was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A well-formed hypercall: number and the 32-bit value written.
    Hypercall { nr: u32, arg: u32 },
    /// A write to the net ring's doorbell (ABI.md §7).
    Doorbell,
    /// An access below the MMIO window, i.e. to guest RAM (or a hole in it).
    Memory,
    /// A malformed access in the MMIO window: fatal.
    Invalid(InvalidAccess),
}

/// A malformed MMIO access; `Display` gives the one-line diagnostic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidAccess {
    pub gpa: u64,
    pub write: bool,
    pub len: usize,
}

impl fmt::Display for InvalidAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let InvalidAccess { gpa, write, len } = *self;
        if !write {
            return write!(f, "Invalid guest MMIO access: {len}-byte read from {gpa:#x}");
        }
        let why = if hypercall_nr(gpa).is_some() {
            "hypercalls are 4-byte writes"
        } else {
            "not a hypercall address"
        };
        write!(f, "Invalid guest MMIO access: {len}-byte write to {gpa:#x} ({why})")
    }
}

/// The hypercall number whose address is `gpa`, if any: as solo5-hvt, any address in
/// `[MMIO_BASE, MMIO_BASE + 8·MAX)` decodes as `nr = offset >> 3` (so +0xC is nr 1).
pub fn hypercall_nr(gpa: u64) -> Option<u32> {
    let offset = gpa.checked_sub(MMIO_BASE)?;
    u32::try_from(offset / MMIO_STRIDE).ok().filter(|&nr| nr < MAX)
}

/// Classifies an MMIO exit at `gpa` carrying `data` (written, or to be read).
pub fn classify(gpa: u64, write: bool, data: &[u8]) -> Access {
    if gpa < MMIO_BASE {
        return Access::Memory;
    }
    if write && gpa == abi::netring::KICK_MMIO {
        return Access::Doorbell;
    }
    match (write, hypercall_nr(gpa), <[u8; 4]>::try_from(data)) {
        (true, Some(nr), Ok(b)) => Access::Hypercall { nr, arg: u32::from_le_bytes(b) },
        _ => Access::Invalid(InvalidAccess { gpa, write, len: data.len() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypercall_addresses() {
        assert_eq!(hypercall_nr(0x1_0000_0000), Some(0));
        assert_eq!(hypercall_nr(0x1_0000_0010), Some(2));
        assert_eq!(hypercall_nr(0x1_0000_0040), Some(8));
        assert_eq!(hypercall_nr(0x1_0000_0048), None, "nr 9 has no handler");
        assert_eq!(hypercall_nr(0x1_0000_0014), Some(2), "solo5-hvt decodes offset >> 3");
        assert_eq!(hypercall_nr(0x1_0000_000C), Some(1));
        assert_eq!(hypercall_nr(0x0_FFFF_FFF8), None);
        assert_eq!(hypercall_nr(!7), None);
    }

    #[test]
    fn writes_to_the_net_ring_doorbell_are_told_apart() {
        assert_eq!(classify(0x1_0000_0100, true, &[0; 4]), Access::Doorbell);
        assert!(matches!(classify(0x1_0000_0100, false, &[0; 4]), Access::Invalid(_)));
    }

    #[test]
    fn four_byte_writes_are_hypercalls() {
        let a = classify(0x1_0000_0010, true, &0x1fff_ff00u32.to_le_bytes());
        assert_eq!(a, Access::Hypercall { nr: 2, arg: 0x1fff_ff00 });
        assert_eq!(classify(0x1_0000_0040, true, &[1, 0, 0, 0]), Access::Hypercall { nr: 8, arg: 1 });
    }

    #[test]
    fn ram_accesses_are_memory() {
        assert_eq!(classify(0x10_0000, true, &[0; 8]), Access::Memory);
        assert_eq!(classify(0xFFFF_FFFC, false, &[0; 4]), Access::Memory);
    }

    #[test]
    fn everything_else_is_invalid_with_a_one_line_reason() {
        let msg = |gpa, write, data: &[u8]| match classify(gpa, write, data) {
            Access::Invalid(i) => i.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            msg(0x1_0000_0010, false, &[0; 4]),
            "Invalid guest MMIO access: 4-byte read from 0x100000010"
        );
        assert_eq!(
            msg(0x1_0000_0010, true, &[0; 8]),
            "Invalid guest MMIO access: 8-byte write to 0x100000010 (hypercalls are 4-byte writes)"
        );
        assert_eq!(
            msg(0x1_0000_0200, true, &[0; 4]),
            "Invalid guest MMIO access: 4-byte write to 0x100000200 (not a hypercall address)"
        );
        assert!(!msg(0x1_0000_0004, true, &[0; 2]).contains('\n'));
    }
}
