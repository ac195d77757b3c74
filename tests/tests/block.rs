//! Block devices on real files: the `blk` guest writes and verifies a pattern
//! across the disk; the host checks the file, the capacity rules, a full disk,
//! a SIGTERM mid-run, and 61 disks at once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tender_tests::craft::{self, temp_file, Notes};
use tender_tests::guest::Background;
use tender_tests::{image, kvm_available, run_with_timeout, tender, Outcome};

/// The byte the `blk` guest writes at disk offset `o` (see examples/blk).
fn pattern(o: u64, block_size: u64) -> u8 {
    ((o % 251) as u8) ^ ((o / block_size) as u8)
}

/// The two ways a guest-rt guest reaches its disk, as `blk` reports them: the ring tender
/// offers (ours: block requests ride the net ring) and one hypercall per request.
const PATHS: [(&[&str], &str); 2] =
    [(&[], "requests via the ring"), (&["--no-net-ring"], "requests via hypercalls")];

fn disk(test: &str, len: usize) -> PathBuf {
    temp_file(test, "disk.img", &vec![0u8; len])
}

fn blk(args: &[&str], disk: &Path, sector: Option<u64>, guest_args: &[&str]) -> Outcome {
    let mut c = Command::new(tender());
    c.args(args).arg(format!("--block:storage={}", disk.display()));
    if let Some(s) = sector {
        c.arg(format!("--block-sector-size:storage={s}"));
    }
    c.arg(image("blk")).args(guest_args);
    run_with_timeout(&mut c, Duration::from_secs(60))
}

fn assert_pattern(disk: &Path, block_size: u64) {
    let data = std::fs::read(disk).unwrap();
    for (o, b) in data.iter().enumerate() {
        assert_eq!(*b, pattern(o as u64, block_size), "{}: byte {o} differs", disk.display());
    }
}

#[test]
fn blk_writes_and_verifies_the_whole_disk() {
    if !kvm_available("blk_writes_and_verifies_the_whole_disk") {
        return;
    }
    for (options, path) in PATHS {
        let d = disk("blk512", 1 << 20);
        let o = blk(options, &d, None, &[]);
        o.expect_code(0).expect_stdout(path).expect_stdout("SUCCESS");
        // The guest also checked that requests at and across the end fail with EINVAL.
        o.expect_stdout("EINVAL, as expected");
        assert_pattern(&d, 512);
    }
}

#[test]
fn blk_with_4096_byte_sectors() {
    if !kvm_available("blk_with_4096_byte_sectors") {
        return;
    }
    for (options, path) in PATHS {
        let d = disk("blk4096", 1 << 20);
        let o = blk(options, &d, Some(4096), &[]);
        o.expect_code(0).expect_stdout(path).expect_stdout("block size 4096").expect_stdout("SUCCESS");
        assert_pattern(&d, 4096);
    }
}

#[test]
fn capacity_must_be_a_multiple_of_the_sector_size() {
    let d = disk("blkodd", 4096 + 100);
    blk(&[], &d, None, &[]).expect_code(1).expect_stderr("not a multiple of the block size 512");
    let d = disk("blksmall", 2048);
    blk(&[], &d, Some(4096), &[]).expect_code(1).expect_stderr("smaller than one 4096-byte block");
}

#[test]
fn odd_sector_sizes_are_rejected() {
    let d = disk("blkbadsector", 1 << 16);
    let o = blk(&[], &d, Some(1000), &[]);
    o.expect_code(1).expect_stderr("Malformed argument to --block-sector-size");
    blk(&[], &d, Some(256), &[]).expect_code(1).expect_stderr("Malformed argument to --block-sector-size");
}

#[test]
fn missing_disk_and_undeclared_devices_are_errors() {
    let hello = image("hello");
    blk(&[], Path::new("/nonexistent/disk.img"), None, &[])
        .expect_code(1)
        .expect_stderr("could not open /nonexistent/disk.img");
    let o = run_with_timeout(Command::new(tender()).arg(image("blk")), Duration::from_secs(10));
    o.expect_code(1).expect_stderr("not attached: 'storage'");
    let d = disk("blkundeclared", 4096);
    let o = run_with_timeout(
        Command::new(tender()).arg(format!("--block:storage={}", d.display())).arg(&hello),
        Duration::from_secs(10),
    );
    o.expect_code(1).expect_stderr("Resource not declared in manifest: 'storage'");
}

#[test]
fn sigterm_keeps_acknowledged_writes() {
    if !kvm_available("sigterm_keeps_acknowledged_writes") {
        return;
    }
    let d = disk("blkterm", 1 << 20);
    let mut guest = Background::start(
        Command::new(tender()).arg(format!("--block:storage={}", d.display())).arg(image("blk")).arg("hold"),
    );
    guest.wait_for("WRITTEN", Duration::from_secs(60));
    assert_eq!(guest.terminate(), Some(1), "{}", guest.stderr());
    assert!(guest.stderr().contains("Exiting on signal 15"), "{}", guest.stderr());
    assert_pattern(&d, 512);
}

