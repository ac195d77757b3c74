//! Initial system and general registers of the boot vCPU (ABI.md §4), as the
//! list of KVM one-reg writes the tender makes after KVM_ARM_VCPU_INIT.

use crate::layout::{PGD, STACK_TOP_GAP};
use crate::onereg;
use abi::layout::BOOT_INFO_ADDR;

/// Memory attributes: index 0 Device-nGnRnE, 1 Device-nGnRE, 2 Device-GRE,
/// 3 Normal non-cacheable, 4 Normal write-back, 5 Normal write-through.
pub const MAIR_EL1: u64 = 0x0000_BBFF_440C_0400;
/// T0SZ = T1SZ = 24 (40-bit VA), 4 KiB granules, WB-WA walks, inner shareable,
/// 16-bit ASID, TBI0, IPS 40 bits.
pub const TCR_EL1: u64 = 0x32_B518_3518;
/// The PGD.
pub const TTBR0_EL1: u64 = PGD;
/// M | C | I: MMU and caches on at entry (written whole).
pub const SCTLR_EL1: u64 = 0x1005;
/// FPEN = 0b11: FP/SIMD does not trap.
pub const CPACR_EL1: u64 = 0b11 << 20;
/// EL1h with D, A, I, F masked.
pub const PSTATE: u64 = 0x3C5;

/// One register write: what it is (for error messages), its one-reg id, its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg {
    pub name: &'static str,
    pub id: u64,
    pub value: u64,
}

/// General registers at entry; all others are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRegs {
    pub pc: u64,
    pub sp: u64,
    pub x0: u64,
    pub pstate: u64,
}

/// Registers for entering an image at `entry` with `mem_size` bytes of RAM.
pub fn entry_regs(entry: u64, mem_size: u64) -> EntryRegs {
    EntryRegs { pc: entry, sp: mem_size - STACK_TOP_GAP, x0: BOOT_INFO_ADDR, pstate: PSTATE }
}

/// Every register the tender sets, in order: the MMU configuration first, then
/// the entry state.
pub fn boot_registers(entry: u64, mem_size: u64) -> [Reg; 9] {
    let r = entry_regs(entry, mem_size);
    let reg = |name, id, value| Reg { name, id, value };
    [
        reg("MAIR_EL1", onereg::MAIR_EL1, MAIR_EL1),
        reg("TCR_EL1", onereg::TCR_EL1, TCR_EL1),
        reg("TTBR0_EL1", onereg::TTBR0_EL1, TTBR0_EL1),
        reg("CPACR_EL1", onereg::CPACR_EL1, CPACR_EL1),
        reg("SCTLR_EL1", onereg::SCTLR_EL1, SCTLR_EL1),
        reg("PSTATE", onereg::PSTATE, r.pstate),
        reg("SP_EL1", onereg::SP_EL1, r.sp),
        reg("X0", onereg::X0, r.x0),
        reg("PC", onereg::PC, r.pc),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_state_matches_abi() {
        let r = entry_regs(0x10_0123, 512 << 20);
        assert_eq!(r.sp, (512 << 20) - 16);
        assert_eq!(r.x0, 0x10000);
        assert_eq!(r.pc, 0x10_0123);
        assert_eq!(r.pstate & 0xF, 0b0101, "EL1h");
        assert_eq!(r.pstate & 0x3C0, 0x3C0, "D, A, I, F masked");
    }

    #[test]
    fn control_registers_decode_as_documented() {
        assert_eq!(TCR_EL1 & 0x3F, 24, "T0SZ");
        assert_eq!((TCR_EL1 >> 16) & 0x3F, 24, "T1SZ");
        assert_eq!((TCR_EL1 >> 14) & 0b11, 0, "TG0 4 KiB");
        assert_eq!((TCR_EL1 >> 30) & 0b11, 0b10, "TG1 4 KiB");
        assert_eq!((TCR_EL1 >> 12) & 0b11, 0b11, "SH0 inner shareable");
        assert_eq!((TCR_EL1 >> 8) & 0b1111, 0b0101, "IRGN0/ORGN0 WB-WA");
        assert_eq!((TCR_EL1 >> 32) & 0b111, 0b010, "IPS 40 bits");
        assert_eq!((TCR_EL1 >> 36) & 0b11, 0b11, "AS and TBI0");
        assert_eq!((MAIR_EL1 >> 8) & 0xFF, 0x04, "index 1 Device-nGnRE");
        assert_eq!((MAIR_EL1 >> 32) & 0xFF, 0xFF, "index 4 Normal WB");
        assert_eq!(SCTLR_EL1 & 0b101, 0b101, "M and C");
        assert_eq!(SCTLR_EL1 & (1 << 12), 1 << 12, "I");
        assert_eq!(TTBR0_EL1, 0x1000);
    }

    #[test]
    fn boot_registers_end_with_the_entry_point() {
        let regs = boot_registers(0x10_0000, 64 << 20);
        let find = |name| regs.iter().find(|r| r.name == name).unwrap();
        assert_eq!(regs.last().unwrap().id, onereg::PC);
        assert_eq!(find("PC").value, 0x10_0000);
        assert_eq!(find("SP_EL1").value, (64 << 20) - 16);
        assert_eq!(find("X0").value, 0x10000);
        assert_eq!(find("PSTATE").value, 0x3C5);
        assert_eq!(find("SCTLR_EL1").id, 0x6030_0000_0013_C080);
        let mut ids: Vec<u64> = regs.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), regs.len());
    }
}
