//! `--dumpcore=DIR`: when the guest aborts (exit status 255), an ELF core of it for gdb (ABI.md
//! §5): `DIR/core.tender.PID`, mode 0600, never overwriting; an `ET_CORE` for the host machine
//! (OSABI standalone) with a PT_NOTE holding one `CORE`/NT_PRSTATUS note (the vCPU's registers,
//! the trap frame's replacing them where the guest passed one) and a PT_LOAD at address 0 with
//! all of guest memory (pages that are all zero stay holes in the file).
//!
//! The file is made before the seccomp filter, as an unnamed `O_TMPFILE` in DIR, and only
//! written and linked under its name if the guest aborts: the filter needs to allow no `open`.

use crate::memory::GuestMemory;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why no core could be prepared or written.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("--dumpcore: {path}: cannot create core files there{hint}")]
    Prepare {
        path: PathBuf,
        hint: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("Core dump abandoned on signal {0}")]
    Interrupted(i32),
    #[error("Could not write the core file")]
    Write(#[source] std::io::Error),
    #[error("{0} exists: the core file was not written")]
    Exists(PathBuf),
}

/// An unnamed core file in the dump directory, ready to be written.
#[derive(Debug)]
pub struct CoreFile {
    dir: File,
    file: File,
    dir_path: PathBuf,
    /// `core.tender.PID`, named before the seccomp filter (which forbids getpid).
    name: String,
}

/// `ELFOSABI_STANDALONE`.
const OSABI_STANDALONE: u8 = 255;
const ET_CORE: u16 = 4;
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const NT_PRSTATUS: u32 = 1;
/// `struct elf_prstatus` up to `pr_reg` (siginfo, cursig, sigpend, sighold, pids, four
/// timevals), identical on x86_64 and AArch64.
const PR_REG_OFFSET: usize = 112;
const PAGE: u64 = 4096;

impl CoreFile {
    /// Opens DIR and an unnamed file in it (mode 0600).
    pub fn prepare(dir_path: &Path) -> Result<CoreFile, CoreError> {
        let err = |source: std::io::Error| {
            let no_tmpfile = matches!(source.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR));
            let hint = if no_tmpfile { " (its file system has no O_TMPFILE)" } else { "" };
            CoreError::Prepare { path: dir_path.to_path_buf(), hint, source }
        };
        let dir = File::options()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(dir_path)
            .map_err(err)?;
        let file = File::options()
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
            .open(dir_path)
            .map_err(err)?;
        let name = format!("core.tender.{}", std::process::id());
        Ok(CoreFile { dir, file, dir_path: dir_path.to_path_buf(), name })
    }

    /// The descriptors the seccomp filter must let through: (directory, file).
    pub fn fds(&self) -> (RawFd, RawFd) {
        (self.dir.as_raw_fd(), self.file.as_raw_fd())
    }

    /// Writes the core (`pr_reg`: the host's `elf_gregset_t` for the vCPU) and links it as
    /// `core.tender.PID`; returns its path.
    pub fn write(&self, mem: &GuestMemory, machine: u16, pr_reg: &[u64]) -> Result<PathBuf, CoreError> {
        let headers = headers(mem.size(), machine, pr_reg);
        let base = headers.len() as u64;
        self.file.set_len(base + mem.size()).map_err(CoreError::Write)?;
        self.file.write_all_at(&headers, 0).map_err(CoreError::Write)?;
        let mut gpa = 0;
        while gpa < mem.size() {
            // A guest can dirty all its memory before it aborts: SIGINT/SIGTERM still win
            // (the file is unnamed until linked, so nothing is left behind).
            if let Some(sig) = crate::signal::pending() {
                return Err(CoreError::Interrupted(sig));
            }
            let page = mem
                .slice(gpa, PAGE.min(mem.size() - gpa))
                .map_err(|e| CoreError::Write(std::io::Error::other(e)))?;
            if page.iter().any(|&b| b != 0) {
                self.file.write_all_at(page, base + gpa).map_err(CoreError::Write)?;
            }
            gpa += PAGE;
        }
        let name = &self.name;
        let path = self.dir_path.join(name);
        let from = std::ffi::CString::new(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
            .map_err(|e| CoreError::Write(std::io::Error::other(e)))?;
        let to = std::ffi::CString::new(Path::new(name).as_os_str().as_bytes())
            .map_err(|e| CoreError::Write(std::io::Error::other(e)))?;
        // SAFETY: both strings are NUL-terminated and outlive the call; linkat only names the
        // open file in the directory we hold, failing (EEXIST) rather than replacing anything.
        let rc = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                self.dir.as_raw_fd(),
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                CoreError::Exists(path)
            } else {
                CoreError::Write(e)
            });
        }
        Ok(path)
    }
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    b[at..at + v.len()].copy_from_slice(v);
}

