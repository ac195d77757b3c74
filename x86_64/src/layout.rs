//! x86_64 guest-physical layout below the image (ABI.md §2–§3).

/// The GDT (3 descriptors).
pub const GDT: u64 = 0x1000;
/// Level-4 page table.
pub const PML4: u64 = 0x2000;
/// Level-3 page table.
pub const PDPT: u64 = 0x3000;
/// First of four page directories, one per GiB (0x4000–0x7FFF).
pub const PD: u64 = 0x4000;
/// Number of page directories (4 GiB of address space): as many as `abi::paging` builds.
pub const PD_COUNT: u64 = 4;
const _: () = assert!(PD_COUNT as usize == abi::paging::DIRS);
/// Page table for the first 2 MiB (4 KiB pages).
pub const PT: u64 = 0x8000;
/// Initial stack pointer offset below the top of guest memory.
pub const STACK_TOP_GAP: u64 = 8;
