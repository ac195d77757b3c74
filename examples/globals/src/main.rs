//! globals: checks initialized statics (.data), a 64 KiB zeroed static (.bss)
//! and the heap are really there and writable, and prints the guest's memory size;
//! SUCCESS and exit 0, else exit 1.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};
use core::sync::atomic::{AtomicU64, Ordering};
use guest_rt::println;

guest_rt::manifest!();
guest_rt::entry!(main);

const BIG: usize = 64 * 1024;

static COUNTER: AtomicU64 = AtomicU64::new(0x1234_5678_9abc_def0);
static mut TABLE: [u32; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
static mut ZEROED: [u8; BIG] = [0; BIG];
static GREETING: &str = "read-only data";

fn data() -> bool {
    if COUNTER.load(Ordering::Relaxed) != 0x1234_5678_9abc_def0 {
        println!("FAIL: COUNTER does not hold its initializer");
        return false;
    }
    COUNTER.fetch_add(1, Ordering::Relaxed);
    let table = addr_of_mut!(TABLE);
    // SAFETY: single-threaded; volatile accesses through a raw pointer to the
    // static, so the compiler cannot fold them into its known initializer.
    let (sum, doubled) = unsafe {
        let sum: u32 = (0..8).map(|i| read_volatile(&(*table)[i])).sum();
        for i in 0..8 {
            write_volatile(&mut (*table)[i], read_volatile(&(*table)[i]) * 2);
        }
        (sum, (0..8).map(|i| read_volatile(&(*table)[i])).sum::<u32>())
    };
    let ok = sum == 36 && doubled == 72 && COUNTER.load(Ordering::Relaxed) == 0x1234_5678_9abc_def1;
    // SAFETY: GREETING is an initialized immutable static; volatile read of its length.
    let glen = unsafe { read_volatile(&addr_of!(GREETING).read().len()) };
    println!("data: table sum {sum}, doubled {doubled}, greeting {glen} bytes");
    if !ok || glen != 14 {
        println!("FAIL: initialized statics are wrong");
    }
    ok && glen == 14
}

fn bss() -> bool {
    let big = addr_of_mut!(ZEROED);
    // SAFETY: as in `data`: single-threaded volatile accesses to the static.
    let (nonzero, pattern_ok) = unsafe {
        let nonzero = (0..BIG).filter(|&i| read_volatile(&(*big)[i]) != 0).count();
        for i in 0..BIG {
            write_volatile(&mut (*big)[i], i as u8 ^ 0x5a);
        }
        (nonzero, (0..BIG).all(|i| read_volatile(&(*big)[i]) == i as u8 ^ 0x5a))
    };
    println!("bss: {BIG} bytes, {nonzero} nonzero before writing");
    if nonzero != 0 || !pattern_ok {
        println!("FAIL: zero-initialized static is not zero or not writable");
    }
    nonzero == 0 && pattern_ok
}

fn heap() -> bool {
    let (start, end) = guest_rt::heap::range();
    let v: Vec<u64> = (0..10_000).collect();
    let sum: u64 = v.iter().sum();
    let inside = (start..end).contains(&(v.as_ptr() as u64));
    let mem_mib = guest_rt::boot_info().mem_size >> 20;
    println!("memory: {mem_mib} MiB; heap: {} KiB, vec sum {sum}", (end - start) / 1024);
    if sum != 49_995_000 || !inside {
        println!("FAIL: heap allocation is wrong");
    }
    sum == 49_995_000 && inside
}

fn main() -> i32 {
    let ok = data() & bss() & heap();
    if ok {
        println!("SUCCESS");
        0
    } else {
        println!("FAILURE");
        1
    }
}
