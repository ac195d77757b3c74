//! blk: exercises its disk "storage".
//!
//! - no argument: writes a pattern over the whole disk with multi-block writes,
//!   reads it back with multi-block and single-block reads, checks that requests
//!   at or across the end fail with EINVAL (from the host) and misaligned ones
//!   are refused (by guest-rt); SUCCESS and exit 0, or what went wrong and exit 1.
//! - `hold`: writes the pattern, prints WRITTEN, then sleeps until killed.
//! - `fill`: writes the pattern block by block until a write fails; exit 0 if
//!   that is EUNSPEC (the host's disk is full) after at least one block.
//!
//! The byte at disk offset `o` is `((o % 251) as u8) ^ ((o / block_size) as u8)`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use core::time::Duration;
use guest_rt::block::BlockDevice;
use guest_rt::clock::{self, monotonic_ns};
use guest_rt::io::IoError;
use guest_rt::println;

guest_rt::manifest!(block "storage");
guest_rt::entry!(main);

/// Bytes per multi-block request (a multiple of every block size).
const CHUNK: u64 = 1 << 20;
/// How many single-block reads, spread evenly over the disk.
const SINGLE_READS: u64 = 64;

/// The pattern bytes from disk offset `o` on: `(o % 251) ^ (o / block_size)`,
/// without a division per byte (block sizes are powers of two).
struct Pattern {
    o: u64,
    rem: u64,
    shift: u32,
}

impl Pattern {
    fn at(o: u64, block_size: u64) -> Pattern {
        Pattern { o, rem: o % 251, shift: block_size.trailing_zeros() }
    }
}

impl Iterator for Pattern {
    type Item = (u64, u8);

    /// The next offset and its byte.
    fn next(&mut self) -> Option<(u64, u8)> {
        let item = (self.o, (self.rem as u8) ^ ((self.o >> self.shift) as u8));
        self.o += 1;
        self.rem = if self.rem == 250 { 0 } else { self.rem + 1 };
        Some(item)
    }
}

/// Fills `buf` with the pattern of the disk bytes starting at `offset`.
fn fill_pattern(buf: &mut [u8], offset: u64, block_size: u64) {
    for (b, (_, p)) in buf.iter_mut().zip(Pattern::at(offset, block_size)) {
        *b = p;
    }
}

/// The first byte of `buf` (read at `offset`) that is not the pattern:
/// its offset, what was read and what was written.
fn mismatch(buf: &[u8], offset: u64, block_size: u64) -> Option<(u64, u8, u8)> {
    buf.iter()
        .zip(Pattern::at(offset, block_size))
        .find(|(&got, (_, p))| got != *p)
        .map(|(&g, (o, p))| (o, g, p))
}

/// Throughput in MB/s (10^6 bytes), integer arithmetic.
fn mb_per_s(bytes: u64, ns: u64) -> u64 {
    (u128::from(bytes) * 1000 / u128::from(ns.max(1))) as u64
}

fn main() -> i32 {
    let Some(disk) = BlockDevice::find("storage") else {
        println!("blk: no block device 'storage' in the manifest copy");
        return 1;
    };
    println!("storage: capacity {} bytes, block size {}", disk.capacity(), disk.block_size());
    let path = if guest_rt::netring::block_active() { "the ring" } else { "hypercalls" };
    println!("blk: requests via {path}");
    let result = match guest_rt::args().next() {
        None => verify(&disk),
        Some("hold") => hold(&disk),
        Some("fill") => fill(&disk),
        Some(other) => Err(alloc::format!("unknown mode '{other}' (none, hold or fill)")),
    };
    match result {
        Ok(()) => 0,
        Err(why) => {
            println!("blk: FAILURE: {why}");
            1
        }
    }
}

/// Writes the pattern over the whole disk, `CHUNK` bytes per request.
fn write_pattern(disk: &BlockDevice) -> Result<(), alloc::string::String> {
    let (cap, bs) = (disk.capacity(), disk.block_size());
    let mut buf = vec![0u8; CHUNK.min(cap) as usize];
    let (mut off, mut io_ns) = (0, 0);
    while off < cap {
        let n = (cap - off).min(CHUNK) as usize;
        fill_pattern(&mut buf[..n], off, bs);
        let start = monotonic_ns();
        disk.write(off, &buf[..n]).map_err(|e| alloc::format!("write of {n} bytes at {off}: {e}"))?;
        io_ns += monotonic_ns() - start;
        off += n as u64;
    }
    println!("wrote {cap} bytes in {} us of writes ({} MB/s)", io_ns / 1000, mb_per_s(cap, io_ns));
    Ok(())
}

