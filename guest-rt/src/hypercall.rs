//! Safe wrappers over the hvt hypercalls the runtime uses (ABI.md §5).
//!
//! Argument structs are the `#[repr(C)]` layouts from `abi::hypercall`, built on
//! the stack (always below 4 GiB) and passed by address.

#[cfg(target_os = "none")]
pub use self::guest::*;

#[cfg(target_os = "none")]
mod guest {
    use crate::arch;
    use abi::hypercall::{Halt, Nr, Poll, Puts, Ret, Walltime};

    /// Writes raw bytes to the tender's stdout.
    pub fn puts(bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut a = Puts { data: bytes.as_ptr() as u64, len: bytes.len() as u64 };
        // SAFETY: Puts is PUTS's argument struct and names a live buffer.
        unsafe { arch::hypercall(Nr::Puts, &mut a) };
    }

    /// Wall-clock time: nanoseconds since the Unix epoch.
    pub fn walltime_ns() -> u64 {
        let mut a = Walltime::default();
        // SAFETY: Walltime is WALLTIME's argument struct.
        unsafe { arch::hypercall(Nr::Walltime, &mut a) };
        a.nsecs
    }

    /// Waits up to `timeout_ns` (relative) or until an attached net device is
    /// readable; returns `(ready_set, ret)`.
    pub fn poll(timeout_ns: u64) -> (u64, Ret) {
        let mut a = Poll { timeout_nsecs: timeout_ns, ready_set: 0, ret: 0 };
        // SAFETY: Poll is POLL's argument struct.
        unsafe { arch::hypercall(Nr::Poll, &mut a) };
        (a.ready_set, Ret::from_i32(a.ret))
    }

    /// Ends the guest with `status` (`& 0xff` on the host); `cookie` is 0 or the
    /// address of a 512-byte crash-state area.
    pub fn halt(cookie: u64, status: i32) -> ! {
        let mut a = Halt { cookie, exit_status: status };
        // SAFETY: Halt is HALT's argument struct; a non-zero cookie always points
        // at the runtime's 512-byte trap frame in guest RAM.
        unsafe { arch::hypercall(Nr::Halt, &mut a) };
        arch::halt_forever()
    }
}
