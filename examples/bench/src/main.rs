//! bench: what `cargo xtask bench` measures from inside a guest, each printed as one
//! `bench: KEY VALUE` line for the host to read.
//!
//! - `hypercall N`: N WALLTIME hypercalls (the cheapest round trip to the tender) in a loop:
//!   `bench: hypercall_ns <ns per call>`.
//! - `block SIZE TOTAL`: sequential writes, then reads, of TOTAL bytes in SIZE-byte requests
//!   on its disk "storage": `bench: block_write_mbps <MB/s>` and `bench: block_read_mbps`.
//!   (The disk is declared for every mode: attach a small one for `hypercall`.)
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use guest_rt::block::BlockDevice;
use guest_rt::clock::monotonic_ns;
use guest_rt::hypercall;
use guest_rt::println;

guest_rt::manifest!(block "storage");
guest_rt::entry!(main);

fn number(arg: Option<&str>, what: &str) -> Option<u64> {
    let n = arg.and_then(|a| a.parse().ok());
    if n.is_none() {
        println!("bench: need a number for {what}");
    }
    n
}

fn hypercalls(n: u64) -> i32 {
    let start = monotonic_ns();
    let mut sink = 0u64;
    for _ in 0..n {
        sink = sink.wrapping_add(hypercall::walltime_ns());
    }
    let elapsed = monotonic_ns() - start;
    println!("bench: hypercall_ns {}", elapsed / n.max(1));
    i32::from(sink == 0)
}

/// MB/s (10^6 bytes per second) for `bytes` in `ns`.
fn mbps(bytes: u64, ns: u64) -> u64 {
    bytes.saturating_mul(1000) / ns.max(1)
}

fn block(size: u64, total: u64) -> i32 {
    let Some(disk) = BlockDevice::find("storage") else {
        println!("bench: no disk 'storage'");
        return 1;
    };
    let total = total.min(disk.capacity()) / size * size;
    if !size.is_multiple_of(disk.block_size()) || total == 0 {
        println!("bench: request size {size} does not fit the disk");
        return 1;
    }
    let mut buf = vec![0x5au8; size as usize];
    let start = monotonic_ns();
    for off in (0..total).step_by(size as usize) {
        if disk.write(off, &buf).is_err() {
            println!("bench: write failed at {off}");
            return 1;
        }
    }
    println!("bench: block_write_mbps {}", mbps(total, monotonic_ns() - start));
    let start = monotonic_ns();
    for off in (0..total).step_by(size as usize) {
        if disk.read(off, &mut buf).is_err() {
            println!("bench: read failed at {off}");
            return 1;
        }
    }
    println!("bench: block_read_mbps {}", mbps(total, monotonic_ns() - start));
    0
}

fn main() -> i32 {
    let mut args = guest_rt::args();
    match args.next() {
        Some("hypercall") => number(args.next(), "N").map_or(1, hypercalls),
        Some("block") => match (number(args.next(), "SIZE"), number(args.next(), "TOTAL")) {
            (Some(size), Some(total)) => block(size, total),
            _ => 1,
        },
        _ => {
            println!("bench: usage: hypercall N | block SIZE TOTAL");
            1
        }
    }
}
