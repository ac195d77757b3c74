use super::*;
use crate::block::BlockDevice;
use crate::memory::GuestMemory;
use std::cell::RefCell;
use std::collections::VecDeque;

const RING: u64 = 0x10_0000;

/// Device 1 is a net device: frames sent are recorded, frames to receive are queued.
/// Device 2, when there is one, is a disk: a real file.
#[derive(Default)]
struct Port {
    sent: RefCell<Vec<Vec<u8>>>,
    incoming: RefCell<VecDeque<Vec<u8>>>,
    dropped: RefCell<u32>,
    disk: Option<BlockDevice>,
}

/// A 64 KiB disk in a file removed when the test ends, its block `i` filled with byte `i`.
struct Disk(std::path::PathBuf);

impl Disk {
    fn new(name: &str) -> (Disk, Port) {
        Disk::sized(name, 128)
    }
    /// `blocks` blocks of 512 bytes, block `i` filled with byte `i % 256`.
    fn sized(name: &str, blocks: usize) -> (Disk, Port) {
        let path = std::env::temp_dir().join(format!("tender-ring-{name}-{}", std::process::id()));
        let bytes: Vec<u8> = (0..blocks).flat_map(|i| [i as u8; 512]).collect();
        std::fs::write(&path, bytes).unwrap();
        let disk = BlockDevice::open("storage", &path, 512).unwrap();
        (Disk(path), Port { disk: Some(disk), ..Port::default() })
    }
    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.0).unwrap()
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Backends for &Port {
    fn send(&self, handle: u32, frame: &[u8]) -> Option<Ret> {
        (handle == 1).then(|| {
            self.sent.borrow_mut().push(frame.to_vec());
            Ret::Ok
        })
    }
    fn receive(&self, handle: u32, buf: &mut [u8]) -> Option<(Ret, usize)> {
        (handle == 1).then(|| match self.incoming.borrow_mut().pop_front() {
            Some(f) => {
                let n = f.len().min(buf.len());
                buf[..n].copy_from_slice(&f[..n]);
                (Ret::Ok, n)
            }
            None => (Ret::Again, 0),
        })
    }
    fn dropped(&self, _why: std::fmt::Arguments<'_>) {
        *self.dropped.borrow_mut() += 1;
    }
    fn disk(&self, handle: u32) -> Option<&BlockDevice> {
        self.disk.as_ref().filter(|_| handle == 2)
    }
}

/// The guest's side, written the way a guest does: entries, then `ent_tail`.
struct Guest {
    mem: GuestMemory,
    tail: u32,
}

impl Guest {
    fn new() -> Guest {
        Guest { mem: GuestMemory::new(4 << 20).unwrap(), tail: 0 }
    }
    fn push(&mut self, op: u32, handle: u32, data: u64, len: u32) {
        self.push_at(op, handle, data, len, 0);
    }
    fn push_at(&mut self, op: u32, handle: u32, data: u64, len: u32, offset: u64) {
        let e = Entry { op, handle, data, len, id: self.tail + 100, offset };
        self.mem.write(Entry::addr(RING, self.tail), &e.encode()).unwrap();
        self.tail = self.tail.wrapping_add(1);
        self.mem.write(RING + netring::ENT_TAIL, &self.tail.to_le_bytes()).unwrap();
    }
    fn word(&self, field: u64) -> u32 {
        u32::from_le_bytes(self.mem.slice(RING + field, 4).unwrap().try_into().unwrap())
    }
    fn commit(&self, index: u32) -> Commit {
        Commit::decode(self.mem.slice(Commit::addr(RING, index), 16).unwrap().try_into().unwrap())
    }
}

#[test]
fn writes_go_out_in_order_and_reads_commit_with_their_id() {
    let port = Port::default();
    port.incoming.borrow_mut().push_back(b"incoming frame".to_vec());
    let mut g = Guest::new();
    g.mem.write(0x2000, b"first").unwrap();
    g.mem.write(0x3000, b"second!").unwrap();
    g.push(1, 1, 0x2000, 5);
    g.push(1, 1, 0x3000, 7);
    g.push(2, 1, 0x4000, 1514);
    g.push(2, 1, 0x5000, 1514);
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    assert!(s.has_work().unwrap());
    assert_eq!(s.serve().unwrap(), 4);
    assert!(!s.has_work().unwrap());
    assert_eq!(*port.sent.borrow(), vec![b"first".to_vec(), b"second!".to_vec()]);
    assert_eq!((g.word(netring::ENT_HEAD), g.word(netring::COM_TAIL)), (4, 2));
    assert_eq!(g.commit(0), Commit { id: 102, ret: 0, len: 14 });
    assert_eq!(g.mem.slice(0x4000, 14).unwrap(), b"incoming frame");
    assert_eq!(g.commit(1), Commit { id: 103, ret: Ret::Again as i32, len: 0 });
}