/// The ELF header, the two program headers and the NT_PRSTATUS note, padded to a page: guest
/// memory follows at that offset.
pub fn headers(mem_size: u64, machine: u16, pr_reg: &[u64]) -> Vec<u8> {
    const EHDR: usize = 64;
    const PHDR: usize = 56;
    let prstatus_len = (PR_REG_OFFSET + pr_reg.len() * 8 + 8).next_multiple_of(8);
    let note_len = 12 + 8 + prstatus_len; // header, "CORE\0" padded to 8, descriptor
    let note_at = EHDR + 2 * PHDR;
    let mem_at = ((note_at + note_len) as u64).next_multiple_of(PAGE);
    let mut b = vec![0u8; mem_at as usize];
    // ELF header.
    put(&mut b, 0, b"\x7fELF");
    b[4] = 2; // ELFCLASS64
    b[5] = 1; // little-endian
    b[6] = 1; // EV_CURRENT
    b[7] = OSABI_STANDALONE;
    put(&mut b, 16, &ET_CORE.to_le_bytes());
    put(&mut b, 18, &machine.to_le_bytes());
    put(&mut b, 20, &1u32.to_le_bytes());
    put(&mut b, 32, &(EHDR as u64).to_le_bytes()); // e_phoff
    put(&mut b, 52, &(EHDR as u16).to_le_bytes());
    put(&mut b, 54, &(PHDR as u16).to_le_bytes());
    put(&mut b, 56, &2u16.to_le_bytes());
    // PT_NOTE, then PT_LOAD of all guest memory at address 0 (read-write-execute).
    let note = EHDR;
    put(&mut b, note, &PT_NOTE.to_le_bytes());
    put(&mut b, note + 8, &(note_at as u64).to_le_bytes());
    put(&mut b, note + 32, &(note_len as u64).to_le_bytes());
    put(&mut b, note + 48, &4u64.to_le_bytes());
    let load = EHDR + PHDR;
    put(&mut b, load, &PT_LOAD.to_le_bytes());
    put(&mut b, load + 4, &7u32.to_le_bytes());
    put(&mut b, load + 8, &mem_at.to_le_bytes());
    put(&mut b, load + 32, &mem_size.to_le_bytes());
    put(&mut b, load + 40, &mem_size.to_le_bytes());
    put(&mut b, load + 48, &PAGE.to_le_bytes());
    // The note: namesz 5, descsz, NT_PRSTATUS, "CORE", then prstatus with pr_cursig = SIGSEGV
    // (gdb shows it as the reason) and pr_reg.
    put(&mut b, note_at, &5u32.to_le_bytes());
    put(&mut b, note_at + 4, &(prstatus_len as u32).to_le_bytes());
    put(&mut b, note_at + 8, &NT_PRSTATUS.to_le_bytes());
    put(&mut b, note_at + 12, b"CORE\0");
    let desc = note_at + 20;
    put(&mut b, desc, &(libc::SIGSEGV as u32).to_le_bytes()); // pr_info.si_signo
    put(&mut b, desc + 12, &(libc::SIGSEGV as u16).to_le_bytes()); // pr_cursig
    put(&mut b, desc + 32, &1u32.to_le_bytes()); // pr_pid: the one vCPU
    for (i, r) in pr_reg.iter().enumerate() {
        put(&mut b, desc + PR_REG_OFFSET + 8 * i, &r.to_le_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn headers_describe_a_core_with_registers_and_all_memory() {
        let regs: Vec<u64> = (0..27).map(|i| 0x1000 + i).collect();
        let b = headers(2 << 20, 62, &regs);
        assert_eq!(&b[..4], b"\x7fELF");
        assert_eq!(
            (b[7], u16::from_le_bytes([b[16], b[17]]), u16::from_le_bytes([b[18], b[19]])),
            (255, 4, 62)
        );
        assert_eq!(b.len() as u64 % PAGE, 0);
        // PT_LOAD: offset = header size, vaddr 0, filesz = memsz = guest memory.
        assert_eq!(u64_at(&b, 120 + 8), b.len() as u64);
        assert_eq!((u64_at(&b, 120 + 16), u64_at(&b, 120 + 32), u64_at(&b, 120 + 40)), (0, 2 << 20, 2 << 20));
        // The note: CORE / NT_PRSTATUS, pr_reg at 112 into the descriptor.
        let note = u64_at(&b, 64 + 8) as usize;
        assert_eq!(&b[note + 12..note + 17], b"CORE\0");
        assert_eq!(u32::from_le_bytes(b[note + 8..note + 12].try_into().unwrap()), NT_PRSTATUS);
        assert_eq!(
            u32::from_le_bytes(b[note + 4..note + 8].try_into().unwrap()),
            336,
            "x86_64's elf_prstatus"
        );
        assert_eq!(u64_at(&b, note + 20 + 112 + 16 * 8), 0x1010, "rip is pr_reg[16]");
        assert_eq!(headers(2 << 20, 183, &[0; 34])[note + 4..note + 8], 392u32.to_le_bytes(), "AArch64's");
    }
}
