//! Guest RAM: one anonymous mapping, and the single checked accessor through
//! which every guest address is turned into host bytes.

mod shared;

use abi::hypercall::Args;
pub use shared::SharedMemory;
use std::ops::Range;
use std::ptr::NonNull;
use std::sync::Arc;

/// Errors of guest-memory handling.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("Could not allocate {size} bytes of guest memory")]
    Allocate {
        size: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("Guest address range {gpa:#x}+{len:#x} is outside guest memory ({size:#x} bytes)")]
    OutOfRange { gpa: u64, len: u64, size: u64 },
    #[error("Guest address range {gpa:#x}+{len:#x} is read-only guest memory")]
    ReadOnly { gpa: u64, len: u64 },
    #[error("Could not protect guest memory {start:#x}..{end:#x}")]
    Protect {
        start: u64,
        end: u64,
        #[source]
        source: std::io::Error,
    },
}

/// The anonymous mapping behind guest memory, unmapped when its last holder goes: the
/// vCPU's thread (through [`GuestMemory`]) and the net ring's thread (through
/// [`SharedMemory`]) each hold it, so neither can see it unmapped.
#[derive(Debug)]
struct Mapping {
    base: NonNull<u8>,
    size: u64,
}

// SAFETY: the mapping is plain memory owned by this value until Drop; every access through
// it is bounds-checked by its holders, and the bytes are shared with the guest anyway.
unsafe impl Send for Mapping {}
// SAFETY: as above; concurrent holders only copy bytes or use atomics on them.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// The one bounds check: `[gpa, gpa + len)` must lie inside guest memory.
    fn range(&self, gpa: u64, len: u64) -> Result<Range<usize>, MemoryError> {
        match gpa.checked_add(len) {
            Some(end) if end <= self.size => Ok(gpa as usize..end as usize),
            _ => Err(MemoryError::OutOfRange { gpa, len, size: self.size }),
        }
    }
}

/// Fails if a non-empty `[gpa, gpa + len)` (already bounds-checked) touches one of the ranges
/// made read-only in the host mapping, where a host write would fault.
fn check_not_readonly(readonly: &[Range<u64>], gpa: u64, len: u64) -> Result<(), MemoryError> {
    let end = gpa + len;
    if len > 0 && readonly.iter().any(|ro| gpa < ro.end && ro.start < end) {
        return Err(MemoryError::ReadOnly { gpa, len });
    }
    Ok(())
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `GuestMemory::new`, whose last
        // holder this was.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.size as usize) };
    }
}

/// Guest physical memory starting at guest address 0.
#[derive(Debug)]
pub struct GuestMemory {
    map: Arc<Mapping>,
    /// Ranges made read-only in the host mapping: host writes there would fault.
    readonly: Vec<Range<u64>>,
}

// SAFETY: the mapping is reached through `&self`/`&mut self` on the vCPU's thread, which is
// stopped in KVM_RUN's caller while the host looks at its memory; other threads reach it only
// through `SharedMemory`, which never forms references into it.
unsafe impl Send for GuestMemory {}

