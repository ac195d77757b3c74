//! The net ring's protocol (ABI.md §7), one batch at a time: consume the entries the guest
//! published, send or receive each frame, do each block request (ours), commit the reads and
//! the block requests. Bookkeeping over guest memory and the devices behind a trait, so it is
//! tested without a VM or a TAP (block requests on real files).
//!
//! The host keeps its own indices (`ent_head`, `com_tail`) and only publishes them: the guest
//! can scribble over the ring's host-written words, never over the host's idea of them.

use crate::block::BlockDevice;
use crate::memory::{MemoryError, SharedMemory};
use abi::hypercall::Ret;
use abi::netring::{self, Commit, Entry, Op};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Release, SeqCst};
use std::sync::Arc;

/// Where requests go: the attached devices by manifest handle.
pub trait Backends {
    /// Sends one frame on device `handle`; `None` if `handle` is no net device.
    fn send(&self, handle: u32, frame: &[u8]) -> Option<Ret>;
    /// Receives one frame into `buf`: `(Ok, len)` or `(Again, 0)`; `None` if no such device.
    fn receive(&self, handle: u32, buf: &mut [u8]) -> Option<(Ret, usize)>;
    /// A frame the ring could not deliver (no device, too big): said once in a while.
    fn dropped(&self, why: std::fmt::Arguments<'_>);
    /// The block device `handle`, if it is one.
    fn disk(&self, handle: u32) -> Option<&BlockDevice>;
}

/// A guest's ring that cannot be served any more: fatal for the guest.
#[derive(Debug, thiserror::Error)]
pub enum RingFault {
    #[error("net ring entry {index}: unknown op {op}")]
    UnknownOp { index: u32, op: u32 },
    #[error(
        "net ring: the guest published {outstanding} entries (at most {} may be outstanding)",
        netring::MAX_OUTSTANDING
    )]
    Overrun { outstanding: u32 },
    #[error("net ring entry {index}: bad buffer")]
    Buffer {
        index: u32,
        #[source]
        source: MemoryError,
    },
    #[error("net ring: the ring itself is not in guest memory")]
    Ring(#[source] MemoryError),
    #[error("net ring: com_head is {ahead} commits away from the host's com_tail")]
    Commits { ahead: u32 },
    #[error("net ring: the host thread could not wait")]
    Wait(#[source] std::io::Error),
}

/// Bytes of the host's bounce buffer: more than any TAP frame (MTU ≤ 65535 plus header).
const BOUNCE: usize = 65536 + 64;

/// Block transfers go in pieces of at most this many bytes, with a look at the stop flag
/// between them: a guest that queued gigabytes of requests cannot hold tender's exit.
const BLOCK_PIECE: u64 = 1 << 20;

/// One guest's ring at guest address `ring`, served through `frames`.
#[derive(Debug)]
pub struct RingServer<B> {
    mem: SharedMemory,
    ring: u64,
    devices: B,
    ent_head: u32,
    com_tail: u32,
    /// The last `serve` stopped at a read with no free commit slot.
    blocked: bool,
    bounce: Vec<u8>,
    /// Set when tender stops the guest: serving ends at the next entry or block piece.
    stopping: Arc<AtomicBool>,
}

impl<B: Backends> RingServer<B> {
    /// A server for the ring at `ring`, whose indices start at 0 (guest memory starts zeroed).
    pub fn new(mem: SharedMemory, ring: u64, devices: B) -> RingServer<B> {
        let stopping = Arc::new(AtomicBool::new(false));
        RingServer {
            mem,
            ring,
            devices,
            ent_head: 0,
            com_tail: 0,
            blocked: false,
            bounce: vec![0; BOUNCE],
            stopping,
        }
    }

    /// Makes serving end early once `flag` is set: before the next entry, or the next 1 MiB
    /// piece of a block transfer.
    pub fn stop_when(mut self, flag: Arc<AtomicBool>) -> RingServer<B> {
        self.stopping = flag;
        self
    }

    fn stopped(&self) -> bool {
        self.stopping.load(Acquire)
    }

    fn load(&self, field: u64) -> Result<u32, RingFault> {
        self.mem.load_u32(self.ring + field, Acquire).map_err(RingFault::Ring)
    }

    fn store(&self, field: u64, v: u32) -> Result<(), RingFault> {
        self.mem.store_u32(self.ring + field, v, Release).map_err(RingFault::Ring)
    }

    /// Whether the guest has published entries not served yet.
    pub fn has_work(&self) -> Result<bool, RingFault> {
        Ok(self.load(netring::ENT_TAIL)? != self.ent_head)
    }

    /// Whether the last [`serve`](Self::serve) stopped at a read waiting for the guest to
    /// consume its commits (no doorbell announces that: poll for it).
    pub fn waiting_on_commits(&self) -> bool {
        self.blocked
    }

    /// Says whether the host thread is about to sleep (and needs the doorbell). Setting it
    /// is a full barrier before the caller's next [`has_work`](Self::has_work): either the
    /// guest sees the flag and kicks, or the host sees the guest's entries.
    pub fn set_needs_kick(&self, on: bool) -> Result<(), RingFault> {
        self.mem
            .store_u32(self.ring + netring::NEEDS_KICK, u32::from(on), SeqCst)
            .map_err(RingFault::Ring)?;
        // A SeqCst store alone does not order the later load of ENT_TAIL (Dekker).
        std::sync::atomic::fence(SeqCst);
        Ok(())
    }

    /// Serves every published entry (stopping early only when the commits are full);
    /// returns how many it served.
    pub fn serve(&mut self) -> Result<u32, RingFault> {
        let tail = self.load(netring::ENT_TAIL)?;
        let outstanding = tail.wrapping_sub(self.ent_head);
        if outstanding > netring::MAX_OUTSTANDING {
            return Err(RingFault::Overrun { outstanding });
        }
        let mut served = 0;
        self.blocked = false;
        while self.ent_head != tail && !self.stopped() {
            let index = self.ent_head;
            let mut raw = [0u8; Entry::SIZE];
            self.mem.read(Entry::addr(self.ring, index), &mut raw).map_err(RingFault::Ring)?;
            let e = Entry::decode(&raw);
            let Some(op) = Op::from_u32(e.op) else {
                return Err(RingFault::UnknownOp { index, op: e.op });
            };
            if op != Op::NetWrite && !self.commit_slot_free()? {
                self.blocked = true; // the guest has not consumed its commits yet
                break;
            }
            match op {
                Op::NetWrite => self.write(index, &e)?,
                Op::NetRead => self.read(index, &e)?,
                Op::BlockWrite | Op::BlockRead => {
                    if !self.block(index, &e, op == Op::BlockWrite)? {
                        break; // stopped part way: never committed
                    }
                }
            }
            self.ent_head = index.wrapping_add(1);
            self.store(netring::ENT_HEAD, self.ent_head)?;
            served += 1;
        }
        Ok(served)
    }

    /// Whether a commit slot is free (the guest consumes commits with `com_head`).
    fn commit_slot_free(&self) -> Result<bool, RingFault> {
        let ahead = self.com_tail.wrapping_sub(self.load(netring::COM_HEAD)?);
        if ahead > netring::SLOTS {
            return Err(RingFault::Commits { ahead });
        }
        Ok(ahead < netring::SLOTS)
    }

    fn write(&mut self, index: u32, e: &Entry) -> Result<(), RingFault> {
        let len = e.len as usize;
        let buffer = |source| RingFault::Buffer { index, source };
        // A bad buffer is fatal even for a frame too big to send.
        self.mem.check(e.data, len as u64).map_err(buffer)?;
        if len > self.bounce.len() {
            self.devices.dropped(format_args!("net ring: a {len}-byte frame is larger than any device's"));
            return Ok(());
        }
        self.mem.read(e.data, &mut self.bounce[..len]).map_err(buffer)?;
        if self.devices.send(e.handle, &self.bounce[..len]).is_none() {
            self.devices.dropped(format_args!("net ring: write to handle {}, not a net device", e.handle));
        }
        Ok(())
    }

    fn read(&mut self, index: u32, e: &Entry) -> Result<(), RingFault> {
        self.mem
            .check_writable(e.data, u64::from(e.len))
            .map_err(|source| RingFault::Buffer { index, source })?;
        let room = (e.len as usize).min(self.bounce.len());
        let (ret, len) = match self.devices.receive(e.handle, &mut self.bounce[..room]) {
            Some((Ret::Ok, n)) => {
                self.mem
                    .write(e.data, &self.bounce[..n])
                    .map_err(|source| RingFault::Buffer { index, source })?;
                (Ret::Ok, n)
            }
            Some((ret, _)) => (ret, 0),
            None => (Ret::Einval, 0),
        };
        self.commit(Commit { id: e.id, ret: ret as i32, len: len as u32 })
    }

    /// A block request, as BLOCK_READ / BLOCK_WRITE by hypercall: a handle that is no disk or
    /// a range outside it commits `EINVAL` (checked before the buffer); a bad buffer is fatal
    /// (checked whole before any I/O); a host I/O error commits `EUNSPEC`. Committed only once
    /// the transfer is done; false if tender stopped the guest before that (nothing committed).
    fn block(&mut self, index: u32, e: &Entry, write: bool) -> Result<bool, RingFault> {
        let (len, buffer) = (u64::from(e.len), |source| RingFault::Buffer { index, source });
        let ret = match self.devices.disk(e.handle) {
            Some(disk) if disk.in_range(e.offset, len) => {
                if write {
                    self.mem.check(e.data, len).map_err(buffer)?;
                } else {
                    self.mem.check_writable(e.data, len).map_err(buffer)?;
                }
                // The checks above make every `+ done` below overflow-free.
                let mut done = 0;
                let mut ret = Ret::Ok;
                while done < len && ret == Ret::Ok {
                    if done > 0 && self.stopped() {
                        return Ok(false);
                    }
                    let n = (len - done).min(BLOCK_PIECE);
                    let (at, gpa) = (e.offset + done, e.data + done);
                    ret = if write {
                        disk.write_from(at, &self.mem, gpa, n)
                    } else {
                        disk.read_into(at, &self.mem, gpa, n)
                    }
                    .map_err(buffer)?;
                    done += n;
                }
                ret
            }
            _ => Ret::Einval,
        };
        let len = if ret == Ret::Ok { e.len } else { 0 };
        self.commit(Commit { id: e.id, ret: ret as i32, len })?;
        Ok(true)
    }

    fn commit(&mut self, commit: Commit) -> Result<(), RingFault> {
        self.mem.write(Commit::addr(self.ring, self.com_tail), &commit.encode()).map_err(RingFault::Ring)?;
        self.com_tail = self.com_tail.wrapping_add(1);
        self.store(netring::COM_TAIL, self.com_tail)
    }
}

#[cfg(test)]
#[path = "serve_tests.rs"]
mod tests;
