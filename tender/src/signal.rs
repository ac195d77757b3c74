//! SIGINT/SIGTERM: stop the guest cleanly. The handler only records the signal,
//! asks KVM to leave the guest (`immediate_exit`) and writes a byte to a wake-up
//! pipe that every host-side wait also polls, so no signal is lost in the gap
//! before a blocking call; the vCPU loop does the rest. Another host thread (the net
//! ring's) gets the vCPU out of the guest the same way with [`interrupt_vcpu`].

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU8, Ordering};

static PENDING: AtomicI32 = AtomicI32::new(0);
static IMMEDIATE_EXIT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static WAKE_READ: AtomicI32 = AtomicI32::new(-1);
static WAKE_WRITE: AtomicI32 = AtomicI32::new(-1);
/// The thread id of the thread in `with_vcpu_armed` (0: none).
static VCPU_TID: AtomicI32 = AtomicI32::new(0);

/// Makes KVM leave the guest at once if a vCPU is armed (async-signal-safe).
fn request_immediate_exit() {
    let p = IMMEDIATE_EXIT.load(Ordering::SeqCst);
    if !p.is_null() {
        // SAFETY: `p` points at kvm_run.immediate_exit of the live vCPU (see
        // `with_vcpu_armed`, which clears it before the borrow of the vCPU ends),
        // a byte aligned for AtomicU8; an atomic store is async-signal-safe and KVM
        // reads the byte on the next KVM_RUN.
        unsafe { AtomicU8::from_ptr(p) }.store(1, Ordering::SeqCst);
    }
}

fn write_wake_pipe() {
    let fd = WAKE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking, so a full
        // pipe (already signalled) just drops the byte.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
}

extern "C" fn on_signal(signo: libc::c_int) {
    PENDING.store(signo, Ordering::SeqCst);
    request_immediate_exit();
    write_wake_pipe();
}

/// The handler of [`interrupt_signal`]: only gets the vCPU out of the guest.
extern "C" fn on_interrupt(_signo: libc::c_int) {
    request_immediate_exit();
}

/// The signal another host thread sends the vCPU's thread to get it out of KVM_RUN (the
/// first real-time signal: never sent by anyone else).
pub fn interrupt_signal() -> libc::c_int {
    libc::SIGRTMIN()
}

/// From another host thread (the net ring's): gets the vCPU's thread out of the guest and
/// out of any host-side wait, so its loop looks at what that thread recorded.
pub fn interrupt_vcpu() {
    // Orders what the caller recorded before the load of VCPU_TID (the vCPU's thread
    // fences between storing it and looking at the record).
    std::sync::atomic::fence(Ordering::SeqCst);
    write_wake_pipe();
    let tid = VCPU_TID.load(Ordering::SeqCst);
    if tid > 0 {
        // SAFETY: tgkill sends our own interrupt signal to our own vCPU thread (its handler
        // only sets the immediate_exit byte); no memory is passed.
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, interrupt_signal()) };
    }
}

/// The read end of the wake-up pipe: readable once a signal arrived. Host-side
/// waits (POLL, console writes) include it so they end at once.
pub fn wake_fd() -> Option<RawFd> {
    Some(WAKE_READ.load(Ordering::SeqCst)).filter(|fd| *fd >= 0)
}

/// Both ends of the wake-up pipe (read, write), once installed.
pub fn wake_fds() -> Option<(RawFd, RawFd)> {
    Some((WAKE_READ.load(Ordering::SeqCst), WAKE_WRITE.load(Ordering::SeqCst)))
        .filter(|(r, w)| *r >= 0 && *w >= 0)
}

fn make_wake_pipe() -> std::io::Result<()> {
    if WAKE_READ.load(Ordering::SeqCst) >= 0 {
        return Ok(());
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two-element array; the fds stay open for the process's life.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    WAKE_READ.store(fds[0], Ordering::SeqCst);
    WAKE_WRITE.store(fds[1], Ordering::SeqCst);
    Ok(())
}

/// Installs the handlers, without SA_RESTART so blocking calls return EINTR.
pub fn install() -> std::io::Result<()> {
    make_wake_pipe()?;
    let handlers: [(libc::c_int, extern "C" fn(libc::c_int)); 3] =
        [(libc::SIGINT, on_signal), (libc::SIGTERM, on_signal), (interrupt_signal(), on_interrupt)];
    for (sig, handler) in handlers {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; we set
        // the handler to a function that only touches atomics and write(2).
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs `f` with the handler pointed at `vcpu`'s `immediate_exit` byte, so a signal makes
/// KVM leave the guest at once; the handler forgets the byte when `f` returns (or unwinds).
/// The byte lives in the vCPU's `kvm_run` mapping, which `vcpu` owns and `f` can only
/// borrow: it stays valid for exactly as long as the handler may write it.
pub fn with_vcpu_armed<R>(vcpu: &mut kvm_ioctls::VcpuFd, f: impl FnOnce(&mut kvm_ioctls::VcpuFd) -> R) -> R {
    struct Disarm;
    impl Drop for Disarm {
        fn drop(&mut self) {
            VCPU_TID.store(0, Ordering::SeqCst);
            IMMEDIATE_EXIT.store(std::ptr::null_mut(), Ordering::SeqCst);
        }
    }
    let byte: *mut u8 = &mut vcpu.get_kvm_run().immediate_exit;
    IMMEDIATE_EXIT.store(byte, Ordering::SeqCst);
    // SAFETY: gettid has no arguments and cannot fail.
    VCPU_TID.store(unsafe { libc::gettid() }, Ordering::SeqCst);
    std::sync::atomic::fence(Ordering::SeqCst);
    let _disarm = Disarm;
    f(vcpu)
}

/// The signal received, if any.
pub fn pending() -> Option<i32> {
    match PENDING.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Blocks until `fd` is ready to read (or has an error or hangup for the caller's own call
/// to report), or until SIGINT/SIGTERM arrives: `Err(signal)`. Plain blocking calls
/// (accept, read) restart after our handler, so they would not see the signal.
pub fn wait_readable(fd: RawFd) -> Result<(), i32> {
    loop {
        if let Some(sig) = pending() {
            return Err(sig);
        }
        let mut fds = vec![libc::pollfd { fd, events: libc::POLLIN, revents: 0 }];
        fds.extend(wake_fd().map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }));
        // SAFETY: `fds` is a valid array of pollfd for its length; no timeout, no sigmask.
        let n = unsafe {
            libc::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, std::ptr::null(), std::ptr::null())
        };
        if n > 0 && fds[0].revents != 0 {
            return Ok(());
        }
    }
}
