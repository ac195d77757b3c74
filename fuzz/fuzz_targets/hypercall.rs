//! Hypercall decoding over arbitrary guest memory: any number, any argument address, any
//! argument struct contents end in a result or a guest error, never a panic or a host access
//! outside guest memory (the sanitizer watches). POLL is left out: its timeout is the guest's
//! to choose and would only make the fuzzer wait.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use tender::devices::Devices;
use tender::memory::GuestMemory;

const MEM: u64 = 2 << 20;

thread_local! {
    static GUEST: RefCell<GuestMemory> = RefCell::new(GuestMemory::new(MEM).expect("2 MiB of guest memory"));
}

fuzz_target!(|data: &[u8]| {
    let Some((&[nr, a0, a1, a2, a3], rest)) = data.split_first_chunk::<5>() else { return };
    let nr = u32::from(nr % 10);
    if nr == 3 {
        return;
    }
    // Arguments near the start of memory, where the fuzzer's bytes are, or anywhere.
    let arg = u64::from(u32::from_le_bytes([a0, a1, a2, a3]));
    GUEST.with(|g| {
        let mut mem = g.borrow_mut();
        let len = rest.len().min(64 << 10);
        mem.write(0, &rest[..len]).expect("inside guest memory");
        let _ = tender::hypercall::handle(&mut mem, &Devices::default(), nr, arg);
    });
});
