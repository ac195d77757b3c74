//! Fixed guest-physical addresses shared by every architecture (ABI.md §2).

/// Lowest guest address an image may load code at.
pub const MIN_LOAD_ADDR: u64 = 0x10_0000;
/// Where `struct hvt_boot_info` lives; its address is the entry argument.
pub const BOOT_INFO_ADDR: u64 = 0x1_0000;
/// First guest page that is mapped (read-only) for the guest.
pub const RO_REGION_START: u64 = BOOT_INFO_ADDR;
/// End of the read-only boot-info region (exclusive) = start of the image.
pub const RO_REGION_END: u64 = MIN_LOAD_ADDR;
/// Bytes reserved for the guest command line, NUL included.
pub const CMDLINE_SIZE: usize = 8192;
/// Guest page size used for protections and alignment checks.
pub const PAGE_SIZE: u64 = 0x1000;
/// Guest memory is sized in steps of this many bytes (2 MiB).
pub const MEM_ALIGN: u64 = 2 << 20;
/// Largest supported guest memory (4 GiB).
pub const MEM_MAX: u64 = 4 << 30;
/// Default `--mem` in MiB.
pub const MEM_DEFAULT_MIB: u64 = 512;
/// Minimum free memory above `_end` a Solo5-built guest insists on.
pub const GUEST_MIN_FREE: u64 = 512 << 10;
