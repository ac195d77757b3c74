//! Puts the image and the boot data into guest memory: segments, boot info,
//! manifest copy, command line (ABI.md §1–§2).

use crate::elf::Image;
use crate::memory::{GuestMemory, MemoryError};
use abi::bootinfo::{BootInfo, HOST_FEATURE_NET_RING};
use abi::layout::{BOOT_INFO_ADDR, CMDLINE_SIZE};

/// Why the segments could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error("Could not read segment data")]
    Read(#[source] std::io::Error),
}

/// Reads the loadable segments from the image file straight into guest memory (the file is
/// never held in host memory as a whole) and makes the non-writable ones read-only in the
/// host mapping (a guest write to its own code then faults).
pub fn load_segments(mem: &mut GuestMemory, file: &std::fs::File, image: &Image) -> Result<(), LoadError> {
    use std::os::unix::fs::FileExt;
    for s in &image.segments {
        let len = s.file_range.len() as u64;
        let dest = mem.slice_mut(s.vaddr, len)?;
        file.read_exact_at(dest, s.file_range.start as u64).map_err(LoadError::Read)?;
    }
    for s in image.segments.iter().filter(|s| !s.writable) {
        mem.protect_readonly(s.prot_start, s.prot_end)?;
    }
    Ok(())
}

/// Where the boot data lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootLayout {
    pub manifest: u64,
    pub cmdline: u64,
}

/// Places the manifest right after boot info and the command line after it.
pub fn layout(manifest_len: usize) -> BootLayout {
    let manifest = BOOT_INFO_ADDR + BootInfo::SIZE as u64;
    BootLayout { manifest, cmdline: manifest + manifest_len as u64 }
}

/// What boot info tells the guest about its machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    /// The guest's memory size: exactly `--mem` (the slot may hold the net ring above it).
    pub mem_size: u64,
    pub cpu_cycle_freq: u64,
    /// The net ring's guest address, when one is offered and served.
    pub net_ring: Option<u64>,
}

/// Writes boot info, the manifest copy and the NUL-terminated command line.
pub fn write_boot_info(
    mem: &mut GuestMemory,
    image: &Image,
    machine: Machine,
    manifest: &[u8],
    cmdline: &[u8],
) -> Result<(), MemoryError> {
    let at = layout(manifest.len());
    let info = BootInfo {
        mem_size: machine.mem_size,
        kernel_end: image.kernel_end,
        cpu_cycle_freq: machine.cpu_cycle_freq,
        cmdline: at.cmdline,
        mft: at.manifest,
        host_features: if machine.net_ring.is_some() { HOST_FEATURE_NET_RING } else { 0 },
        guest_features: 0,
        net_ring: machine.net_ring.unwrap_or(0),
    };
    mem.write(BOOT_INFO_ADDR, &info.encode())?;
    mem.write(at.manifest, manifest)?;
    let line = mem.slice_mut(at.cmdline, CMDLINE_SIZE as u64)?;
    line.fill(0);
    line[..cmdline.len()].copy_from_slice(cmdline);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_data_stays_inside_the_read_only_region() {
        let max_manifest = 8 + 104 * 64;
        let at = layout(max_manifest);
        assert_eq!(at.manifest, 0x10038);
        assert_eq!(at.manifest % 8, 0);
        assert!(at.cmdline + CMDLINE_SIZE as u64 <= abi::layout::RO_REGION_END);
    }
}