#[test]
fn a_read_from_a_handle_that_is_no_net_device_commits_einval() {
    let port = Port::default();
    let mut g = Guest::new();
    g.push(2, 7, 0x4000, 1514);
    g.push(1, 7, 0x4000, 60);
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    assert_eq!(s.serve().unwrap(), 2);
    assert_eq!(g.commit(0).ret, Ret::Einval as i32);
    assert_eq!(*port.dropped.borrow(), 1, "the write to handle 7 is dropped, and said");
}

#[test]
fn a_bad_buffer_or_op_or_overrun_is_fatal() {
    let port = Port::default();
    let mut g = Guest::new();
    g.push(1, 1, (4 << 20) - 10, 60);
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    assert!(matches!(s.serve(), Err(RingFault::Buffer { index: 0, .. })));

    let mut g = Guest::new();
    g.mem.protect_readonly(0x20_0000, 0x20_1000).unwrap();
    g.push(2, 1, 0x20_0000, 1514);
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    assert!(matches!(s.serve(), Err(RingFault::Buffer { .. })), "reads never land in read-only memory");

    let mut g = Guest::new();
    g.push(9, 1, 0x2000, 60);
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    assert!(matches!(s.serve(), Err(RingFault::UnknownOp { op: 9, .. })));

    let g = Guest::new();
    g.mem.shared().store_u32(RING + netring::ENT_TAIL, 5000, SeqCst).unwrap();
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    assert!(matches!(s.serve(), Err(RingFault::Overrun { outstanding: 5000 })));
}

#[test]
fn reads_wait_while_the_guest_has_not_consumed_its_commits() {
    let port = Port::default();
    let mut g = Guest::new();
    for _ in 0..netring::SLOTS - 1 {
        g.push(2, 1, 0x4000, 1514);
    }
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    assert_eq!(s.serve().unwrap(), netring::SLOTS - 1);
    g.push(2, 1, 0x4000, 1514);
    g.push(2, 1, 0x4000, 1514);
    assert!(!s.waiting_on_commits());
    assert_eq!(s.serve().unwrap(), 1, "one commit slot left");
    assert!(s.waiting_on_commits());
    assert_eq!(s.serve().unwrap(), 0);
    assert!(s.waiting_on_commits());
    g.mem.write(RING + netring::COM_HEAD, &1u32.to_le_bytes()).unwrap();
    assert_eq!(s.serve().unwrap(), 1);
    assert!(!s.waiting_on_commits());
}

#[test]
fn a_com_head_beyond_the_commits_is_fatal() {
    let port = Port::default();
    let mut g = Guest::new();
    g.mem.write(RING + netring::COM_HEAD, &0x8000_0000u32.to_le_bytes()).unwrap();
    g.push(2, 1, 0x4000, 1514);
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    assert!(matches!(s.serve(), Err(RingFault::Commits { ahead: 0x8000_0000 })));
}

#[test]
fn the_host_indices_survive_a_guest_scribbling_over_them() {
    let port = Port::default();
    let mut g = Guest::new();
    g.mem.write(0x2000, b"frame").unwrap();
    g.push(1, 1, 0x2000, 5);
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    s.serve().unwrap();
    g.mem.write(RING + netring::ENT_HEAD, &0u32.to_le_bytes()).unwrap();
    assert_eq!(s.serve().unwrap(), 0, "entry 0 is not sent twice");
    s.set_needs_kick(true).unwrap();
    assert_eq!(g.word(netring::NEEDS_KICK), 1);
}

const BLOCK_WRITE: u32 = Op::BlockWrite as u32;
const BLOCK_READ: u32 = Op::BlockRead as u32;

#[test]
fn block_requests_reach_the_file_and_commit_in_order() {
    let (disk, port) = Disk::new("rw");
    let mut g = Guest::new();
    g.mem.write(0x2000, &[0xee; 1024]).unwrap();
    g.push_at(BLOCK_WRITE, 2, 0x2000, 1024, 4096);
    g.push_at(BLOCK_READ, 2, 0x8000, 2048, 3584);
    g.mem.write(0x3000, b"frame").unwrap();
    g.push(1, 1, 0x3000, 5);
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    assert_eq!(s.serve().unwrap(), 3);
    assert_eq!(g.commit(0), Commit { id: 100, ret: 0, len: 1024 });
    assert_eq!(g.commit(1), Commit { id: 101, ret: 0, len: 2048 });
    assert_eq!(g.word(netring::COM_TAIL), 2, "the frame's write commits nothing");
    let file = disk.bytes();
    assert_eq!(&file[4096..5120], &[0xee; 1024][..], "written where asked");
    assert_eq!((file[4095], file[5120]), (7, 10), "and nowhere else");
    let read = g.mem.slice(0x8000, 2048).unwrap();
    assert_eq!(&read[..512], &[7; 512][..]);
    assert_eq!(&read[512..1536], &[0xee; 1024][..], "reads see the write before them");
    assert_eq!(&read[1536..], &[10; 512][..]);
}

