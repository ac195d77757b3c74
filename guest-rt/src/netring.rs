//! The guest's side of the net ring (ABI.md §7): when the host offers it, frames go
//! through shared memory instead of one exit each. [`crate::net::NetDevice`] uses it
//! by itself; without a ring (`--no-net-ring`, an older host) it makes the hypercalls.
//!
//! Sends are fire-and-forget: the frame is copied into one of [`WINDOW`] slot buffers
//! and the entry published. Receives are synchronous: the entry names the caller's
//! buffer and the guest spins until the host commits it. The doorbell is rung only
//! when the host says it sleeps (`needs_kick`).
//!
//! **(ours)** Where the host also serves block requests on the ring (tender says so in the
//! ring's `HOST_OPS` word; solo5-hvt leaves it zero), [`crate::block::BlockDevice`] sends
//! them here too, waiting for their commit as a receive does: no exit per request.

use abi::bootinfo::{BootInfo, HOST_FEATURE_NET_RING};
use abi::layout::MEM_ALIGN;
use abi::netring;
use core::sync::atomic::{AtomicU64, Ordering};

/// Entries the runtime keeps outstanding at most: one slot buffer each.
pub const WINDOW: u32 = 64;
const _: () = assert!(netring::SLOTS.is_multiple_of(WINDOW) && WINDOW <= netring::MAX_OUTSTANDING);

/// The largest memory the runtime's page tables map (the ABI's maximum).
const MAP_MAX: u64 = abi::layout::MEM_MAX;

/// The ring's guest address, if the host offers one the runtime can map and use.
pub fn ring_address(info: &BootInfo) -> Option<u64> {
    // Only a ring above the guest's memory (Solo5 0.12.1's layout): one carved out of the
    // top of it (0.11/0.12.0) could lie under the runtime's heap or stack.
    let offered = info.host_features & HOST_FEATURE_NET_RING != 0 && info.net_ring >= info.mem_size;
    let end = info.net_ring.checked_add(netring::RING_SIZE)?;
    (offered && info.net_ring.is_multiple_of(64) && end <= MAP_MAX).then_some(info.net_ring)
}

/// The ring's address once boot has looked at boot info (0: none, or before boot).
static RING: AtomicU64 = AtomicU64::new(0);

/// Takes the ring from boot info, if there is one the runtime can use; returns where the
/// runtime's identity map must end ([`map_end`]). Called once at boot.
pub(crate) fn init(info: &BootInfo) -> u64 {
    RING.store(ring_address(info).unwrap_or(0), Ordering::Relaxed);
    map_end(info)
}

/// The ring in use, if any.
fn ring() -> Option<u64> {
    Some(RING.load(Ordering::Relaxed)).filter(|&r| r != 0)
}

/// Whether net devices use the ring (else one hypercall per frame).
pub fn active() -> bool {
    ring().is_some()
}

/// Where the runtime's identity map must end: the guest's memory, and the net ring
/// when there is one above it (the extra 2 MiB of ABI.md §2).
pub fn map_end(info: &BootInfo) -> u64 {
    match ring_address(info) {
        Some(ring) => info.mem_size.max((ring + netring::RING_SIZE).next_multiple_of(MEM_ALIGN)),
        None => info.mem_size,
    }
}

#[cfg(any(doc, target_os = "none"))]
pub use self::guest::block_active;
#[cfg(any(doc, target_os = "none"))]
pub(crate) use self::guest::{block_read, block_write, recv, send};

#[cfg(any(doc, target_os = "none"))]
mod guest {
    use super::{ring, WINDOW};
    use crate::racy::RacyCell;
    use abi::hypercall::Ret;
    use abi::netring::{self, Commit, Entry, Op, SLOT_BUFFER};
    use alloc::boxed::Box;
    use core::sync::atomic::{fence, AtomicU32, Ordering};

    /// The guest's own indices (the ring's copies are for the host) and slot buffers.
    struct State {
        ent_tail: u32,
        com_head: u32,
        slots: Option<Box<[u8]>>,
    }

    static STATE: RacyCell<State> = RacyCell::new(State { ent_tail: 0, com_head: 0, slots: None });

