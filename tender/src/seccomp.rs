//! Confinement: after setup and before the first `KVM_RUN`, tender allows itself only the
//! system calls that serving a guest needs (rust-vmm's `seccompiler` builds the BPF), with
//! argument checks wherever the file descriptor or request is known. Anything else is trapped:
//! tender says which call it was, in one line, and dies of SIGSYS.
//!
//! The list, and why each entry is there:
//!
//! | call | allowed for |
//! |---|---|
//! | `ioctl` | the vCPU fd only, `KVM_RUN` and the one register read diagnostics use; the VM fd's `KVM_SET_USER_MEMORY_REGION` only while a large guest's memory is registered as it is touched (`vm`) |
//! | `read` | TAP fds (NET_READ) and the signal wake-up pipe |
//! | `write` | stdout (PUTS), stderr (diagnostics), TAP fds (NET_WRITE), the wake-up pipe (signal handler) |
//! | `pread64`, `pwrite64`, `fdatasync` | block device fds (BLOCK_READ/WRITE, flush at exit); `pwrite64` also the core file |
//! | `ftruncate`, `linkat`, `ioctl(KVM_GET_SREGS)` | `--dumpcore` only: the unnamed core file, linked into its directory |
//! | `recvfrom`, `sendto`, `setsockopt`, `ioctl(FIONBIO)` on the debugger's socket; vCPU `KVM_SET_GUEST_DEBUG`, register writes; `mprotect` without `PROT_EXEC` | `--gdb` only |
//! | `ppoll` | POLL and blocked console writes (pointers only: nothing to check) |
//! | `clock_gettime` | WALLTIME, should the vDSO be unavailable |
//! | `mmap` without `PROT_EXEC`, `munmap`, `mremap`, `brk`, `madvise` | the allocator; teardown of guest memory |
//! | `futex` | std's locks (stdout), the net ring's thread (its join, its fault) |
//! | `fcntl(…, F_GETFD)` | debug builds: std checks an fd is open before it closes it |
//! | `close`, `sigaltstack`, `rt_sigreturn`, `exit`, `exit_group` | teardown, signal handlers, exit |
//! | `tgkill(…, SIGRTMIN)`, `mprotect` without `PROT_EXEC`, `pread64` of the vCPU thread's `/proc` stat, `getcpu`, `sched_setaffinity(0, …)` | the net ring's thread: interrupting the vCPU (a ring it cannot serve); its malloc arena growing; keeping off the vCPU's CPU |
//! | `gettid`, `getpid`, `rt_sigprocmask`, `tgkill(…, SIGABRT)`, `rt_sigaction(SIGSEGV\|SIGBUS, …)` | a panic prints its message and aborts; a host fault re-raises as itself |

use crate::arch;
use crate::net::ring::RingFds;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};
use std::collections::BTreeMap;
use std::os::fd::RawFd;

/// `--seccomp=`: on (the default), log-only, or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Trap every call outside the list (report it, die of SIGSYS).
    #[default]
    On,
    /// Allow everything, but have the kernel log calls outside the list (audit log).
    Log,
    /// No filter (debugging only: a compromised tender is then unconfined).
    Off,
}

/// Why the filter could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("Could not build the seccomp filter")]
    Build(#[source] seccompiler::BackendError),
    #[error("Could not build the seccomp filter")]
    Compile(#[source] seccompiler::Error),
    #[error("Could not install the seccomp filter")]
    Install(#[source] seccompiler::Error),
    #[error("Could not install the SIGSYS handler")]
    Handler(#[source] std::io::Error),
}

/// The descriptors the guest's work goes through.
#[derive(Debug, Clone, Default)]
pub struct Fds {
    pub vcpu: RawFd,
    pub blocks: Vec<RawFd>,
    pub taps: Vec<RawFd>,
    /// The signal module's wake-up pipe (read end, write end).
    pub wake: Option<(RawFd, RawFd)>,
    /// `--dumpcore`'s directory and unnamed core file.
    pub core: Option<(RawFd, RawFd)>,
    /// `--gdb`'s connection to the debugger.
    pub gdb: Option<RawFd>,
    /// The net ring's doorbell and stop eventfds, when a ring is served.
    pub ring: Option<RingFds>,
    /// The VM, while some guest memory is registered only when first touched.
    pub lazy_memory_vm: Option<RawFd>,
}

fn eq(arg: u8, value: u64) -> Result<SeccompCondition, seccompiler::BackendError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, SeccompCmpOp::Eq, value)
}

/// An `int` argument: only its low 32 bits are defined.
fn eq32(arg: u8, value: u64) -> Result<SeccompCondition, seccompiler::BackendError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value)
}

