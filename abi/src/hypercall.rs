//! Hypercall numbers, argument layouts and result codes (ABI.md §5).
//!
//! Each argument struct has a `#[repr(C)]` definition (for documentation and the
//! layout asserts) and a safe codec over its little-endian byte image, which is
//! what both the tender and the guest actually move through guest memory.

use crate::bytes::{get_u32, get_u64, put_u32, put_u64};
use core::mem::{offset_of, size_of};

/// x86_64: hypercall `nr` is an `out dx, eax` to port `PIO_BASE + nr`.
pub const PIO_BASE: u16 = 0x500;
/// AArch64: hypercall `nr` is a 32-bit store to `MMIO_BASE + 8 * nr`.
pub const MMIO_BASE: u64 = 0x1_0000_0000;
/// Spacing of AArch64 hypercall addresses.
pub const MMIO_STRIDE: u64 = 8;
/// One past the largest hypercall number (the decoded window is `MAX * 8` bytes).
pub const MAX: u32 = 9;
/// Bytes at a HALT cookie that must lie inside guest memory.
pub const HALT_COOKIE_MAX: u64 = 512;

/// The hypercall numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Nr {
    Walltime = 1,
    Puts = 2,
    Poll = 3,
    BlockWrite = 4,
    BlockRead = 5,
    NetWrite = 6,
    NetRead = 7,
    Halt = 8,
}

impl Nr {
    /// Decodes a hypercall number; `None` for anything without a handler.
    pub fn from_u32(n: u32) -> Option<Nr> {
        Some(match n {
            1 => Nr::Walltime,
            2 => Nr::Puts,
            3 => Nr::Poll,
            4 => Nr::BlockWrite,
            5 => Nr::BlockRead,
            6 => Nr::NetWrite,
            7 => Nr::NetRead,
            8 => Nr::Halt,
            _ => return None,
        })
    }
}

/// Hypercall result codes (`ret` fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Ret {
    Ok = 0,
    Again = 1,
    Einval = 2,
    Eunspec = 3,
}

impl Ret {
    /// Decodes a result code written by the tender.
    pub fn from_i32(v: i32) -> Ret {
        match v {
            0 => Ret::Ok,
            1 => Ret::Again,
            2 => Ret::Einval,
            _ => Ret::Eunspec,
        }
    }
}

/// `struct hvt_hc_walltime`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Walltime {
    pub nsecs: u64,
}

/// `struct hvt_hc_puts`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Puts {
    pub data: u64,
    pub len: u64,
}

/// `struct hvt_hc_poll`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Poll {
    pub timeout_nsecs: u64,
    pub ready_set: u64,
    pub ret: i32,
}

/// `struct hvt_hc_block_write` and `hvt_hc_block_read` (same layout).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockIo {
    pub handle: u64,
    pub offset: u64,
    pub data: u64,
    pub len: u64,
    pub ret: i32,
}

/// `struct hvt_hc_net_write` and `hvt_hc_net_read` (same layout; for reads
/// `len` is the buffer size in and the frame size out).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetIo {
    pub handle: u64,
    pub data: u64,
    pub len: u64,
    pub ret: i32,
}

/// `struct hvt_hc_halt`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Halt {
    pub cookie: u64,
    pub exit_status: i32,
}

/// A hypercall argument struct with a fixed little-endian byte image.
pub trait Args: Sized {
    /// Size of the struct in guest memory.
    const SIZE: usize;
    /// Decodes from exactly `SIZE` bytes.
    fn decode(b: &[u8]) -> Self;
    /// Encodes into exactly `SIZE` bytes (padding left as is).
    fn encode(&self, b: &mut [u8]);
}

macro_rules! args_codec {
    ($ty:ident, $size:expr, { $($field:ident: $kind:ident),* $(,)? }) => {
        const _: () = assert!(size_of::<$ty>() == $size);
        impl Args for $ty {
            const SIZE: usize = $size;
            fn decode(b: &[u8]) -> Self {
                $ty { $($field: args_codec!(@get $kind, b, offset_of!($ty, $field))),* }
            }
            fn encode(&self, b: &mut [u8]) {
                $(args_codec!(@put $kind, b, offset_of!($ty, $field), self.$field);)*
            }
        }
    };
    (@get u64, $b:expr, $off:expr) => { get_u64($b, $off) };
    (@get i32, $b:expr, $off:expr) => { get_u32($b, $off) as i32 };
    (@put u64, $b:expr, $off:expr, $v:expr) => { put_u64($b, $off, $v) };
    (@put i32, $b:expr, $off:expr, $v:expr) => { put_u32($b, $off, $v as u32) };
}

args_codec!(Walltime, 8, { nsecs: u64 });
args_codec!(Puts, 16, { data: u64, len: u64 });
args_codec!(Poll, 24, { timeout_nsecs: u64, ready_set: u64, ret: i32 });
args_codec!(BlockIo, 40, { handle: u64, offset: u64, data: u64, len: u64, ret: i32 });
args_codec!(NetIo, 32, { handle: u64, data: u64, len: u64, ret: i32 });
args_codec!(Halt, 16, { cookie: u64, exit_status: i32 });

// Offsets written in ABI.md §5.
const _: () = assert!(offset_of!(Poll, ret) == 16);
const _: () = assert!(offset_of!(BlockIo, ret) == 32);
const _: () = assert!(offset_of!(NetIo, ret) == 24);
const _: () = assert!(offset_of!(Halt, exit_status) == 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_io_round_trips_at_abi_offsets() {
        let a = BlockIo { handle: 3, offset: 4096, data: 0x20_0000, len: 512, ret: -1 };
        let mut b = [0u8; BlockIo::SIZE];
        a.encode(&mut b);
        assert_eq!(b[0], 3);
        assert_eq!(get_u64(&b, 8), 4096);
        assert_eq!(get_u32(&b, 32), u32::MAX);
        assert_eq!(BlockIo::decode(&b), a);
    }

    #[test]
    fn numbers_match_abi() {
        assert_eq!(Nr::from_u32(1), Some(Nr::Walltime));
        assert_eq!(Nr::from_u32(8), Some(Nr::Halt));
        assert_eq!(Nr::from_u32(0), None);
        assert_eq!(Nr::from_u32(9), None);
        assert_eq!(Ret::Eunspec as i32, 3);
        assert_eq!(MMIO_BASE + MMIO_STRIDE * MAX as u64, 0x1_0000_0048);
    }
}