    fn word(ring: u64, field: u64) -> &'static AtomicU32 {
        // SAFETY: the ring lies in identity-mapped guest memory (`map_end` mapped it) for
        // the guest's whole life, its words are 4-byte aligned, and every access to them
        // from this side is atomic (the host's are too).
        unsafe { AtomicU32::from_ptr((ring + field) as *mut u32) }
    }

    /// Rings the doorbell if the host's thread asked for it and this wait has not rung it
    /// yet (`kicked`): the host re-checks the ring after asking, so one ring per wait is
    /// enough, and each costs an exit. The fence orders our `ent_tail` store before the
    /// `needs_kick` load (the host does the mirror image).
    fn kick_if_asked(ring: u64, kicked: &mut bool) {
        if *kicked {
            return;
        }
        fence(Ordering::SeqCst);
        if word(ring, netring::NEEDS_KICK).load(Ordering::SeqCst) != 0 {
            crate::arch::net_ring_doorbell();
            *kicked = true;
        }
    }

    /// Spins until `done()`, ringing the doorbell once if the host sleeps meanwhile.
    fn wait(ring: u64, done: impl Fn() -> bool) {
        let mut kicked = false;
        while !done() {
            kick_if_asked(ring, &mut kicked);
            core::hint::spin_loop();
        }
    }

    /// Waits until fewer than [`WINDOW`] entries are outstanding, so entry `index`'s slot
    /// buffer (`index % WINDOW`) is free again.
    fn wait_for_room(ring: u64, index: u32) {
        wait(ring, || index.wrapping_sub(word(ring, netring::ENT_HEAD).load(Ordering::Acquire)) < WINDOW);
    }

    /// Publishes entry `e` as the next one (its `id` is its index) and returns the index.
    /// The caller has waited for room ([`wait_for_room`]).
    fn publish(ring: u64, state: &mut State, mut e: Entry) -> u32 {
        let index = state.ent_tail;
        e.id = index;
        let bytes = e.encode();
        // SAFETY: the entry slot is inside the mapped ring (32 bytes at `Entry::addr`),
        // which only this side writes while the entry is unpublished.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), Entry::addr(ring, index) as *mut u8, bytes.len())
        };
        state.ent_tail = index.wrapping_add(1);
        word(ring, netring::ENT_TAIL).store(state.ent_tail, Ordering::Release);
        kick_if_asked(ring, &mut false);
        index
    }

    /// Sends `frame` on net device `handle` through the ring: `None` when there is no
    /// ring or the frame is bigger than a slot buffer (the caller makes the hypercall).
    pub(crate) fn send(handle: u64, frame: &[u8]) -> Option<Ret> {
        let ring = ring()?;
        // SAFETY: one thread, no interrupts: nothing else holds STATE (see RacyCell).
        let state = unsafe { &mut *STATE.get() };
        if frame.len() > SLOT_BUFFER {
            // By hypercall, but after the frames queued before it: never out of order.
            let tail = state.ent_tail;
            wait(ring, || word(ring, netring::ENT_HEAD).load(Ordering::Acquire) == tail);
            return None;
        }
        let slots = state.slots.get_or_insert_with(|| alloc::vec![0u8; WINDOW as usize * SLOT_BUFFER].into());
        // The slot's previous frame must have been taken before it is overwritten.
        wait_for_room(ring, state.ent_tail);
        let slot = (state.ent_tail % WINDOW) as usize * SLOT_BUFFER;
        slots[slot..slot + frame.len()].copy_from_slice(frame);
        let data = slots[slot..].as_ptr() as u64;
        let (len, handle) = (frame.len() as u32, handle as u32);
        let e = Entry { op: Op::NetWrite as u32, handle, data, len, id: 0, offset: 0 };
        publish(ring, state, e);
        Some(Ret::Ok)
    }

    /// Receives one frame into `buf` through the ring: `None` when there is no ring.
    pub(crate) fn recv(handle: u64, buf: &mut [u8]) -> Option<(Ret, usize)> {
        let ring = ring()?;
        let data = buf.as_mut_ptr() as u64;
        let (len, handle) = (buf.len() as u32, handle as u32);
        let e = Entry { op: Op::NetRead as u32, handle, data, len, id: 0, offset: 0 };
        Some(match round_trip(ring, e) {
            Some(c) => (Ret::from_i32(c.ret), (c.len as usize).min(buf.len())),
            None => (Ret::Eunspec, 0),
        })
    }

    /// Whether the host serves block requests on the ring (ours; zero on solo5-hvt).
    fn block_ops(ring: u64) -> bool {
        word(ring, netring::HOST_OPS).load(Ordering::Relaxed) == netring::BLOCK_OPS
    }

    /// Whether block devices use the ring (tender serves block requests there), else one
    /// hypercall per request.
    pub fn block_active() -> bool {
        ring().is_some_and(block_ops)
    }

    /// A block request through the ring: `None` when the host does not serve them there
    /// (or the request does not fit an entry), and the caller makes the hypercall.
    fn block(op: Op, handle: u64, offset: u64, data: u64, len: usize) -> Option<Ret> {
        let ring = ring().filter(|&r| block_ops(r))?;
        let (handle, len) = (u32::try_from(handle).ok()?, u32::try_from(len).ok()?);
        let e = Entry { op: op as u32, handle, data, len, id: 0, offset };
        Some(round_trip(ring, e).map_or(Ret::Eunspec, |c| Ret::from_i32(c.ret)))
    }

    /// Writes `data` at byte `offset` of block device `handle` through the ring; `Some` once
    /// the host has written it.
    pub(crate) fn block_write(handle: u64, offset: u64, data: &[u8]) -> Option<Ret> {
        block(Op::BlockWrite, handle, offset, data.as_ptr() as u64, data.len())
    }

    /// Reads `data.len()` bytes at byte `offset` of block device `handle` through the ring.
    pub(crate) fn block_read(handle: u64, offset: u64, data: &mut [u8]) -> Option<Ret> {
        block(Op::BlockRead, handle, offset, data.as_mut_ptr() as u64, data.len())
    }

    /// Publishes `e`, which commits once, and waits for its commit, which it consumes: `None`
    /// if the commit is not `e`'s (a host out of step). The buffer `e` names stays borrowed by
    /// the caller until this returns, so the host's use of it ends before the caller's.
    fn round_trip(ring: u64, e: Entry) -> Option<Commit> {
        // SAFETY: as in `send`.
        let state = unsafe { &mut *STATE.get() };
        wait_for_room(ring, state.ent_tail);
        let id = publish(ring, state, e);
        let com_head = state.com_head;
        wait(ring, || word(ring, netring::COM_TAIL).load(Ordering::Acquire) != com_head);
        let mut raw = [0u8; Commit::SIZE];
        // SAFETY: the commit slot is inside the mapped ring; the host wrote it before the
        // `com_tail` we acquired.
        unsafe {
            core::ptr::copy_nonoverlapping(
                Commit::addr(ring, state.com_head) as *const u8,
                raw.as_mut_ptr(),
                raw.len(),
            )
        };
        state.com_head = state.com_head.wrapping_add(1);
        word(ring, netring::COM_HEAD).store(state.com_head, Ordering::Release);
        Some(Commit::decode(&raw)).filter(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(mem_size: u64, host_features: u32, net_ring: u64) -> BootInfo {
        BootInfo { mem_size, host_features, net_ring, ..BootInfo::default() }
    }

    #[test]
    fn the_ring_is_used_only_when_offered_and_mappable() {
        let mib = 1 << 20;
        assert_eq!(ring_address(&info(512 * mib, 1, 512 * mib)), Some(512 * mib));
        assert_eq!(map_end(&info(512 * mib, 1, 512 * mib)), 514 * mib, "the extra 2 MiB");
        assert_eq!(ring_address(&info(512 * mib, 0, 512 * mib)), None, "not offered");
        assert_eq!(map_end(&info(512 * mib, 0, 512 * mib)), 512 * mib);
        assert_eq!(ring_address(&info(512 * mib, 1, 0)), None);
        assert_eq!(ring_address(&info(4096 * mib, 1, 4096 * mib)), None, "beyond what the tables map");
        assert_eq!(ring_address(&info(512 * mib, 1, 512 * mib + 4)), None, "misaligned");
        // Solo5 0.11/0.12.0 carved the ring out of the top of memory: not used.
        assert_eq!(ring_address(&info(510 * mib, 1, 508 * mib)), None);
        assert_eq!(map_end(&info(510 * mib, 1, 508 * mib)), 510 * mib);
    }
}