impl GuestMemory {
    /// Maps `size` bytes of zeroed, lazily backed memory (`MAP_NORESERVE`: a 4 GiB
    /// guest costs only the pages it touches).
    pub fn new(size: u64) -> Result<GuestMemory, MemoryError> {
        let len = usize::try_from(size).map_err(|_| MemoryError::Allocate {
            size,
            source: std::io::Error::from_raw_os_error(libc::EOVERFLOW),
        })?;
        // SAFETY: a fresh anonymous private mapping; no existing memory is affected and
        // the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(MemoryError::Allocate { size, source: std::io::Error::last_os_error() });
        }
        let base = NonNull::new(ptr.cast::<u8>()).expect("mmap never returns NULL on success");
        Ok(GuestMemory { map: Arc::new(Mapping { base, size }), readonly: Vec::new() })
    }

    /// A view for another thread (the net ring's): it keeps the mapping alive and only
    /// copies bytes in and out, never into the read-only ranges known now.
    pub fn shared(&self) -> SharedMemory {
        SharedMemory::new(Arc::clone(&self.map), self.readonly.clone())
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.map.size
    }

    /// Host address of guest address 0 (for `KVM_SET_USER_MEMORY_REGION`).
    pub fn host_base(&self) -> u64 {
        self.map.base.as_ptr() as u64
    }

    /// The one bounds check: `[gpa, gpa + len)` must lie inside guest memory.
    pub fn check(&self, gpa: u64, len: u64) -> Result<Range<usize>, MemoryError> {
        self.map.range(gpa, len)
    }

    /// Guest bytes `[gpa, gpa + len)`.
    pub fn slice(&self, gpa: u64, len: u64) -> Result<&[u8], MemoryError> {
        let r = self.check(gpa, len)?;
        // SAFETY: `check` proved the range lies inside our live mapping of `size` bytes;
        // the vCPU is stopped while the host looks at its memory.
        Ok(unsafe { std::slice::from_raw_parts(self.map.base.as_ptr().add(r.start), r.len()) })
    }

    /// Mutable guest bytes `[gpa, gpa + len)`; never inside a read-only segment
    /// (a guest pointing an output buffer at its own code is a guest error, not a
    /// host fault).
    pub fn slice_mut(&mut self, gpa: u64, len: u64) -> Result<&mut [u8], MemoryError> {
        let r = self.check(gpa, len)?;
        check_not_readonly(&self.readonly, gpa, len)?;
        // SAFETY: as in `slice`, and `&mut self` makes this the only host view.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.map.base.as_ptr().add(r.start), r.len()) })
    }

    /// Copies `bytes` to guest address `gpa`.
    pub fn write(&mut self, gpa: u64, bytes: &[u8]) -> Result<(), MemoryError> {
        self.slice_mut(gpa, bytes.len() as u64)?.copy_from_slice(bytes);
        Ok(())
    }

    /// Writes one little-endian `u64` (page-table and GDT entries).
    pub fn write_u64(&mut self, gpa: u64, v: u64) -> Result<(), MemoryError> {
        self.write(gpa, &v.to_le_bytes())
    }

    /// Reads a hypercall argument struct at `gpa`.
    pub fn read_args<T: Args>(&self, gpa: u64) -> Result<T, MemoryError> {
        Ok(T::decode(self.slice(gpa, T::SIZE as u64)?))
    }

    /// Reads a hypercall argument struct the host will write results into: it must be
    /// writable too, checked before the hypercall has any effect (no disk write or
    /// frame sent for a struct whose result could not be stored).
    pub fn read_args_for_update<T: Args>(&mut self, gpa: u64) -> Result<T, MemoryError> {
        Ok(T::decode(self.slice_mut(gpa, T::SIZE as u64)?))
    }

    /// Writes a hypercall argument struct back to `gpa`.
    pub fn write_args<T: Args>(&mut self, gpa: u64, args: &T) -> Result<(), MemoryError> {
        args.encode(self.slice_mut(gpa, T::SIZE as u64)?);
        Ok(())
    }

    /// Makes `[start, end)` read-only in the host mapping, so guest writes to its own
    /// code fault. Never executable for the host: KVM does not need it, and image
    /// bytes should not be code in tender's own address space.
    pub fn protect_readonly(&mut self, start: u64, end: u64) -> Result<(), MemoryError> {
        let r = self.check(start, end.saturating_sub(start))?;
        let prot = libc::PROT_READ;
        // SAFETY: the range is page-aligned (checked by the loader) and inside our mapping;
        // changing its protection cannot affect memory we do not own.
        let rc = unsafe { libc::mprotect(self.map.base.as_ptr().add(r.start).cast(), r.len(), prot) };
        if rc != 0 {
            return Err(MemoryError::Protect { start, end, source: std::io::Error::last_os_error() });
        }
        self.readonly.push(start..end);
        Ok(())
    }
}

