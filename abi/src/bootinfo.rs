//! `struct hvt_boot_info`, handed to the guest entry point (ABI.md §2).

use crate::bytes::{get_u32, get_u64, put_u32, put_u64};
use core::mem::{offset_of, size_of};

/// Host feature bit: the optional net ring (§7) is offered.
pub const HOST_FEATURE_NET_RING: u32 = 1 << 0;

/// `struct hvt_boot_info` (56 bytes at guest address 0x10000).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootInfo {
    /// Guest memory size in bytes (exactly `--mem`).
    pub mem_size: u64,
    /// Highest aligned end of the loaded segments.
    pub kernel_end: u64,
    /// TSC Hz (x86_64) or CNTFRQ_EL0 (AArch64); never 0.
    pub cpu_cycle_freq: u64,
    /// Guest address of the NUL-terminated command line.
    pub cmdline: u64,
    /// Guest address of the manifest copy.
    pub mft: u64,
    /// Features offered by the host (`HOST_FEATURE_*`).
    pub host_features: u32,
    /// Written by nobody: the page is read-only to the guest.
    pub guest_features: u32,
    /// Guest address of the net ring, or 0.
    pub net_ring: u64,
}

const _: () = assert!(size_of::<BootInfo>() == 56);
const _: () = assert!(offset_of!(BootInfo, mem_size) == 0);
const _: () = assert!(offset_of!(BootInfo, kernel_end) == 8);
const _: () = assert!(offset_of!(BootInfo, cpu_cycle_freq) == 16);
const _: () = assert!(offset_of!(BootInfo, cmdline) == 24);
const _: () = assert!(offset_of!(BootInfo, mft) == 32);
const _: () = assert!(offset_of!(BootInfo, host_features) == 40);
const _: () = assert!(offset_of!(BootInfo, guest_features) == 44);
const _: () = assert!(offset_of!(BootInfo, net_ring) == 48);

impl BootInfo {
    /// Bytes occupied in guest memory.
    pub const SIZE: usize = size_of::<BootInfo>();

    /// Encodes the struct as the guest sees it.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        put_u64(&mut b, offset_of!(BootInfo, mem_size), self.mem_size);
        put_u64(&mut b, offset_of!(BootInfo, kernel_end), self.kernel_end);
        put_u64(&mut b, offset_of!(BootInfo, cpu_cycle_freq), self.cpu_cycle_freq);
        put_u64(&mut b, offset_of!(BootInfo, cmdline), self.cmdline);
        put_u64(&mut b, offset_of!(BootInfo, mft), self.mft);
        put_u32(&mut b, offset_of!(BootInfo, host_features), self.host_features);
        put_u32(&mut b, offset_of!(BootInfo, guest_features), self.guest_features);
        put_u64(&mut b, offset_of!(BootInfo, net_ring), self.net_ring);
        b
    }

    /// Decodes the struct from its guest-memory image.
    pub fn decode(b: &[u8; Self::SIZE]) -> BootInfo {
        BootInfo {
            mem_size: get_u64(b, offset_of!(BootInfo, mem_size)),
            kernel_end: get_u64(b, offset_of!(BootInfo, kernel_end)),
            cpu_cycle_freq: get_u64(b, offset_of!(BootInfo, cpu_cycle_freq)),
            cmdline: get_u64(b, offset_of!(BootInfo, cmdline)),
            mft: get_u64(b, offset_of!(BootInfo, mft)),
            host_features: get_u32(b, offset_of!(BootInfo, host_features)),
            guest_features: get_u32(b, offset_of!(BootInfo, guest_features)),
            net_ring: get_u64(b, offset_of!(BootInfo, net_ring)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_at_abi_offsets() {
        let bi = BootInfo {
            mem_size: 512 << 20,
            kernel_end: 0x20_0000,
            cpu_cycle_freq: 2_000_000_000,
            cmdline: 0x1_1000,
            mft: 0x1_0038,
            host_features: 0,
            guest_features: 0,
            net_ring: 0,
        };
        let b = bi.encode();
        assert_eq!(get_u64(&b, 0), 512 << 20);
        assert_eq!(get_u64(&b, 24), 0x1_1000);
        assert_eq!(BootInfo::decode(&b), bi);
    }
}