#[test]
fn full_disk_is_eunspec_not_a_crash() {
    if !kvm_available("full_disk_is_eunspec_not_a_crash") {
        return;
    }
    // A sparse 8 MiB file on a 1 MiB tmpfs: writes run out of space part way.
    let dir = std::env::temp_dir().join(format!("tender-full-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mounted =
        Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m", "tender-full"]).arg(&dir).status();
    if !mounted.is_ok_and(|s| s.success()) {
        if std::env::var("TENDER_REQUIRE_KVM").as_deref() == Ok("1") {
            panic!("full_disk_is_eunspec_not_a_crash: could not mount a tmpfs");
        }
        eprintln!("SKIP full_disk_is_eunspec_not_a_crash: cannot mount a tmpfs here");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _guard = Unmount(dir.clone());
    for (options, path) in PATHS {
        let d = dir.join("disk.img");
        std::fs::File::create(&d).unwrap().set_len(8 << 20).unwrap();
        let o = blk(options, &d, None, &["fill"]);
        o.expect_code(0).expect_stdout(path).expect_stdout("EUNSPEC");
        assert!(o.stderr.contains("No space left on device"), "the host logs the I/O error:\n{o}");
        std::fs::remove_file(&d).unwrap();
    }
}

#[test]
fn sixty_one_disks_and_two_nics_at_once() {
    if !kvm_available("sixty_one_disks_and_two_nics_at_once")
        || !tender_tests::netns::netns_available("sixty_one_disks_and_two_nics_at_once")
    {
        return;
    }
    let ns = tender_tests::netns::NetNs::new("multi");
    ns.tap("tap0", Some("10.0.0.1/25"), None);
    ns.tap("tap1", Some("10.0.0.129/25"), None);
    let disks: Vec<PathBuf> =
        (1..=61).map(|i| temp_file("multi", &format!("disk{i}.img"), &[0u8; 512])).collect();
    let mut c = ns.command(tender().to_str().unwrap());
    for (i, d) in disks.iter().enumerate() {
        c.arg(format!("--block:disk{}={}", i + 1, d.display()));
    }
    c.args(["--net:net0=tap0", "--net:net1=tap1"]).arg(image("multi"));
    let o = run_with_timeout(&mut c, Duration::from_secs(60));
    o.expect_code(0).expect_stdout("SUCCESS");
    for (i, d) in disks.iter().enumerate() {
        let data = std::fs::read(d).unwrap();
        let name = format!("disk{}", i + 1);
        assert_eq!(&data[..name.len()], name.as_bytes(), "{} holds its name", d.display());
    }
}

#[test]
fn only_a_disk_guest_that_asks_gets_the_ring_and_solo5_built_ones_see_solo5_hvt_boot_info() {
    if !kvm_available(
        "only_a_disk_guest_that_asks_gets_the_ring_and_solo5_built_ones_see_solo5_hvt_boot_info",
    ) {
        return;
    }
    use tender_tests::craft::code;
    // The guest exits with boot info's `host_features` (0x10000 + 40): bit 0 is the ring.
    let host_features = code::halt_with_word_at(0x10000 + 40);
    let d = disk("blkfeatures", 4096);
    let cases = [
        ("a Solo5-built disk guest (no tender note)", None, &[][..], 0),
        ("a disk guest with tender's note", Some(abi::note::FEATURE_BLOCK_RING), &[][..], 1),
        ("the same with --no-net-ring", Some(abi::note::FEATURE_BLOCK_RING), &["--no-net-ring"][..], 0),
        ("a note without the block bit", Some(0), &[][..], 0),
    ];
    for (what, features, options, status) in cases {
        let notes = Notes { with_block: true, tender_features: features, ..Notes::default() };
        let img = temp_file("blkfeatures", "guest.hvt", &craft::image(&host_features, &[], notes));
        let mut c = Command::new(tender());
        c.args(options).arg(format!("--block:disk0={}", d.display())).arg(&img);
        run_with_timeout(&mut c, Duration::from_secs(20)).expect_code(status);
        eprintln!("{what}: host_features {status}");
    }
}

/// x86_64 code that fills the net ring with 1023 block reads (disk handle 1, 120 MiB each into
/// guest memory at 16 MiB), publishes them, rings the doorbell, waits until the host has done
/// the first, and HALTs with status 7.
fn ring_backlog_then_halt() -> Vec<u8> {
    let mut c = vec![0x48, 0x8b, 0x47, 0x30]; // mov rax, [rdi+48]: the ring
    c.extend([0x31, 0xc9]); // xor ecx, ecx
    let top = c.len();
    c.extend([0x48, 0x89, 0xca]); // mov rdx, rcx
    c.extend([0x48, 0xc1, 0xe2, 0x05]); // shl rdx, 5
    c.extend([0x48, 0x8d, 0x94, 0x10, 0x80, 0, 0, 0]); // lea rdx, [rax + rdx + 128]
    for (disp, v) in [(0u8, 0x101u32), (4, 1), (8, 16 << 20), (12, 0), (16, 120 << 20)] {
        c.extend([0xc7, 0x42, disp]); // mov dword [rdx + disp], v
        c.extend(v.to_le_bytes());
    }
    c.extend([0x89, 0x4a, 0x14]); // mov [rdx + 20], ecx: id
    c.extend([0xff, 0xc1]); // inc ecx
    c.extend([0x81, 0xf9]); // cmp ecx, 1023
    c.extend(1023u32.to_le_bytes());
    let back = top as i32 - (c.len() as i32 + 6);
    c.extend([0x0f, 0x85]); // jne top
    c.extend(back.to_le_bytes());
    c.extend([0xc7, 0x00]); // mov dword [rax], 1023: ent_tail
    c.extend(1023u32.to_le_bytes());
    c.extend([0x48, 0x89, 0xc6]); // mov rsi, rax: the ring, as the doorbell needs eax
    c.extend([0x66, 0xba, 0x00, 0x06, 0x31, 0xc0, 0xef]); // mov dx, 0x600; xor eax, eax; out dx, eax
                                                          // Wait until the host has done the first request (ent_head moves), so it is mid-backlog.
    c.extend([0x83, 0x7e, 0x40, 0x00]); // cmp dword [rsi + 64], 0
    c.extend([0x74, 0xfa]); // je (back to the cmp)
    c.extend([0xc7, 0x04, 0x25]); // mov dword [SCRATCH + 8], 7: the HALT status
    c.extend((craft::SCRATCH as u32 + 8).to_le_bytes());
    c.extend(7u32.to_le_bytes());
    c.extend(craft::asm::hypercall(8, craft::SCRATCH as u32));
    c.extend_from_slice(craft::asm::SPIN);
    c
}

#[test]
fn a_guest_that_halts_with_gigabytes_of_block_requests_queued_stops_at_once() {
    let test = "a_guest_that_halts_with_gigabytes_of_block_requests_queued_stops_at_once";
    if !kvm_available(test) {
        return;
    }
    if cfg!(target_arch = "aarch64") {
        eprintln!("SKIP {test}: the crafted guest is x86_64 code");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tender-backlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.join("disk.img");
    std::fs::File::create(&d).unwrap().set_len(120 << 20).unwrap(); // sparse
    let notes =
        Notes { with_block: true, tender_features: Some(abi::note::FEATURE_BLOCK_RING), ..Notes::default() };
    let img = temp_file("backlog", "guest.hvt", &craft::image(&ring_backlog_then_halt(), &[], notes));
    let start = std::time::Instant::now();
    let mut c = Command::new(tender());
    c.arg("--mem=256").arg(format!("--block:disk0={}", d.display())).arg(&img);
    let o = run_with_timeout(&mut c, Duration::from_secs(120));
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    o.expect_code(7);
    // 1023 x 120 MiB is 120 GiB to read: many seconds. Stopping cuts it at the next 1 MiB.
    assert!(secs < 5.0, "tender took {secs:.1} s to stop after the guest halted:\n{o}");
    eprintln!("measured: halted with 120 GiB of reads queued, tender exited in {secs:.2} s");
}

#[test]
fn a_block_request_on_the_ring_into_read_only_memory_stops_the_guest_with_one_line() {
    let test = "a_block_request_on_the_ring_into_read_only_memory_stops_the_guest_with_one_line";
    if !kvm_available(test) {
        return;
    }
    let d = disk("blkringro", 4096);
    let notes =
        Notes { with_block: true, tender_features: Some(abi::note::FEATURE_BLOCK_RING), ..Notes::default() };
    // A read of 512 bytes into the guest's own (read-only) code.
    let code = craft::code::ring_entry(0x101, 1, 0x10_0000, 512);
    let img = temp_file("blkringro", "guest.hvt", &craft::image(&code, &[], notes));
    let mut c = Command::new(tender());
    c.arg(format!("--block:disk0={}", d.display())).arg(&img);
    let o = run_with_timeout(&mut c, Duration::from_secs(20));
    o.expect_code(1).expect_stderr("Guest error: net ring entry 0: bad buffer");
    assert_eq!(o.stderr.lines().count(), 1, "one line:\n{o}");
}
