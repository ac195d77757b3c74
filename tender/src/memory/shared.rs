//! Guest memory as a thread other than the vCPU's sees it: the guest runs meanwhile, so
//! this view never hands out references into guest memory. It copies bytes in and out and
//! reads and writes aligned `u32`s atomically, and moves file bytes in and out with
//! positioned I/O (the kernel copies), each access bounds-checked.

use super::{check_not_readonly, Mapping, MemoryError};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A bounds-checked view of guest memory for another host thread.
#[derive(Debug, Clone)]
pub struct SharedMemory {
    map: Arc<Mapping>,
    readonly: Vec<Range<u64>>,
}

impl SharedMemory {
    pub(super) fn new(map: Arc<Mapping>, readonly: Vec<Range<u64>>) -> SharedMemory {
        SharedMemory { map, readonly }
    }

    /// The bounds check of guest memory (`GuestMemory::check`): `[gpa, gpa + len)` inside.
    pub fn check(&self, gpa: u64, len: u64) -> Result<(), MemoryError> {
        self.map.range(gpa, len).map(|_| ())
    }

    /// Checks that the host may write `[gpa, gpa + len)`: inside memory, not read-only.
    pub fn check_writable(&self, gpa: u64, len: u64) -> Result<(), MemoryError> {
        self.check(gpa, len)?;
        check_not_readonly(&self.readonly, gpa, len)
    }

    /// Copies guest bytes at `gpa` into `out`.
    pub fn read(&self, gpa: u64, out: &mut [u8]) -> Result<(), MemoryError> {
        let at = self.map.range(gpa, out.len() as u64)?.start;
        // SAFETY: `check` proved the range lies inside the live mapping (kept alive by
        // `self.map`); a raw copy forms no reference to bytes the guest may be changing.
        unsafe { std::ptr::copy_nonoverlapping(self.map.base.as_ptr().add(at), out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Copies `bytes` to guest address `gpa` (never into read-only memory).
    pub fn write(&self, gpa: u64, bytes: &[u8]) -> Result<(), MemoryError> {
        self.check_writable(gpa, bytes.len() as u64)?;
        // SAFETY: as in `read`; the range is writable in the host mapping (checked).
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.base.as_ptr().add(gpa as usize),
                bytes.len(),
            )
        };
        Ok(())
    }

    /// Reads `len` bytes of `file` at `offset` straight into guest memory at `gpa` (never
    /// read-only memory). The outer error is a bad range; the inner one the file's, a short
    /// file included.
    pub fn pread_into(
        &self,
        file: impl AsFd,
        offset: u64,
        gpa: u64,
        len: u64,
    ) -> Result<std::io::Result<()>, MemoryError> {
        self.check_writable(gpa, len)?;
        self.positioned_io(file, offset, gpa, len, Direction::IntoGuest)
    }

    /// Writes `len` bytes of guest memory at `gpa` to `file` at `offset`, as
    /// [`pread_into`](Self::pread_into) reads.
    pub fn pwrite_from(
        &self,
        file: impl AsFd,
        offset: u64,
        gpa: u64,
        len: u64,
    ) -> Result<std::io::Result<()>, MemoryError> {
        self.positioned_io(file, offset, gpa, len, Direction::OutOfGuest)
    }

    /// pread64 or pwrite64 between `file` at `offset` and guest `[gpa, gpa + len)`,
    /// repeated until all of it is done, retrying on EINTR; 0 bytes before the end is an error
    /// (a short file).
    fn positioned_io(
        &self,
        file: impl AsFd,
        offset: u64,
        gpa: u64,
        len: u64,
        direction: Direction,
    ) -> Result<std::io::Result<()>, MemoryError> {
        let base = self.map.range(gpa, len)?.start;
        let fd = file.as_fd().as_raw_fd();
        let mut done = 0usize;
        while (done as u64) < len {
            let Some(at) = offset.checked_add(done as u64).and_then(|a| i64::try_from(a).ok()) else {
                return Ok(Err(std::io::ErrorKind::InvalidInput.into()));
            };
            // SAFETY: `[gpa, gpa + len)` is inside the live mapping (checked above, kept alive
            // by `self.map`; writable where the caller writes) and `done < len`; the kernel
            // moves the bytes, no reference to guest memory is formed.
            let n = unsafe {
                let (buf, count) = (self.map.base.as_ptr().add(base + done).cast(), (len as usize) - done);
                match direction {
                    Direction::IntoGuest => libc::pread64(fd, buf, count, at),
                    Direction::OutOfGuest => libc::pwrite64(fd, buf.cast_const(), count, at),
                }
            };
            match n {
                0 => return Ok(Err(std::io::ErrorKind::UnexpectedEof.into())),
                n if n > 0 => done += n as usize,
                _ => {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        return Ok(Err(e));
                    }
                }
            }
        }
        Ok(Ok(()))
    }

