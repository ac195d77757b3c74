//! Resource bounds: a guest printing without end cannot grow tender's memory, a long-running
//! server's memory does not grow with its work, and a hundred hostile guests in a row leave
//! no descriptor, TAP or process behind.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tender_tests::craft::{self, code, le, Notes, DATA};
use tender_tests::guest::Background;
use tender_tests::netns::{netns_available, NetNs};
use tender_tests::{image, kvm_available, run_with_timeout, tender};

/// A `/proc/PID/status` field in KiB (VmRSS, VmHWM).
fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} for {pid}:\n{s}"))
}

#[test]
fn endless_output_to_a_slow_reader_keeps_tender_small() {
    if !kvm_available("endless_output_to_a_slow_reader_keeps_tender_small") {
        return;
    }
    // PUTS of 1 MiB from guest memory, forever.
    let code = code::hypercall_forever(2, DATA as u32);
    let img = craft::temp_file(
        "flood",
        "guest.hvt",
        &craft::image(&code, &le(&[0x20_0000, 1 << 20]), Notes::default()),
    );
    let mut child = Command::new(tender())
        .arg("--mem=4")
        .arg(&img)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let mut read = 0usize;
    let start = Instant::now();
    // Read slowly: tender must wait on the pipe, not buffer the guest's output.
    while start.elapsed() < Duration::from_secs(2) {
        read += out.read(&mut buf).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    let peak = status_kib(child.id(), "VmHWM:");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    drop(out);
    let status = child.wait().unwrap();
    assert!(read > 1 << 20, "the guest's output flowed ({read} bytes)");
    assert!(peak < 16 << 10, "peak RSS {peak} KiB while the guest floods a slow pipe");
    assert_eq!(status.code(), Some(1), "stopped by the signal: {status:?}");
}

#[test]
fn a_servers_memory_does_not_grow_with_its_work() {
    if !kvm_available("a_servers_memory_does_not_grow") || !netns_available("a_servers_memory_does_not_grow")
    {
        return;
    }
    let ns = NetNs::new("bounds");
    ns.tap("tap0", Some("10.0.0.1/24"), None);
    let mut c = ns.command(tender().to_str().unwrap());
    c.arg("--net:service=tap0").arg(image("http"));
    let mut guest = Background::start(&mut c);
    guest.wait_for("ready", Duration::from_secs(30));
    let fetch = |n: usize| {
        let script = format!(
            "import urllib.request\nfor _ in range({n}): urllib.request.urlopen('http://10.0.0.2/', timeout=5).read()"
        );
        let o = run_with_timeout(ns.command("python3").args(["-c", &script]), Duration::from_secs(120));
        o.expect_code(0);
    };
    fetch(200);
    let before = status_kib(guest.pid(), "VmRSS:");
    fetch(2000);
    let after = status_kib(guest.pid(), "VmRSS:");
    assert_eq!(guest.terminate(), Some(1));
    assert!(after <= before + 256, "RSS grew from {before} KiB to {after} KiB over 2000 requests");
}

#[test]
fn a_hundred_hostile_guests_leave_nothing_behind() {
    if !kvm_available("a_hundred_hostile_guests") || !netns_available("a_hundred_hostile_guests") {
        return;
    }
    let ns = NetNs::new("hostile100");
    ns.tap("tap0", None, None);
    let links_before = Command::new("ip").args(["-n", &ns.name, "-o", "link"]).output().unwrap().stdout;
    let fds_before = std::fs::read_dir("/proc/self/fd").unwrap().count();
    // The exits only an x86_64 guest can take: a triple fault, HLT.
    #[cfg(target_arch = "x86_64")]
    let arch_only = vec![tender_tests::craft::asm::UD2.to_vec(), tender_tests::craft::asm::HLT.to_vec()];
    #[cfg(not(target_arch = "x86_64"))]
    let arch_only: Vec<Vec<u8>> = Vec::new();
    let cases: Vec<Vec<u8>> = vec![
        code::hypercall(2, 0xFFFF_FFF0), // PUTS outside memory
        code::hypercall(0, DATA as u32), // unknown hypercall
        code::write_own_code(),          // a write to its own code
        code::hypercall(9, DATA as u32), // no such hypercall
        code::hypercall(7, 0xFFFF_FFF0), // NET_READ outside memory
    ]
    .into_iter()
    .chain(arch_only)
    .collect();
    let images: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, code)| {
            craft::temp_file("hostile100", &format!("g{i}.hvt"), &craft::image(code, &[], Notes::default()))
        })
        .collect();
    for n in 0..100 {
        let img = &images[n % images.len()];
        let mut c = ns.command(tender().to_str().unwrap());
        c.arg("--mem=4").arg(img);
        let o = run_with_timeout(&mut c, Duration::from_secs(20));
        assert_eq!(o.code, Some(1), "run {n}: {o}");
        assert_eq!(o.stderr.lines().count(), 1, "run {n}: {o}");
    }
    let links_after = Command::new("ip").args(["-n", &ns.name, "-o", "link"]).output().unwrap().stdout;
    assert_eq!(links_before, links_after, "TAPs appeared or vanished");
    assert_eq!(
        std::fs::read_dir("/proc/self/fd").unwrap().count(),
        fds_before,
        "descriptors leaked into the test"
    );
    let left = Command::new("pgrep")
        .args(["-f", &images[0].parent().unwrap().display().to_string()])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "tender processes left: {}", String::from_utf8_lossy(&left.stdout));
}