/// The `prot` argument (third) of mmap/mprotect has no `PROT_EXEC`.
fn never_exec() -> Result<SeccompCondition, seccompiler::BackendError> {
    SeccompCondition::new(2, SeccompCmpArgLen::Dword, SeccompCmpOp::MaskedEq(libc::PROT_EXEC as u64), 0)
}

/// One rule per fd: the call is allowed when its first argument is that fd.
fn on_fds(fds: &[RawFd]) -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
    fds.iter().map(|&fd| SeccompRule::new(vec![eq(0, fd as u64)?])).collect()
}

/// The allow-list for these descriptors (see the table above).
pub fn rules(fds: &Fds) -> Result<BTreeMap<i64, Vec<SeccompRule>>, seccompiler::BackendError> {
    let mut r: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let core_ioctls: &[u64] = if fds.core.is_some() { &arch::CORE_IOCTLS } else { &[] };
    let gdb_ioctls: &[u64] = if fds.gdb.is_some() { &arch::GDB_IOCTLS } else { &[] };
    let mut ioctls = arch::RUN_IOCTLS
        .iter()
        .chain(core_ioctls)
        .chain(gdb_ioctls)
        .map(|&req| SeccompRule::new(vec![eq(0, fds.vcpu as u64)?, eq(1, req)?]))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(conn) = fds.gdb {
        // The debugger's socket: std switches it between blocking and not (FIONBIO), reads,
        // peeks and writes it; the stub sets TCP_NODELAY. Breakpoints go into read-only code
        // pages, opened and closed one page at a time (never executable).
        // FIONBIO's type differs between targets and C libraries: the cast is not always a no-op.
        #[allow(clippy::unnecessary_cast)]
        let fionbio = libc::FIONBIO as u64;
        ioctls.push(SeccompRule::new(vec![eq(0, conn as u64)?, eq(1, fionbio)?])?);
        r.insert(libc::SYS_recvfrom, on_fds(&[conn])?);
        r.insert(libc::SYS_sendto, on_fds(&[conn])?);
        r.insert(libc::SYS_setsockopt, on_fds(&[conn])?);
    }
    if fds.gdb.is_some() || fds.ring.is_some() {
        // The debugger's breakpoints open read-only code pages one at a time; the ring thread's
        // malloc arena grows with mprotect. Never executable.
        r.insert(libc::SYS_mprotect, vec![SeccompRule::new(vec![never_exec()?])?]);
    }
    if let Some(vm) = fds.lazy_memory_vm {
        let set_region =
            arch::ioctl_nr(1, 0x46, std::mem::size_of::<kvm_bindings::kvm_userspace_memory_region>());
        ioctls.push(SeccompRule::new(vec![eq(0, vm as u64)?, eq(1, set_region)?])?);
    }
    r.insert(libc::SYS_ioctl, ioctls);
    if let Some((dir, file)) = fds.core {
        // The core: sized, written and linked under its name in the directory we hold.
        r.insert(libc::SYS_ftruncate, on_fds(&[file])?);
        r.insert(
            libc::SYS_linkat,
            vec![SeccompRule::new(vec![eq32(2, dir as u64)?, eq32(4, libc::AT_SYMLINK_FOLLOW as u64)?])?],
        );
    }
    let (wake_read, wake_write) = fds.wake.map_or((vec![], vec![]), |(r, w)| (vec![r], vec![w]));
    let (ring_read, ring_write) =
        fds.ring.map_or((vec![], vec![]), |r| (vec![r.doorbell], vec![r.doorbell, r.stop]));
    let readable: Vec<RawFd> = fds.taps.iter().copied().chain(wake_read).chain(ring_read).collect();
    // (An empty rule list would allow the call unconditionally: only insert non-empty ones.)
    if !readable.is_empty() {
        r.insert(libc::SYS_read, on_fds(&readable)?);
    }
    let writable: Vec<RawFd> = [libc::STDOUT_FILENO, libc::STDERR_FILENO]
        .into_iter()
        .chain(fds.taps.iter().copied())
        .chain(wake_write)
        .chain(ring_write)
        .collect();
    r.insert(libc::SYS_write, on_fds(&writable)?);
    let core_file: Vec<RawFd> = fds.core.map(|(_, f)| f).into_iter().collect();
    let written: Vec<RawFd> = fds.blocks.iter().copied().chain(core_file).collect();
    let vcpu_stat: Vec<RawFd> = fds.ring.and_then(|r| r.vcpu_stat).into_iter().collect();
    let preadable: Vec<RawFd> = fds.blocks.iter().copied().chain(vcpu_stat).collect();
    if !preadable.is_empty() {
        r.insert(libc::SYS_pread64, on_fds(&preadable)?);
    }
    if fds.ring.is_some() {
        // sched_getcpu, where the vDSO does not answer it (AArch64); the ring's thread moving
        // itself (pid 0: the calling thread only) off the vCPU's CPU.
        r.insert(libc::SYS_getcpu, vec![]);
        r.insert(libc::SYS_sched_setaffinity, vec![SeccompRule::new(vec![eq(0, 0)?])?]);
    }
    if !fds.blocks.is_empty() {
        r.insert(libc::SYS_fdatasync, on_fds(&fds.blocks)?);
    }
    if !written.is_empty() {
        r.insert(libc::SYS_pwrite64, on_fds(&written)?);
    }
    r.insert(libc::SYS_mmap, vec![SeccompRule::new(vec![never_exec()?])?]);
    // A panic (panic = "abort") must still print its message and abort: std names the thread
    // (gettid), abort() blocks signals and raises SIGABRT at itself. A host SIGSEGV/SIGBUS: std's
    // handler resets its disposition before re-raising. Only those signals, only those resets.
    // The net ring's thread gets the vCPU out of the guest with the interrupt signal.
    let mut tgkill = vec![SeccompRule::new(vec![eq32(2, libc::SIGABRT as u64)?])?];
    if fds.ring.is_some() {
        tgkill.push(SeccompRule::new(vec![eq32(2, crate::signal::interrupt_signal() as u64)?])?);
    }
    r.insert(libc::SYS_tgkill, tgkill);
    r.insert(
        libc::SYS_rt_sigaction,
        vec![
            SeccompRule::new(vec![eq32(0, libc::SIGSEGV as u64)?])?,
            SeccompRule::new(vec![eq32(0, libc::SIGBUS as u64)?])?,
        ],
    );
    // Debug builds of std check that an fd is open (fcntl F_GETFD) before closing it.
    r.insert(libc::SYS_fcntl, vec![SeccompRule::new(vec![eq32(1, libc::F_GETFD as u64)?])?]);
    for call in [
        libc::SYS_gettid,
        libc::SYS_getpid,
        libc::SYS_rt_sigprocmask,
        libc::SYS_ppoll,
        libc::SYS_clock_gettime,
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_brk,
        libc::SYS_madvise,
        libc::SYS_futex,
        libc::SYS_close,
        libc::SYS_sigaltstack,
        libc::SYS_rt_sigreturn,
        libc::SYS_exit,
        libc::SYS_exit_group,
    ] {
        r.insert(call, vec![]);
    }
    Ok(r)
}