impl GuestMemory {
    /// A debugger's write (a breakpoint into code): pages the loader made read-only are opened
    /// for it, one page at a time, and closed again, so the guest still cannot write its code.
    pub fn write_through(&mut self, gpa: u64, bytes: &[u8]) -> Result<(), MemoryError> {
        self.check(gpa, bytes.len() as u64)?;
        let page = abi::layout::PAGE_SIZE;
        let mut done = 0;
        while done < bytes.len() {
            let at = gpa + done as u64;
            let page_start = at & !(page - 1);
            let n = ((page_start + page - at) as usize).min(bytes.len() - done);
            let part = &bytes[done..done + n];
            if self.readonly.iter().any(|ro| ro.start <= page_start && page_start < ro.end) {
                self.protect_page(page_start, libc::PROT_READ | libc::PROT_WRITE)?;
                let r = self.check(at, n as u64)?;
                // SAFETY: `r` is inside the mapping (checked) and its page is writable now.
                unsafe {
                    std::ptr::copy_nonoverlapping(part.as_ptr(), self.map.base.as_ptr().add(r.start), n)
                };
                self.protect_page(page_start, libc::PROT_READ)?;
            } else {
                self.write(at, part)?;
            }
            done += n;
        }
        Ok(())
    }

    fn protect_page(&self, page_start: u64, prot: libc::c_int) -> Result<(), MemoryError> {
        let page = abi::layout::PAGE_SIZE;
        let r = self.check(page_start, page)?;
        // SAFETY: one page-aligned page inside our mapping (checked); only its protection changes.
        let rc = unsafe { libc::mprotect(self.map.base.as_ptr().add(r.start).cast(), page as usize, prot) };
        if rc == 0 {
            Ok(())
        } else {
            Err(MemoryError::Protect {
                start: page_start,
                end: page_start + page,
                source: std::io::Error::last_os_error(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::hypercall::Puts;

    #[test]
    fn rejects_ranges_outside_or_overflowing() {
        let m = GuestMemory::new(2 << 20).unwrap();
        assert!(m.check(0, 2 << 20).is_ok());
        assert!(m.check((2 << 20) - 1, 1).is_ok());
        assert!(m.check((2 << 20) - 1, 2).is_err());
        assert!(m.check(u64::MAX, 2).is_err());
        assert!(m.check(2 << 20, 0).is_ok());
        assert!(m.check((2 << 20) + 1, 0).is_err());
    }

    #[test]
    fn round_trips_args() {
        let mut m = GuestMemory::new(2 << 20).unwrap();
        m.write_args(0x1000, &Puts { data: 7, len: 9 }).unwrap();
        assert_eq!(m.read_args::<Puts>(0x1000).unwrap(), Puts { data: 7, len: 9 });
        assert!(m.read_args::<Puts>((2 << 20) - 8).is_err());
    }

    #[test]
    fn read_only_ranges_refuse_host_writes() {
        let mut m = GuestMemory::new(2 << 20).unwrap();
        m.protect_readonly(0x10_0000, 0x10_2000).unwrap();
        assert!(matches!(m.slice_mut(0x10_1ff8, 16), Err(MemoryError::ReadOnly { .. })));
        assert!(matches!(m.write_u64(0x10_0000, 1), Err(MemoryError::ReadOnly { .. })));
        assert!(m.slice_mut(0x10_2000, 8).is_ok());
        assert!(m.slice_mut(0xF_FFF8, 8).is_ok());
        assert_eq!(m.slice(0x10_0000, 8).unwrap(), &[0; 8]);
    }

    #[test]
    fn large_guest_is_lazily_backed() {
        // 4 GiB must not cost 4 GiB: only touched pages are allocated.
        let mut m = GuestMemory::new(4 << 30).unwrap();
        m.write_u64((4 << 30) - 8, 1).unwrap();
        assert_eq!(m.slice(0, 8).unwrap(), &[0; 8]);
    }
}
