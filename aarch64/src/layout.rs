//! AArch64 guest-physical layout below the image and the MMIO window (ABI.md §4).

/// Page-table root (PGD, level 0; T0SZ = 24 needs only its entry 0).
pub const PGD: u64 = 0x1000;
/// Level-1 table (PUD): one entry per GiB.
pub const PUD: u64 = 0x2000;
/// First of four level-2 tables (PMD), one per GiB of RAM (0x3000–0x6FFF).
pub const PMD: u64 = 0x3000;
/// Number of PMDs (4 GiB of RAM at most).
pub const PMD_COUNT: u64 = 4;
/// Level-3 table (PTE) for the first 2 MiB (4 KiB pages).
pub const PTE: u64 = 0x7000;
/// Bytes mapped by one PMD entry (a 2 MiB block).
pub const BLOCK_SIZE: u64 = 2 << 20;
/// The hypercall MMIO window (not backed by RAM: accesses exit to the tender).
pub const MMIO_BASE: u64 = abi::hypercall::MMIO_BASE;
/// Initial stack pointer offset below the top of guest memory.
pub const STACK_TOP_GAP: u64 = 16;

const _: () = assert!(PMD + PMD_COUNT * abi::layout::PAGE_SIZE == PTE);
const _: () = assert!(PMD_COUNT as usize == abi::paging::DIRS);
const _: () = assert!(PTE + abi::layout::PAGE_SIZE <= abi::layout::RO_REGION_START);
const _: () = assert!(MMIO_BASE == abi::layout::MEM_MAX);