    fn atomic(&self, gpa: u64) -> Result<&AtomicU32, MemoryError> {
        let at = self.map.range(gpa, 4)?.start;
        if !gpa.is_multiple_of(4) {
            return Err(MemoryError::OutOfRange { gpa, len: 4, size: self.map.size });
        }
        // SAFETY: four aligned bytes inside the live mapping, which outlives `&self`; all host
        // accesses to them are atomic (the guest's own are its business: a u32 either way).
        Ok(unsafe { AtomicU32::from_ptr(self.map.base.as_ptr().add(at).cast()) })
    }

    /// Reads the aligned little-endian `u32` at `gpa` (both our targets are little-endian).
    pub fn load_u32(&self, gpa: u64, order: Ordering) -> Result<u32, MemoryError> {
        Ok(self.atomic(gpa)?.load(order))
    }

    /// Writes the aligned `u32` at `gpa` (never into read-only memory).
    pub fn store_u32(&self, gpa: u64, v: u32, order: Ordering) -> Result<(), MemoryError> {
        self.check_writable(gpa, 4)?;
        self.atomic(gpa)?.store(v, order);
        Ok(())
    }
}

/// Which way [`SharedMemory::positioned_io`] moves bytes.
#[derive(Clone, Copy)]
enum Direction {
    IntoGuest,
    OutOfGuest,
}

#[cfg(test)]
mod tests {
    use crate::memory::GuestMemory;
    use std::sync::atomic::Ordering::SeqCst;

    #[test]
    fn sees_the_same_bytes_and_checks_every_access() {
        let mut m = GuestMemory::new(2 << 20).unwrap();
        m.protect_readonly(0x10_0000, 0x10_1000).unwrap();
        let s = m.shared();
        s.write(0x2000, b"frame").unwrap();
        assert_eq!(m.slice(0x2000, 5).unwrap(), b"frame");
        s.store_u32(0x3000, 7, SeqCst).unwrap();
        assert_eq!(m.slice(0x3000, 4).unwrap(), &7u32.to_le_bytes());
        let mut out = [0u8; 5];
        s.read(0x2000, &mut out).unwrap();
        assert_eq!(&out, b"frame");
        assert!(s.write(0x10_0ffe, b"xy").is_err(), "read-only");
        assert!(s.store_u32(0x3002, 1, SeqCst).is_err(), "unaligned");
        assert!(s.load_u32((2 << 20) - 2, SeqCst).is_err(), "outside");
        assert!(s.read(u64::MAX, &mut out).is_err(), "overflow");
    }

    #[test]
    fn moves_file_bytes_in_and_out_of_checked_ranges() {
        let path = std::env::temp_dir().join(format!("tender-shared-{}", std::process::id()));
        let file = std::fs::OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path);
        let file = file.unwrap();
        std::fs::remove_file(&path).unwrap();
        let mut m = GuestMemory::new(2 << 20).unwrap();
        m.protect_readonly(0x10_0000, 0x10_1000).unwrap();
        let s = m.shared();
        s.write(0x4000, &[0xa5; 8192]).unwrap();
        s.pwrite_from(&file, 4096, 0x4000, 8192).unwrap().unwrap();
        assert_eq!(
            std::fs::metadata(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file)))
                .unwrap()
                .len(),
            12288
        );
        s.pread_into(&file, 4096 + 100, 0x8000, 8000).unwrap().unwrap();
        assert_eq!(m.slice(0x8000, 8000).unwrap(), &[0xa5; 8000][..]);
        let short = s.pread_into(&file, 8192, 0xc000, 8192).unwrap().unwrap_err();
        assert_eq!(short.kind(), std::io::ErrorKind::UnexpectedEof, "past the file's end");
        assert!(s.pread_into(&file, 0, 0x10_0000, 512).is_err(), "read-only");
        assert!(s.pread_into(&file, 0, (2 << 20) - 256, 512).is_err(), "outside");
        assert!(s.pwrite_from(&file, 0, u64::MAX - 10, 512).is_err(), "overflow");
        assert_eq!(
            s.pwrite_from(&file, u64::MAX, 0, 512).unwrap().unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn the_mapping_outlives_the_guest_memory_value() {
        let m = GuestMemory::new(2 << 20).unwrap();
        let s = m.shared();
        drop(m);
        s.write(0x1000, b"still mapped").unwrap();
        assert_eq!(s.load_u32(0x1000, SeqCst).unwrap(), u32::from_le_bytes(*b"stil"));
    }
}