/// The compiled filter for `mode` (`None` for [`Mode::Off`]).
pub fn program(fds: &Fds, mode: Mode) -> Result<Option<BpfProgram>, SeccompError> {
    let mismatch = match mode {
        Mode::Off => return Ok(None),
        Mode::On => SeccompAction::Trap,
        Mode::Log => SeccompAction::Log,
    };
    let filter = SeccompFilter::new(
        rules(fds).map_err(SeccompError::Build)?,
        mismatch,
        SeccompAction::Allow,
        arch::SECCOMP_ARCH,
    )
    .map_err(SeccompError::Build)?;
    let prog: BpfProgram = filter.try_into().map_err(SeccompError::Build)?;
    Ok(Some(prog))
}

/// Installs the filter (and, for [`Mode::On`], the SIGSYS reporter) on every thread of
/// tender (the vCPU's and the net ring's).
pub fn confine(fds: &Fds, mode: Mode) -> Result<(), SeccompError> {
    let Some(prog) = program(fds, mode)? else { return Ok(()) };
    if mode == Mode::On {
        install_sigsys_handler().map_err(SeccompError::Handler)?;
    }
    seccompiler::apply_filter_all_threads(&prog).map_err(SeccompError::Install)
}

/// For the tests only (`TENDER_TEST_SECCOMP_VIOLATION=1`): a call outside the list, made
/// right after the filter is installed, to prove it kills tender.
pub fn test_violation_requested() -> bool {
    std::env::var_os("TENDER_TEST_SECCOMP_VIOLATION").is_some_and(|v| v == "1")
}

/// Makes a call the filter forbids (see [`test_violation_requested`]).
pub fn violate() {
    // SAFETY: getppid has no arguments or side effects; under the filter it never runs.
    unsafe { libc::getppid() };
}

