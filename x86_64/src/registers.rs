//! Initial control and general registers of the boot vCPU (ABI.md §3).

use crate::layout::STACK_TOP_GAP;
use abi::layout::BOOT_INFO_ADDR;

/// PE | NE | WP | PG.
pub const CR0: u64 = 0x8001_0021;
/// The PML4.
pub const CR3: u64 = crate::layout::PML4;
/// PAE | OSFXSR | OSXMMEXCPT.
pub const CR4: u64 = 0x620;
/// LME | LMA.
pub const EFER: u64 = 0x500;
/// Only the reserved bit 1.
pub const RFLAGS: u64 = 0x2;

/// General registers at entry; all others are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRegs {
    pub rip: u64,
    pub rsp: u64,
    pub rdi: u64,
    pub rflags: u64,
}

/// Registers for entering an image at `entry` with `mem_size` bytes of RAM.
pub fn entry_regs(entry: u64, mem_size: u64) -> EntryRegs {
    EntryRegs { rip: entry, rsp: mem_size - STACK_TOP_GAP, rdi: BOOT_INFO_ADDR, rflags: RFLAGS }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_state_matches_abi() {
        let r = entry_regs(0x10_0123, 512 << 20);
        assert_eq!(r.rsp, (512 << 20) - 8);
        assert_eq!(r.rdi, 0x10000);
        assert_eq!(r.rflags, 2);
        assert_eq!(CR0 & 0x8000_0001, 0x8000_0001, "paging and protection on");
        assert_eq!(CR3, 0x2000);
    }
}
