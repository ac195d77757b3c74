//! Block devices: a disk declared in the manifest, read and written in whole
//! blocks, any number of blocks in one request: through the ring when the host serves
//! block requests there (tender; no exit), else one hypercall (one exit) each.
//!
//! ```ignore
//! guest_rt::manifest!(block "storage");
//! let disk = BlockDevice::find("storage").expect("declared and attached");
//! let mut buf = vec![0u8; 8 * disk.block_size() as usize];
//! disk.read(0, &mut buf)?;              // blocks 0..8
//! disk.write(disk.block_size(), &buf)?; // blocks 1..9
//! ```
//!
//! Alignment is checked here ([`IoError::Misaligned`], the host is not asked);
//! the range is the host's to check (`EINVAL`, [`IoError::Invalid`]).

use crate::io::IoError;
use crate::manifest::{self, Device, DeviceKind};

/// An attached block device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockDevice {
    handle: u64,
    capacity: u64,
    block_size: u64,
}

impl BlockDevice {
    /// The block device a manifest entry describes, if it is an attached one.
    pub fn from_device(d: &Device) -> Option<BlockDevice> {
        match d.kind {
            DeviceKind::Block { capacity, block_size } if d.entry.attached && block_size != 0 => {
                Some(BlockDevice { handle: d.handle, capacity, block_size: u64::from(block_size) })
            }
            _ => None,
        }
    }

    /// The attached block device declared as `name` (`None` if there is no such
    /// block device).
    pub fn find(name: &str) -> Option<BlockDevice> {
        manifest::find(name).as_ref().and_then(BlockDevice::from_device)
    }

    /// The handle of hypercalls and of the POLL ready set.
    pub fn handle(&self) -> u64 {
        self.handle
    }

    /// Size in bytes (a multiple of the block size).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes per block (a power of two, at least 512).
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// Number of blocks.
    pub fn blocks(&self) -> u64 {
        self.capacity / self.block_size
    }

    /// Whether `len` bytes at `offset` are whole blocks. Whether they lie inside
    /// the device is left to the host.
    pub fn check_aligned(&self, offset: u64, len: usize) -> Result<(), IoError> {
        let len = u64::try_from(len).map_err(|_| IoError::Misaligned)?;
        if offset.is_multiple_of(self.block_size) && len.is_multiple_of(self.block_size) {
            Ok(())
        } else {
            Err(IoError::Misaligned)
        }
    }
}

#[cfg(any(doc, target_os = "none"))]
impl BlockDevice {
    /// Reads `buf.len()` bytes (whole blocks) at byte `offset` in one request.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.check_aligned(offset, buf.len())?;
        let ret = match crate::netring::block_read(self.handle, offset, buf) {
            Some(ret) => ret,
            None => crate::hypercall::block_read(self.handle, offset, buf),
        };
        IoError::check(ret)
    }

    /// Writes `buf` (whole blocks) at byte `offset` in one request. `Ok` means the
    /// host has written it to its file.
    pub fn write(&self, offset: u64, buf: &[u8]) -> Result<(), IoError> {
        self.check_aligned(offset, buf.len())?;
        let ret = crate::netring::block_write(self.handle, offset, buf)
            .unwrap_or_else(|| crate::hypercall::block_write(self.handle, offset, buf));
        IoError::check(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::manifest::{
        attach_block, attach_net, encode_header, entry_range, Entry, ENTRY_SIZE, HEADER_SIZE,
    };

    /// A manifest copy with `storage` (1 MiB, `bs`-byte blocks) and `service`.
    fn mft(bs: u16, attached: bool) -> Vec<u8> {
        let entries = [Entry::RESERVED_FIRST, Entry::block("storage"), Entry::net("service")];
        let mut b = vec![0u8; HEADER_SIZE + entries.len() * ENTRY_SIZE];
        encode_header(&mut b, 1, entries.len() as u32);
        for (i, e) in entries.iter().enumerate() {
            let r = entry_range(i);
            b[r.start..r.start + 68].copy_from_slice(&e.name);
            b[r.start + 68..r.start + 72].copy_from_slice(&e.ty.to_le_bytes());
        }
        if attached {
            attach_block(&mut b[entry_range(1)], 1 << 20, bs);
            attach_net(&mut b[entry_range(2)], [2, 0, 0, 0, 0, 1], 1500);
        }
        b
    }

    fn storage(bs: u16) -> BlockDevice {
        let b = mft(bs, true);
        BlockDevice::from_device(&manifest::find_in(&b, "storage").unwrap()).unwrap()
    }

    #[test]
    fn found_by_name_with_geometry() {
        let d = storage(4096);
        assert_eq!((d.handle(), d.capacity(), d.block_size(), d.blocks()), (1, 1 << 20, 4096, 256));
        let b = mft(512, true);
        let net = manifest::find_in(&b, "service").unwrap();
        assert_eq!(BlockDevice::from_device(&net), None, "a net device is not a disk");
        let unattached = mft(512, false);
        assert_eq!(BlockDevice::from_device(&manifest::find_in(&unattached, "storage").unwrap()), None);
        assert_eq!(BlockDevice::find("storage"), None, "no manifest before boot");
    }

    #[test]
    fn only_whole_blocks_pass() {
        let d = storage(512);
        assert_eq!(d.check_aligned(0, 512), Ok(()));
        assert_eq!(d.check_aligned(1024, 64 * 512), Ok(()));
        assert_eq!(d.check_aligned(512, 0), Ok(()));
        assert_eq!(d.check_aligned(1, 512), Err(IoError::Misaligned));
        assert_eq!(d.check_aligned(512, 511), Err(IoError::Misaligned));
        assert_eq!(d.check_aligned(256, 1024), Err(IoError::Misaligned));
        // Out of range but aligned: the host's decision (EINVAL), not ours.
        assert_eq!(d.check_aligned(1 << 20, 512), Ok(()));
        assert_eq!(d.check_aligned(u64::MAX - 511, 512), Ok(()));
        let big = storage(4096);
        assert_eq!(big.check_aligned(512, 4096), Err(IoError::Misaligned));
        assert_eq!(big.check_aligned(8192, 2048), Err(IoError::Misaligned));
    }
}
