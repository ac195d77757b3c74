//! The net ring served over arbitrary ring contents: any indices, ops, handles, buffers,
//! lengths and disk offsets end in served entries, commits or a guest fault, never a panic,
//! a hang or a host access outside guest memory or the disk (the sanitizer watches). Block
//! requests (ours) go to a real 4 KiB file; frames go nowhere.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use tender::block::BlockDevice;
use tender::memory::GuestMemory;
use tender::net::ring::{Backends, RingServer};

const MEM: u64 = 2 << 20;
/// Where the ring is: the fuzzer's bytes are its indices and entries.
const RING: u64 = 0x1000;

/// Net device 1 (sends vanish, nothing to receive) and disk 2.
struct Devices {
    disk: BlockDevice,
}

impl Backends for &Devices {
    fn send(&self, handle: u32, _frame: &[u8]) -> Option<abi::hypercall::Ret> {
        (handle == 1).then_some(abi::hypercall::Ret::Ok)
    }
    fn receive(&self, handle: u32, _buf: &mut [u8]) -> Option<(abi::hypercall::Ret, usize)> {
        (handle == 1).then_some((abi::hypercall::Ret::Again, 0))
    }
    fn dropped(&self, _why: std::fmt::Arguments<'_>) {}
    fn disk(&self, handle: u32) -> Option<&BlockDevice> {
        (handle == 2).then_some(&self.disk)
    }
}

thread_local! {
    static GUEST: RefCell<GuestMemory> = RefCell::new(GuestMemory::new(MEM).expect("2 MiB of guest memory"));
    static DEVICES: Devices = {
        let path = std::env::temp_dir().join(format!("tender-fuzz-ring-{}.img", std::process::id()));
        std::fs::write(&path, [0u8; 4096]).expect("a 4 KiB disk");
        let disk = BlockDevice::open("disk", &path, 512).expect("the disk opens");
        let _ = std::fs::remove_file(&path);
        Devices { disk }
    };
}

fuzz_target!(|data: &[u8]| {
    GUEST.with(|g| {
        let mut mem = g.borrow_mut();
        let len = data.len().min(abi::netring::RING_SIZE as usize);
        mem.write(RING, &vec![0u8; abi::netring::RING_SIZE as usize]).expect("inside guest memory");
        mem.write(RING, &data[..len]).expect("inside guest memory");
        DEVICES.with(|d| {
            let mut server = RingServer::new(mem.shared(), RING, d);
            // A few rounds, as the host thread would make while the guest stays still.
            for _ in 0..3 {
                if server.serve().is_err() {
                    break;
                }
            }
        });
    });
});
