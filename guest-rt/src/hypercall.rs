//! Safe wrappers over the hvt hypercalls the runtime uses (ABI.md §5).
//!
//! Argument structs are the `#[repr(C)]` layouts from `abi::hypercall`, built on
//! the stack (always below 4 GiB) and passed by address.

#[cfg(any(doc, target_os = "none"))]
pub use self::guest::*;

#[cfg(any(doc, target_os = "none"))]
mod guest {
    use crate::arch;
    use abi::hypercall::{BlockIo, Halt, NetIo, Nr, Poll, Puts, Ret, Walltime};

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

    /// Writes `data` to block device `handle` at byte `offset` (the host checks
    /// the range; any length inside the device, in one exit).
    pub fn block_write(handle: u64, offset: u64, data: &[u8]) -> Ret {
        let mut a = BlockIo { handle, offset, data: data.as_ptr() as u64, len: data.len() as u64, ret: 0 };
        // SAFETY: BlockIo is BLOCK_WRITE's argument struct and names a live buffer
        // the host only reads.
        unsafe { arch::hypercall(Nr::BlockWrite, &mut a) };
        Ret::from_i32(a.ret)
    }

    /// Reads `data.len()` bytes of block device `handle` at byte `offset` into `data`.
    pub fn block_read(handle: u64, offset: u64, data: &mut [u8]) -> Ret {
        let mut a =
            BlockIo { handle, offset, data: data.as_mut_ptr() as u64, len: data.len() as u64, ret: 0 };
        // SAFETY: BlockIo is BLOCK_READ's argument struct; the host writes at most
        // `len` bytes into the buffer, which we borrow mutably for the call.
        unsafe { arch::hypercall(Nr::BlockRead, &mut a) };
        Ret::from_i32(a.ret)
    }

    /// Sends one Ethernet frame on net device `handle`.
    pub fn net_write(handle: u64, frame: &[u8]) -> Ret {
        let mut a = NetIo { handle, data: frame.as_ptr() as u64, len: frame.len() as u64, ret: 0 };
        // SAFETY: NetIo is NET_WRITE's argument struct and names a live buffer
        // the host only reads.
        unsafe { arch::hypercall(Nr::NetWrite, &mut a) };
        Ret::from_i32(a.ret)
    }

    /// Receives one Ethernet frame from net device `handle` into `buf`;
    /// returns the result and the frame's length.
    pub fn net_read(handle: u64, buf: &mut [u8]) -> (Ret, usize) {
        let mut a = NetIo { handle, data: buf.as_mut_ptr() as u64, len: buf.len() as u64, ret: 0 };
        // SAFETY: NetIo is NET_READ's argument struct; the host writes at most
        // `len` bytes into the buffer, which we borrow mutably for the call.
        unsafe { arch::hypercall(Nr::NetRead, &mut a) };
        let ret = Ret::from_i32(a.ret);
        // Never trust the reported length beyond the buffer.
        let len = if ret == Ret::Ok { (a.len as usize).min(buf.len()) } else { 0 };
        (ret, len)
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