#[test]
fn a_block_request_outside_the_disk_or_to_no_disk_commits_einval_and_touches_nothing() {
    let (disk, port) = Disk::new("einval");
    let mut g = Guest::new();
    g.mem.write(0x2000, &[0xee; 1024]).unwrap();
    g.push_at(BLOCK_WRITE, 2, 0x2000, 1024, 65536 - 512); // ends past the disk
    g.push_at(BLOCK_READ, 2, 0x8000, 512, 65536); // starts at its end
    g.push_at(BLOCK_READ, 2, 0x8000, 512, u64::MAX - 100); // overflows
    g.push_at(BLOCK_READ, 1, 0x8000, 512, 0); // a net device
    g.push_at(BLOCK_WRITE, 5, 0x2000, 512, 0); // nothing
                                               // Checked before the buffer, as by hypercall: a bad buffer here is no fault.
    g.push_at(BLOCK_READ, 2, u64::MAX - 10, 512, 65536);
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    assert_eq!(s.serve().unwrap(), 6);
    for i in 0..6 {
        assert_eq!(g.commit(i), Commit { id: 100 + i, ret: Ret::Einval as i32, len: 0 }, "entry {i}");
    }
    assert_eq!(disk.bytes(), (0..128u8).flat_map(|i| [i; 512]).collect::<Vec<_>>());
    assert_eq!(g.mem.slice(0x8000, 512).unwrap(), &[0; 512][..]);
}

#[test]
fn a_block_request_with_a_bad_buffer_is_fatal() {
    let (_disk, port) = Disk::new("fatal");
    let mut g = Guest::new();
    g.push_at(BLOCK_WRITE, 2, (4 << 20) - 256, 512, 0);
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    assert!(matches!(s.serve(), Err(RingFault::Buffer { index: 0, .. })));

    let mut g = Guest::new();
    g.mem.protect_readonly(0x20_0000, 0x20_1000).unwrap();
    g.push_at(BLOCK_READ, 2, 0x20_0000, 512, 0);
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    assert!(matches!(s.serve(), Err(RingFault::Buffer { .. })), "never into read-only memory");
    assert_eq!(g.word(netring::COM_TAIL), 0, "nothing committed");
}

#[test]
fn block_requests_wait_for_a_free_commit_slot() {
    let (_disk, port) = Disk::new("full");
    let mut g = Guest::new();
    for _ in 0..netring::SLOTS - 1 {
        g.push_at(BLOCK_READ, 2, 0x8000, 512, 0);
    }
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    assert_eq!(s.serve().unwrap(), netring::SLOTS - 1);
    g.push_at(BLOCK_WRITE, 2, 0x8000, 512, 512);
    g.push_at(BLOCK_WRITE, 2, 0x8000, 512, 1024);
    assert_eq!(s.serve().unwrap(), 1, "one commit slot left");
    assert!(s.waiting_on_commits());
    g.mem.write(RING + netring::COM_HEAD, &1u32.to_le_bytes()).unwrap();
    assert_eq!(s.serve().unwrap(), 1);
    assert_eq!(g.commit(netring::SLOTS), Commit { id: 100 + netring::SLOTS, ret: 0, len: 512 });
}

#[test]
fn a_block_request_bigger_than_a_piece_is_done_whole_and_committed_once() {
    let (disk, port) = Disk::sized("pieces", 6 * 1024); // 3 MiB
    let mut g = Guest::new();
    let len = (2 << 20) + 4096; // two pieces and a bit
    g.push_at(BLOCK_READ, 2, 0x18_0000, len, 512);
    let mut s = RingServer::new(g.mem.shared(), RING, &port);
    assert_eq!(s.serve().unwrap(), 1);
    assert_eq!(g.commit(0), Commit { id: 100, ret: 0, len });
    assert_eq!(g.mem.slice(0x18_0000, len as u64).unwrap(), &disk.bytes()[512..512 + len as usize]);
    g.mem.write(0x18_0000, &vec![0x3c; len as usize]).unwrap();
    g.push_at(BLOCK_WRITE, 2, 0x18_0000, len, 1024);
    assert_eq!(s.serve().unwrap(), 1);
    assert_eq!(g.commit(1), Commit { id: 101, ret: 0, len });
    let file = disk.bytes();
    assert!(file[1024..1024 + len as usize].iter().all(|&b| b == 0x3c));
    assert_eq!((file[1023], file[1024 + len as usize]), (1, 10));
}

#[test]
fn once_tender_stops_the_guest_no_more_entries_are_served() {
    let (_disk, port) = Disk::new("stop");
    let mut g = Guest::new();
    for _ in 0..100 {
        g.push_at(BLOCK_WRITE, 2, 0x2000, 65536, 0);
    }
    let stop = Arc::new(AtomicBool::new(true));
    let mut s = RingServer::new(g.mem.shared(), RING, &port).stop_when(stop);
    assert_eq!(s.serve().unwrap(), 0);
    assert_eq!((g.word(netring::ENT_HEAD), g.word(netring::COM_TAIL)), (0, 0), "nothing served or committed");
}
