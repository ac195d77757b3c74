//! SIGINT/SIGTERM: stop the guest cleanly. The handler only records the signal
//! and asks KVM to leave the guest (`immediate_exit`); the vCPU loop does the rest.

use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

static PENDING: AtomicI32 = AtomicI32::new(0);
static IMMEDIATE_EXIT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn on_signal(signo: libc::c_int) {
    PENDING.store(signo, Ordering::SeqCst);
    let p = IMMEDIATE_EXIT.load(Ordering::SeqCst);
    if !p.is_null() {
        // SAFETY: `p` points at kvm_run.immediate_exit of the live vCPU (see `arm`);
        // a byte store is async-signal-safe and KVM reads it on the next KVM_RUN.
        unsafe { p.write_volatile(1) };
    }
}

/// Installs the handlers, without SA_RESTART so blocking calls return EINTR.
pub fn install() -> std::io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; we set
        // the handler to a function that only touches atomics.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Points the handler at the vCPU's `immediate_exit` byte.
///
/// The pointer must stay valid until [`disarm`] is called (the vCPU loop does both).
pub fn arm(immediate_exit: *mut u8) {
    IMMEDIATE_EXIT.store(immediate_exit, Ordering::SeqCst);
}

/// Forgets the vCPU's `immediate_exit` byte before the vCPU goes away.
pub fn disarm() {
    IMMEDIATE_EXIT.store(std::ptr::null_mut(), Ordering::SeqCst);
}

/// The signal received, if any.
pub fn pending() -> Option<i32> {
    match PENDING.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}