/// Reads `buf.len()` bytes at `offset` and checks them against the pattern;
/// returns the nanoseconds the read took.
fn check_read(disk: &BlockDevice, buf: &mut [u8], offset: u64) -> Result<u64, alloc::string::String> {
    let start = monotonic_ns();
    disk.read(offset, buf).map_err(|e| alloc::format!("read of {} bytes at {offset}: {e}", buf.len()))?;
    let ns = monotonic_ns() - start;
    match mismatch(buf, offset, disk.block_size()) {
        None => Ok(ns),
        Some((o, got, want)) => Err(alloc::format!("byte {o} is {got:#04x}, wrote {want:#04x}")),
    }
}

/// Expects `r` to be the error `want`.
fn expect_err(what: &str, r: Result<(), IoError>, want: IoError) -> Result<(), alloc::string::String> {
    match r {
        Err(e) if e == want => {
            println!("{what}: {e}, as expected");
            Ok(())
        }
        other => Err(alloc::format!("{what}: got {other:?}, expected {want}")),
    }
}

fn verify(disk: &BlockDevice) -> Result<(), alloc::string::String> {
    let (cap, bs) = (disk.capacity(), disk.block_size());
    write_pattern(disk)?;

    // Multi-block reads over the whole disk.
    let mut buf = vec![0u8; CHUNK.min(cap) as usize];
    let (mut off, mut io_ns) = (0, 0);
    while off < cap {
        let n = (cap - off).min(CHUNK) as usize;
        io_ns += check_read(disk, &mut buf[..n], off)?;
        off += n as u64;
    }
    println!("read back {cap} bytes in {} us of reads ({} MB/s)", io_ns / 1000, mb_per_s(cap, io_ns));

    // Single blocks spread over the disk (the last one included), and a
    // multi-block read that starts and ends off the chunk grid.
    let blocks = disk.blocks();
    let mut one = vec![0u8; bs as usize];
    for k in 0..SINGLE_READS.min(blocks) {
        let block = k * (blocks - 1) / (SINGLE_READS.min(blocks) - 1).max(1);
        check_read(disk, &mut one, block * bs)?;
    }
    if blocks >= 4 {
        check_read(disk, &mut vec![0u8; 3 * bs as usize], bs)?;
    }
    println!("single-block and odd multi-block reads match");

    // The host checks the range (EINVAL); guest-rt checks the alignment.
    let mut two = vec![0u8; 2 * bs as usize];
    expect_err("read at the capacity", disk.read(cap, &mut one), IoError::Invalid)?;
    fill_pattern(&mut one, cap, bs);
    expect_err("write at the capacity", disk.write(cap, &one), IoError::Invalid)?;
    expect_err("read across the end", disk.read(cap - bs, &mut two), IoError::Invalid)?;
    fill_pattern(&mut two, cap - bs, bs);
    expect_err("write across the end", disk.write(cap - bs, &two), IoError::Invalid)?;
    expect_err("read at a misaligned offset", disk.read(1, &mut one), IoError::Misaligned)?;
    expect_err("read of half a block", disk.read(0, &mut one[..bs as usize / 2]), IoError::Misaligned)?;
    // The refused requests changed nothing.
    if blocks >= 2 {
        check_read(disk, &mut two, cap - bs * 2)?;
    }
    println!("SUCCESS");
    Ok(())
}

fn hold(disk: &BlockDevice) -> Result<(), alloc::string::String> {
    write_pattern(disk)?;
    println!("WRITTEN");
    loop {
        clock::sleep(Duration::from_secs(3600));
    }
}

fn fill(disk: &BlockDevice) -> Result<(), alloc::string::String> {
    let bs = disk.block_size();
    let mut block = vec![0u8; bs as usize];
    for n in 0..disk.blocks() {
        fill_pattern(&mut block, n * bs, bs);
        match disk.write(n * bs, &block) {
            Ok(()) => {}
            Err(IoError::Unspecified) if n > 0 => {
                println!("EUNSPEC after {n} blocks");
                return Ok(());
            }
            Err(e) => return Err(alloc::format!("write of block {n} failed: {e}")),
        }
    }
    Err(alloc::format!("all {} blocks written: the disk never filled up", disk.blocks()))
}
