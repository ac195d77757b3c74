//! The optional net ring (ABI.md §7, Solo5 ≥ 0.11): a shared-memory queue of
//! network requests at guest address `mem_size`, in the extra 2 MiB of the memory
//! slot, served by a host thread beside the vCPU.
//!
//! The guest appends entries (`ent_tail`) and consumes commits (`com_head`); the
//! host consumes entries (`ent_head`), appends commits (`com_tail`) and sets
//! `needs_kick` before it sleeps. Writes are fire-and-forget (no commit); reads
//! commit once, in order. Indices are free-running `u32`s masked with
//! [`MASK`].
//!
//! **(ours)** The ring also carries block requests ([`Op::BlockWrite`], [`Op::BlockRead`]):
//! a host that serves them says so with [`BLOCK_OPS`] in its [`HOST_OPS`] word, which
//! solo5-hvt leaves zero and Solo5-built guests never read. Each commits once, so a guest
//! waits for it as for a read: a block request costs no exit.

use crate::bytes::{get_u32, get_u64, put_u32, put_u64};

/// Entries (and commits) in the ring.
pub const SLOTS: u32 = 1024;
/// Index mask: slot of free-running index `i` is `i & MASK`.
pub const MASK: u32 = SLOTS - 1;
/// Entries the guest may have outstanding: one slot stays free.
pub const MAX_OUTSTANDING: u32 = SLOTS - 1;
/// Bytes of the ring's guest buffers; bigger frames go by hypercall.
pub const SLOT_BUFFER: usize = 2048;
/// Bytes the ring occupies at its guest address.
pub const RING_SIZE: u64 = COMMITS_OFFSET + SLOTS as u64 * Commit::SIZE as u64;
/// Memory the slot grows by to hold the ring (2 MiB, ABI.md §2).
pub const RING_REGION: u64 = 2 << 20;

/// Guest-written: next entry index the guest will fill.
pub const ENT_TAIL: u64 = 0;
/// Guest-written: next commit index the guest will consume.
pub const COM_HEAD: u64 = 4;
/// Host-written: next entry index the host will consume.
pub const ENT_HEAD: u64 = 64;
/// Host-written: next commit index the host will fill.
pub const COM_TAIL: u64 = 68;
/// Host-written: non-zero while the host thread sleeps and wants a doorbell.
pub const NEEDS_KICK: u64 = 72;
/// Host-written **(ours)**: what else the host serves on this ring ([`BLOCK_OPS`] or 0). In
/// the host's cache line, in bytes the ABI leaves unused.
pub const HOST_OPS: u64 = 76;
/// The [`HOST_OPS`] value of a host that serves [`Op::BlockWrite`] and [`Op::BlockRead`]: a
/// magic word rather than a bit, so stray bytes there are never taken for an offer.
pub const BLOCK_OPS: u32 = u32::from_le_bytes(*b"blk1");
/// Offset of `entries[1024]`.
pub const ENTRIES_OFFSET: u64 = 128;
/// Offset of `commits[1024]`.
pub const COMMITS_OFFSET: u64 = ENTRIES_OFFSET + SLOTS as u64 * Entry::SIZE as u64;

/// x86_64 doorbell: a 4-byte write of 0 to this port.
pub const KICK_PORT: u16 = 0x600;
/// AArch64 doorbell: a 4-byte write of 0 to this address (in the MMIO window).
pub const KICK_MMIO: u64 = 0x1_0000_0100;
/// Bytes of the doorbell write.
pub const KICK_LEN: u32 = 4;

const _: () = assert!(COMMITS_OFFSET == 32896);
const _: () = assert!(RING_SIZE == 49280);
const _: () = assert!(RING_SIZE <= RING_REGION);

/// What an entry asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Op {
    /// Send the frame at `data` (`len` bytes); no commit.
    NetWrite = 1,
    /// Receive one frame into `data` (room for `len` bytes); one commit.
    NetRead = 2,
    /// **(ours)** Write `len` bytes at `data` to block device `handle` at byte `offset`;
    /// one commit. Only where the host offers [`BLOCK_OPS`].
    BlockWrite = 0x100,
    /// **(ours)** Read `len` bytes of block device `handle` at byte `offset` into `data`;
    /// one commit. Only where the host offers [`BLOCK_OPS`].
    BlockRead = 0x101,
}

impl Op {
    /// Decodes an op; `None` for anything else.
    pub fn from_u32(v: u32) -> Option<Op> {
        match v {
            1 => Some(Op::NetWrite),
            2 => Some(Op::NetRead),
            0x100 => Some(Op::BlockWrite),
            0x101 => Some(Op::BlockRead),
            _ => None,
        }
    }
}