/// The SIGSYS handler: writes `tender: seccomp: blocked system call N` (async-signal-safe: a
/// stack buffer and write(2)), then makes a call the filter never allows (getppid). SIGSYS is
/// blocked inside the handler, so the kernel resets it to its default and tender dies of
/// SIGSYS, as with a kill action. (Repeating the blocked call itself would not do: with other
/// arguments it may be one the filter allows.)
extern "C" fn on_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: for SIGSYS from seccomp the kernel fills `_sigsys` of siginfo: after si_signo,
    // si_errno, si_code and padding (16 bytes) come `_call_addr` (a pointer) and `_syscall`
    // (an int), at offset 16 + size_of::<pointer>().
    let nr = unsafe {
        info.cast::<u8>().add(16 + std::mem::size_of::<usize>()).cast::<libc::c_int>().read_unaligned()
    };
    let mut buf = [0u8; 64];
    let prefix = b"tender: seccomp: blocked system call ";
    buf[..prefix.len()].copy_from_slice(prefix);
    let mut len = prefix.len();
    let mut digits = [0u8; 12];
    let mut n = nr.unsigned_abs();
    let mut d = 0;
    loop {
        digits[d] = b'0' + (n % 10) as u8;
        d += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in (0..d).rev() {
        buf[len] = digits[i];
        len += 1;
    }
    buf[len] = b'\n';
    len += 1;
    // SAFETY: write(2) and syscall(2) are async-signal-safe; getppid is never allowed, so the
    // filter traps it again, now with SIGSYS blocked, and the kernel kills the process.
    unsafe {
        libc::write(libc::STDERR_FILENO, buf.as_ptr().cast(), len);
        libc::syscall(libc::SYS_getppid);
    }
}

fn install_sigsys_handler() -> std::io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler only
    // uses async-signal-safe calls. Without SA_NODEFER, SIGSYS is blocked while it runs.
    let rc = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction =
            on_sigsys as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_compiles_for_every_mode() {
        let fds = Fds {
            vcpu: 9,
            blocks: vec![10, 11],
            taps: vec![12],
            wake: Some((3, 4)),
            core: None,
            gdb: None,
            ring: None,
            lazy_memory_vm: None,
        };
        assert!(program(&fds, Mode::On).unwrap().is_some_and(|p| !p.is_empty()));
        assert!(program(&fds, Mode::Log).unwrap().is_some());
        assert!(program(&fds, Mode::Off).unwrap().is_none());
        let r = rules(&fds).unwrap();
        assert_eq!(r[&libc::SYS_write].len(), 4, "stdout, stderr, the TAP, the wake pipe");
        assert_eq!(r[&libc::SYS_read].len(), 2);
        assert_eq!(r[&libc::SYS_pread64].len(), 2);
        assert_eq!(r[&libc::SYS_ioctl].len(), arch::RUN_IOCTLS.len());
        assert!(!r.contains_key(&libc::SYS_openat) && !r.contains_key(&libc::SYS_execve));
        assert!(
            !r.contains_key(&libc::SYS_socket) && !r.contains_key(&libc::SYS_getppid),
            "getppid ends a trap"
        );
        assert!(!r.contains_key(&libc::SYS_linkat) && !r.contains_key(&libc::SYS_ftruncate));
        let lazy = rules(&Fds { lazy_memory_vm: Some(15), ..fds.clone() }).unwrap();
        assert_eq!(
            lazy[&libc::SYS_ioctl].len(),
            arch::RUN_IOCTLS.len() + 1,
            "the VM's SET_USER_MEMORY_REGION"
        );
        let with_core = rules(&Fds { core: Some((13, 14)), ..fds.clone() }).unwrap();
        assert_eq!(with_core[&libc::SYS_pwrite64].len(), 3, "two disks and the core");
        assert_eq!(with_core[&libc::SYS_ioctl].len(), arch::RUN_IOCTLS.len() + arch::CORE_IOCTLS.len());
        let ring = Some(RingFds { doorbell: 15, stop: 16, vcpu_stat: Some(17) });
        let with_ring = rules(&Fds { ring, ..fds }).unwrap();
        assert_eq!(with_ring[&libc::SYS_read].len(), 3, "the TAP, the wake pipe, the doorbell");
        assert_eq!(with_ring[&libc::SYS_write].len(), 6, "and the doorbell and stop eventfds");
        assert_eq!(with_ring[&libc::SYS_tgkill].len(), 2, "SIGABRT and the vCPU interrupt");
        assert_eq!(r[&libc::SYS_tgkill].len(), 1, "no ring, no interrupt");
    }

    #[test]
    fn no_devices_no_device_calls() {
        let r = rules(&Fds { vcpu: 5, ..Fds::default() }).unwrap();
        assert!(!r.contains_key(&libc::SYS_pread64) && !r.contains_key(&libc::SYS_fdatasync));
        assert!(!r.contains_key(&libc::SYS_read), "no read at all without a TAP or the wake pipe");
    }
}
