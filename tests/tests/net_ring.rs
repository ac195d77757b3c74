//! The net ring (ABI.md §7) and the hypercall path it replaces, side by side, with real
//! TAPs in a namespace each test creates: a payload-checked ping flood and a TCP stream
//! checked end to end on both paths, the fallback where the ring cannot go, and guests
//! whose ring the host cannot serve.

use std::process::Command;
use std::time::{Duration, Instant};
use tender_tests::craft::{self, Notes};
use tender_tests::guest::Background;
use tender_tests::netns::{netns_available, NetNs};
use tender_tests::{image, kvm_available, run_with_timeout, tender};

fn ready(test: &str) -> bool {
    kvm_available(test) && netns_available(test)
}

/// The two ways a guest-rt guest moves frames, as its examples report them.
const PATHS: [(&[&str], &str); 2] = [(&[], "via net ring"), (&["--no-net-ring"], "via hypercalls")];

/// A namespace with `tap0` at 10.0.0.1/24 and `example` on it, started with `options`.
fn serve(tag: &str, example: &str, options: &[&str]) -> (NetNs, Background) {
    let ns = NetNs::new(tag);
    ns.tap("tap0", Some("10.0.0.1/24"), None);
    let mut c = ns.command(tender().to_str().unwrap());
    c.arg("--net:service=tap0").args(options).arg(image(example));
    let mut guest = Background::start(&mut c);
    guest.wait_for("ready", Duration::from_secs(30));
    (ns, guest)
}

#[test]
fn a_payload_checked_ping_flood_gets_every_echo_over_the_ring_and_over_hypercalls() {
    if !ready("a_payload_checked_ping_flood_gets_every_echo_over_the_ring_and_over_hypercalls") {
        return;
    }
    for (options, path) in PATHS {
        let (ns, mut guest) = serve("ringping", "ping", options);
        assert!(guest.stdout().contains(path), "{path}:\n{}", guest.stdout());
        // ping checks every echo's payload against the pattern and reports a mismatch.
        let start = Instant::now();
        let o = run_with_timeout(
            ns.command("ping").args(["-f", "-q", "-c", "3000", "-s", "1400", "-p", "a55a0ff0c3", "10.0.0.2"]),
            Duration::from_secs(120),
        );
        let secs = start.elapsed().as_secs_f64();
        assert!(o.stdout.contains("3000 packets transmitted, 3000 received"), "{path}:\n{o}");
        assert!(!o.stdout.contains("wrong data") && !o.stderr.contains("wrong data"), "{path}:\n{o}");
        eprintln!("measured: {path}: 3000 flood pings of 1400 bytes in {secs:.2} s");
        assert_eq!(guest.terminate(), Some(1), "{path}: SIGTERM ends the guest:\n{}", guest.stderr());
        assert!(guest.stderr().contains("Exiting on signal 15"), "{}", guest.stderr());
    }
}

/// Sends bytes to the echo server and checks every byte that comes back, from a client inside
/// the namespace; prints `ok BYTES SECONDS`.
const TCP_CLIENT: &str = include_str!("../tcp_echo_client.py");

#[test]
fn a_tcp_stream_is_echoed_intact_over_the_ring_and_over_hypercalls() {
    if !ready("a_tcp_stream_is_echoed_intact_over_the_ring_and_over_hypercalls") {
        return;
    }
    let bytes = 8 << 20;
    for (options, path) in PATHS {
        let (ns, guest) = serve("ringtcp", "echo", options);
        assert!(guest.stdout().contains(path), "{path}:\n{}", guest.stdout());
        let start = Instant::now();
        let o = run_with_timeout(
            ns.command("python3").args(["-c", TCP_CLIENT, &bytes.to_string()]),
            Duration::from_secs(120),
        );
        let secs = start.elapsed().as_secs_f64();
        assert!(o.stdout.contains(&format!("ok {bytes}")), "{path}:\n{o}");
        eprintln!("measured: {path}: 8 MiB echoed in {secs:.2} s ({:.1} MB/s each way)", 8.39 / secs);
    }
}

#[test]
fn without_room_above_4_gib_the_guest_falls_back_to_hypercalls() {
    if !ready("without_room_above_4_gib_the_guest_falls_back_to_hypercalls") {
        return;
    }
    let (ns, guest) = serve("ring4g", "ping", &["--mem=4096"]);
    assert!(guest.stdout().contains("via hypercalls"), "{}", guest.stdout());
    let o = run_with_timeout(
        ns.command("ping").args(["-c", "3", "-i", "0.05", "-W", "2", "10.0.0.2"]),
        Duration::from_secs(30),
    );
    assert!(o.stdout.contains(" 0% packet loss"), "{o}");
}

#[test]
fn a_ring_the_host_cannot_serve_stops_the_spinning_guest_with_one_line() {
    if !ready("a_ring_the_host_cannot_serve_stops_the_spinning_guest_with_one_line") {
        return;
    }
    let ns = NetNs::new("ringbad");
    ns.tap("tap0", None, None);
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("op", craft::code::ring_entry(9, 1, 0x2000, 60), "Guest error: net ring entry 0: unknown op 9"),
        (
            "gpa",
            craft::code::ring_entry(1, 1, 0xffff_0000_0000, 60),
            "Guest error: net ring entry 0: bad buffer",
        ),
        ("ro", craft::code::ring_entry(2, 1, 0x10_0000, 1514), "Guest error: net ring entry 0: bad buffer"),
    ];
    for (tag, code, msg) in cases {
        let notes = Notes { with_net: true, ..Notes::default() };
        let img = craft::temp_file(&format!("ringbad-{tag}"), "guest.hvt", &craft::image(&code, &[], notes));
        let start = Instant::now();
        let mut c: Command = ns.command(tender().to_str().unwrap());
        c.args(["--mem=4", "--net:net0=tap0"]).arg(&img);
        let o = run_with_timeout(&mut c, Duration::from_secs(20));
        o.expect_code(1).expect_stderr(msg);
        assert_eq!(o.stderr.lines().count(), 1, "{tag}: one line:\n{o}");
        assert!(start.elapsed() < Duration::from_secs(10), "{tag}: the spinning guest was stopped");
    }
}
