//! Block devices: a regular file served with positioned reads and writes
//! (ABI.md §5–§6). I/O errors go to the guest as `EUNSPEC`, never kill the VM,
//! and every device is flushed when the guest stops.

use crate::diag::Limited;
use crate::memory::{MemoryError, SharedMemory};
use abi::hypercall::Ret;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Default sector size.
pub const DEFAULT_BLOCK_SIZE: u64 = 512;

/// One block device to attach: its manifest name, its file and its sector size
/// (`None`: [`DEFAULT_BLOCK_SIZE`]). Built by the command line, read by `Devices::attach`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockConfig {
    pub name: String,
    pub path: PathBuf,
    pub sector_size: Option<u64>,
}

/// Why a block device could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("Block device '{name}': could not open {path}")]
    Open {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Block device '{name}': {path} is not a regular file or block device")]
    NotAFile { name: String, path: PathBuf },
    #[error("Block device '{name}': {path} is {size} bytes, smaller than one {block_size}-byte block")]
    TooSmall { name: String, path: PathBuf, size: u64, block_size: u64 },
    #[error("Block device '{name}': {path} is {size} bytes, not a multiple of the block size {block_size}")]
    Misaligned { name: String, path: PathBuf, size: u64, block_size: u64 },
    #[error("Block device '{name}': block size {block_size} is too large")]
    BlockSize { name: String, block_size: u64 },
}

/// An attached block device.
#[derive(Debug)]
pub struct BlockDevice {
    pub name: String,
    file: File,
    pub capacity: u64,
    pub block_size: u64,
    io_errors: Limited,
}

impl BlockDevice {
    /// Opens `path` read-write; its size is the capacity, which must be a
    /// non-zero multiple of `block_size`.
    pub fn open(name: &str, path: &Path, block_size: u64) -> Result<BlockDevice, BlockError> {
        let open_err = |source| BlockError::Open { name: name.into(), path: path.into(), source };
        let mut file = OpenOptions::new().read(true).write(true).open(path).map_err(open_err)?;
        let ft = file.metadata().map_err(open_err)?.file_type();
        use std::os::unix::fs::FileTypeExt;
        if !(ft.is_file() || ft.is_block_device()) {
            return Err(BlockError::NotAFile { name: name.into(), path: path.into() });
        }
        if block_size > u64::from(u16::MAX) {
            return Err(BlockError::BlockSize { name: name.into(), block_size });
        }
        let size = file.seek(SeekFrom::End(0)).map_err(open_err)?;
        if size < block_size {
            return Err(BlockError::TooSmall { name: name.into(), path: path.into(), size, block_size });
        }
        if size % block_size != 0 {
            return Err(BlockError::Misaligned { name: name.into(), path: path.into(), size, block_size });
        }
        Ok(BlockDevice { name: name.into(), file, capacity: size, block_size, io_errors: Limited::new() })
    }

    /// The open file's descriptor (for the seccomp filter's argument checks).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.file)
    }

    /// Whether `[offset, offset + len)` lies inside the device.
    pub fn in_range(&self, offset: u64, len: u64) -> bool {
        offset < self.capacity && offset.checked_add(len).is_some_and(|end| end <= self.capacity)
    }

    /// Reads `buf.len()` bytes at `offset`; a host error or short read is `EUNSPEC`.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Ret {
        self.io_result("read", offset, self.file.read_exact_at(buf, offset))
    }

    /// Writes `buf` at `offset`; a host error (e.g. a full disk) is `EUNSPEC`.
    pub fn write(&self, offset: u64, buf: &[u8]) -> Ret {
        self.io_result("write", offset, self.file.write_all_at(buf, offset))
    }

    /// Reads `len` bytes at `offset` straight into guest memory at `gpa`, from a thread
    /// other than the vCPU's (the ring's). A bad guest range is the error; a host error or
    /// short read is `EUNSPEC`.
    pub fn read_into(&self, offset: u64, mem: &SharedMemory, gpa: u64, len: u64) -> Result<Ret, MemoryError> {
        Ok(self.io_result("read", offset, mem.pread_into(&self.file, offset, gpa, len)?))
    }

    /// Writes `len` bytes of guest memory at `gpa` at `offset`, as [`read_into`](Self::read_into).
    pub fn write_from(
        &self,
        offset: u64,
        mem: &SharedMemory,
        gpa: u64,
        len: u64,
    ) -> Result<Ret, MemoryError> {
        Ok(self.io_result("write", offset, mem.pwrite_from(&self.file, offset, gpa, len)?))
    }

    fn io_result(&self, what: &str, offset: u64, r: std::io::Result<()>) -> Ret {
        match r {
            Ok(()) => Ret::Ok,
            Err(e) => {
                self.io_errors.warn(format_args!(
                    "block device '{}': {what} at offset {offset} failed: {e}",
                    self.name
                ));
                Ret::Eunspec
            }
        }
    }

    /// Makes every acknowledged write durable.
    pub fn flush(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(len: u64) -> (tempdir::Dir, PathBuf) {
        let d = tempdir::Dir::new();
        let p = d.path.join("disk.img");
        std::fs::write(&p, vec![0u8; len as usize]).unwrap();
        (d, p)
    }

    mod tempdir {
        pub struct Dir {
            pub path: std::path::PathBuf,
        }
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let path = std::env::temp_dir().join(format!(
                    "tender-block-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst)
                ));
                std::fs::create_dir_all(&path).unwrap();
                Dir { path }
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                std::fs::remove_dir_all(&self.path).ok();
            }
        }
    }

    #[test]
    fn capacity_rules() {
        let (_d, p) = file(4096);
        assert_eq!(BlockDevice::open("d", &p, 512).unwrap().capacity, 4096);
        assert_eq!(BlockDevice::open("d", &p, 4096).unwrap().capacity, 4096);
        let e = BlockDevice::open("d", &p, 8192).unwrap_err().to_string();
        assert!(e.contains("smaller than one 8192-byte block"), "{e}");
        let (_d2, p2) = file(1000);
        let e = BlockDevice::open("d", &p2, 512).unwrap_err().to_string();
        assert!(e.contains("not a multiple of the block size 512"), "{e}");
        let e = BlockDevice::open("d", Path::new("/nonexistent/x"), 512).unwrap_err().to_string();
        assert!(e.contains("could not open /nonexistent/x"), "{e}");
    }

    #[test]
    fn range_checks_overflow() {
        let (_d, p) = file(4096);
        let b = BlockDevice::open("d", &p, 512).unwrap();
        assert!(b.in_range(0, 4096));
        assert!(b.in_range(3584, 512));
        assert!(!b.in_range(4096, 0));
        assert!(!b.in_range(3584, 513));
        assert!(!b.in_range(512, u64::MAX));
    }

    #[test]
    fn reads_back_what_it_wrote() {
        let (_d, p) = file(4096);
        let b = BlockDevice::open("d", &p, 512).unwrap();
        assert_eq!(b.write(1024, &[7u8; 1024]), Ret::Ok);
        b.flush().unwrap();
        let mut buf = [0u8; 2048];
        assert_eq!(b.read(512, &mut buf), Ret::Ok);
        assert_eq!(&buf[..512], &[0u8; 512]);
        assert_eq!(&buf[512..1536], &[7u8; 1024]);
        assert_eq!(std::fs::read(&p).unwrap()[1024], 7);
    }
}
