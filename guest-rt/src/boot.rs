//! From `_start` to `main`: boot info, CPU tables, clock origin, heap, page
//! tables, the drop to CPL 3, and exit.

use crate::racy::RacyCell;
use abi::bootinfo::BootInfo;

/// Exit status of a guest that aborts (panic or CPU trap).
pub const EXIT_ABORT: i32 = 255;

/// What the runtime keeps from the boot: written once before `main`, read-only after.
pub(crate) struct Boot {
    pub(crate) info: BootInfo,
    pub(crate) cmdline: &'static str,
    pub(crate) tsc0: u64,
}

static BOOT: RacyCell<Boot> = RacyCell::new(Boot {
    info: BootInfo {
        mem_size: 0,
        kernel_end: 0,
        cpu_cycle_freq: 0,
        cmdline: 0,
        mft: 0,
        host_features: 0,
        guest_features: 0,
        net_ring: 0,
    },
    cmdline: "",
    tsc0: 0,
});

/// The runtime's boot state (all zero before boot, e.g. in host unit tests).
pub(crate) fn boot() -> &'static Boot {
    // SAFETY: BOOT is written only by `guest_rt_boot`, before any reader runs.
    unsafe { &*BOOT.get() }
}

/// A copy of the `hvt_boot_info` the tender passed at entry.
pub fn boot_info() -> BootInfo {
    boot().info
}

/// The command line up to its NUL (at most `len` bytes), or its valid UTF-8 prefix.
pub(crate) fn cmdline_str(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len());
    match core::str::from_utf8(&bytes[..end]) {
        Ok(s) => s,
        Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    }
}

/// Flushes the console and halts with `code` (0 success, 1 failure, 255 abort).
#[cfg(any(doc, target_os = "none"))]
pub fn exit(code: i32) -> ! {
    crate::console::flush();
    crate::hypercall::halt(0, code)
}

#[cfg(any(doc, target_os = "none"))]
extern "Rust" {
    /// The unikernel's `main`, exported by `guest_rt::entry!`.
    fn __guest_rt_main() -> i32;
}

/// Rust entry, called by `_start` with the boot-info address.
#[cfg(any(doc, target_os = "none"))]
#[no_mangle]
extern "C" fn guest_rt_boot(boot_info: u64) -> ! {
    use abi::layout::CMDLINE_SIZE;

    let tsc0 = crate::arch::cycles();
    crate::arch::init_cpu();
    // SAFETY: the tender maps the 56-byte boot info at `boot_info` (0x10000,
    // read-only) for the guest's whole life.
    let info = BootInfo::decode(unsafe { &*(boot_info as *const [u8; BootInfo::SIZE]) });
    let cmdline = if info.cmdline == 0 {
        ""
    } else {
        // SAFETY: the command line area is CMDLINE_SIZE read-only bytes the
        // tender wrote before boot and never changes.
        cmdline_str(unsafe { core::slice::from_raw_parts(info.cmdline as *const u8, CMDLINE_SIZE) })
    };
    // SAFETY: no reader of BOOT has run yet (see `boot`).
    unsafe { *BOOT.get() = Boot { info, cmdline, tsc0 } };
    let heap = crate::heap::init(info.mem_size);
    // The page at the heap's top is the stack's guard.
    let map_end = crate::netring::init(&info);
    crate::arch::init_memory(info.mem_size, map_end, heap.map(|(_, top)| top));
    crate::arch::enter_user(user_main)
}

/// Runs the unikernel's `main` (unprivileged) and exits with its result.
#[cfg(any(doc, target_os = "none"))]
extern "C" fn user_main() -> ! {
    crate::arch::finish_cpu();
    crate::arch::finish_memory();
    // SAFETY: `entry!` defines the symbol as a `fn() -> i32`; if the binary
    // lacks it the image does not link.
    let code = unsafe { __guest_rt_main() };
    exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_stops_at_nul_and_bad_utf8() {
        assert_eq!(cmdline_str(b"a b\0junk"), "a b");
        assert_eq!(cmdline_str(b"abc"), "abc");
        assert_eq!(cmdline_str(b"ok\xffno\0"), "ok");
        assert_eq!(cmdline_str(b"\0"), "");
    }

    #[test]
    fn before_boot_everything_is_zero() {
        assert_eq!(boot_info().mem_size, 0);
        assert_eq!(boot().cmdline, "");
    }
}