/// One request (32 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// An [`Op`] value (kept raw: the guest may write anything).
    pub op: u32,
    /// The device's manifest handle.
    pub handle: u32,
    /// Guest address of the frame or buffer.
    pub data: u64,
    /// Frame length (write) or buffer size (read); bytes to transfer (block).
    pub len: u32,
    /// The guest's tag, echoed in the commit.
    pub id: u32,
    /// **(ours)** Byte offset on the disk of a block request, in the ABI's `reserved` word
    /// (zero for net requests).
    pub offset: u64,
}

impl Entry {
    /// Bytes per entry.
    pub const SIZE: usize = 32;

    /// Guest address of entry slot `index & MASK` in a ring at `ring`.
    pub fn addr(ring: u64, index: u32) -> u64 {
        ring + ENTRIES_OFFSET + u64::from(index & MASK) * Self::SIZE as u64
    }

    /// Decodes the little-endian wire form.
    pub fn decode(b: &[u8; Self::SIZE]) -> Entry {
        Entry {
            op: get_u32(b, 0),
            handle: get_u32(b, 4),
            data: get_u64(b, 8),
            len: get_u32(b, 16),
            id: get_u32(b, 20),
            offset: get_u64(b, 24),
        }
    }

    /// Encodes the wire form.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        put_u32(&mut b, 0, self.op);
        put_u32(&mut b, 4, self.handle);
        put_u64(&mut b, 8, self.data);
        put_u32(&mut b, 16, self.len);
        put_u32(&mut b, 20, self.id);
        put_u64(&mut b, 24, self.offset);
        b
    }
}

/// One completion (16 bytes): the result of a read or a block request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Commit {
    /// The entry's `id`.
    pub id: u32,
    /// A `hypercall::Ret` value.
    pub ret: i32,
    /// Bytes received (or, for a block request, transferred).
    pub len: u32,
}

impl Commit {
    /// Bytes per commit.
    pub const SIZE: usize = 16;

    /// Guest address of commit slot `index & MASK` in a ring at `ring`.
    pub fn addr(ring: u64, index: u32) -> u64 {
        ring + COMMITS_OFFSET + u64::from(index & MASK) * Self::SIZE as u64
    }

    /// Decodes the little-endian wire form.
    pub fn decode(b: &[u8; Self::SIZE]) -> Commit {
        Commit { id: get_u32(b, 0), ret: get_u32(b, 4) as i32, len: get_u32(b, 8) }
    }

    /// Encodes the wire form (reserved bytes zero).
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        put_u32(&mut b, 0, self.id);
        put_u32(&mut b, 4, self.ret as u32);
        put_u32(&mut b, 8, self.len);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_commits_sit_where_the_abi_says() {
        assert_eq!(Entry::addr(0x1000_0000, 0), 0x1000_0000 + 128);
        assert_eq!(Entry::addr(0x1000_0000, 1025), 0x1000_0000 + 128 + 32);
        assert_eq!(Commit::addr(0x1000_0000, 1023), 0x1000_0000 + 32896 + 1023 * 16);
    }

    #[test]
    fn codecs_round_trip_at_the_abi_offsets() {
        let e = Entry { op: 2, handle: 3, data: 0x1234_5678_9abc, len: 1514, id: 77, offset: 0 };
        let b = e.encode();
        assert_eq!(&b[8..16], &0x1234_5678_9abcu64.to_le_bytes());
        assert_eq!(&b[16..20], &1514u32.to_le_bytes());
        assert_eq!(&b[24..32], &[0; 8], "a net entry's reserved word stays zero");
        assert_eq!(Entry::decode(&b), e);
        let e = Entry { op: 0x101, handle: 1, data: 0x4000, len: 65536, id: 8, offset: 0x10_0000_0000 };
        let b = e.encode();
        assert_eq!(&b[24..32], &0x10_0000_0000u64.to_le_bytes());
        assert_eq!(Entry::decode(&b), e);
        let c = Commit { id: 9, ret: 1, len: 60 };
        let b = c.encode();
        assert_eq!(&b[4..8], &1u32.to_le_bytes());
        assert_eq!(Commit::decode(&b), c);
        assert_eq!(Op::from_u32(1), Some(Op::NetWrite));
        assert_eq!(Op::from_u32(3), None);
        assert_eq!(Op::from_u32(0x101), Some(Op::BlockRead));
        assert_eq!(BLOCK_OPS.to_le_bytes(), *b"blk1");
    }
}
