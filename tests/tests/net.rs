//! Network devices with real TAPs in a namespace each test creates (addresses in
//! 10.0.0.0/24 only inside it): ping, MTU 9000, HTTP with curl, the @FD form,
//! two NICs, and the attach errors.

use std::process::Command;
use std::time::{Duration, Instant};
use tender_tests::guest::Background;
use tender_tests::netns::{netns_available, NetNs};
use tender_tests::{image, kvm_available, run_with_timeout, tender};

fn ready(test: &str) -> bool {
    kvm_available(test) && netns_available(test)
}

/// A namespace with `tap0` at 10.0.0.1/24 (MTU `mtu`) and `example` serving on it.
fn serve(tag: &str, example: &str, mtu: Option<u32>, args: &[&str]) -> (NetNs, Background) {
    serve_with(tag, example, mtu, &[], args)
}

/// As [`serve`], with extra tender options.
fn serve_with(
    tag: &str,
    example: &str,
    mtu: Option<u32>,
    options: &[&str],
    args: &[&str],
) -> (NetNs, Background) {
    let ns = NetNs::new(tag);
    ns.tap("tap0", Some("10.0.0.1/24"), mtu);
    let mut c = ns.command(tender().to_str().unwrap());
    c.arg("--net:service=tap0").args(options).arg(image(example)).args(args);
    let mut guest = Background::start(&mut c);
    guest.wait_for("ready", Duration::from_secs(30));
    (ns, guest)
}

/// Runs `ping` inside `ns`; returns its stdout after asserting 0 % loss.
fn ping(ns: &NetNs, args: &[&str], addr: &str) -> String {
    let o = run_with_timeout(ns.command("ping").args(args).arg(addr), Duration::from_secs(120));
    assert!(o.stdout.contains(" 0% packet loss"), "ping {args:?} {addr}:\n{o}");
    o.stdout
}

#[test]
fn thousand_pings_without_loss() {
    if !ready("thousand_pings_without_loss") {
        return;
    }
    let (ns, _guest) = serve("ping", "ping", None, &[]);
    let start = Instant::now();
    let out = ping(&ns, &["-c", "1000", "-i", "0.002", "-W", "2", "-q"], "10.0.0.2");
    let secs = start.elapsed().as_secs_f64();
    assert!(out.contains("1000 packets transmitted, 1000 received"), "{out}");
    eprintln!("measured: 1000 pings in {secs:.2} s ({:.0} pings/s)", 1000.0 / secs);
}

#[test]
fn guest_sees_mtu_9000_and_jumbo_frames_pass() {
    if !ready("guest_sees_mtu_9000_and_jumbo_frames_pass") {
        return;
    }
    let (ns, guest) = serve("mtu", "ping", Some(9000), &[]);
    assert!(guest.stdout().contains("mtu 9000"), "{}", guest.stdout());
    ping(&ns, &["-c", "5", "-s", "8972", "-M", "do", "-W", "2"], "10.0.0.2");
}

fn curl(ns: &NetNs, url: &str) -> (String, String) {
    let o = run_with_timeout(
        ns.command("curl").args(["-s", "--max-time", "10", "-w", "\n%{http_code}"]).arg(url),
        Duration::from_secs(20),
    );
    let (body, code) = o.stdout.rsplit_once('\n').unwrap_or(("", ""));
    (body.to_string(), code.to_string())
}

#[test]
fn http_answers_a_hundred_requests_in_a_row_and_concurrently() {
    if !ready("http_answers_a_hundred_requests_in_a_row_and_concurrently") {
        return;
    }
    let (ns, guest) = serve("http", "http", None, &[]);
    let start = Instant::now();
    for i in 0..100 {
        let (body, code) = curl(&ns, "http://10.0.0.2/");
        assert_eq!(code, "200", "request {i}: {body}\n{}", guest.stderr());
        assert!(body.contains("tender"), "request {i} body: {body}");
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!("measured: 100 sequential HTTP requests in {secs:.2} s ({:.0} req/s)", 100.0 / secs);
    let ns = &ns;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(move || curl(ns, "http://10.0.0.2/").1)).collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), "200");
        }
    });
    let (_, code) = curl(ns, "http://10.0.0.2/missing");
    assert_eq!(code, "404");
}

#[test]
fn http_address_is_set_on_its_command_line() {
    if !ready("http_address_is_set_on_its_command_line") {
        return;
    }
    let (ns, _guest) = serve("httpaddr", "http", None, &["10.0.0.77/24"]);
    assert_eq!(curl(&ns, "http://10.0.0.77/").1, "200");
}

#[test]
fn tap_passed_as_an_open_fd() {
    if !ready("tap_passed_as_an_open_fd") {
        return;
    }
    let ns = NetNs::new("fd");
    ns.tap("tap0", Some("10.0.0.1/24"), Some(1400));
    // Open the TAP inside the namespace, then exec tender with --net:service=@FD.
    let script = "import fcntl, os, struct, sys\n\
        fd = os.open('/dev/net/tun', os.O_RDWR)\n\
        fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', b'tap0', 0x1002))\n\
        os.set_inheritable(fd, True)\n\
        os.execv(sys.argv[1], [sys.argv[1], '--net:service=@%d' % fd, sys.argv[2]])\n";
    let mut c = ns.command("python3");
    c.args(["-c", script]).arg(tender()).arg(image("ping"));
    let mut guest = Background::start(&mut c);
    guest.wait_for("ready", Duration::from_secs(30));
    assert!(guest.stdout().contains("mtu 1400"), "MTU read from the fd's interface:\n{}", guest.stdout());
    ping(&ns, &["-c", "10", "-i", "0.01", "-W", "2", "-q"], "10.0.0.2");
}

#[test]
fn two_nics_at_once() {
    if !ready("two_nics_at_once") {
        return;
    }
    let ns = NetNs::new("twonics");
    ns.tap("tap0", Some("10.0.0.1/25"), None);
    ns.tap("tap1", Some("10.0.0.129/25"), None);
    let dir = tender_tests::scratch_dir("twonics");
    let mut c = ns.command(tender().to_str().unwrap());
    for i in 1..=61 {
        let d = dir.join(format!("disk{i}.img"));
        std::fs::write(&d, [0u8; 512]).unwrap();
        c.arg(format!("--block:disk{i}={}", d.display()));
    }
    c.args(["--net:net0=tap0", "--net:net1=tap1"]).arg(image("multi")).arg("serve");
    let mut guest = Background::start(&mut c);
    guest.wait_for("ready", Duration::from_secs(30));
    ping(&ns, &["-c", "20", "-i", "0.01", "-W", "2", "-q"], "10.0.0.2");
    ping(&ns, &["-c", "20", "-i", "0.01", "-W", "2", "-q"], "10.0.0.130");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn missing_or_down_tap_is_a_clear_error() {
    if !ready("missing_or_down_tap_is_a_clear_error") {
        return;
    }
    let ns = NetNs::new("taperr");
    let run = |iface: &str| {
        let mut c = ns.command(tender().to_str().unwrap());
        c.arg(format!("--net:service={iface}")).arg(image("ping"));
        run_with_timeout(&mut c, Duration::from_secs(20))
    };
    run("tap9").expect_code(1).expect_stderr("TAP interface 'tap9' does not exist");
    Command::new("ip").args(["-n", &ns.name, "tuntap", "add", "tap0", "mode", "tap"]).status().unwrap();
    run("tap0").expect_code(1).expect_stderr("TAP interface 'tap0' is down");
    run("lo").expect_code(1).expect_stderr("Could not attach to TAP interface 'lo'");
    let o = run_with_timeout(
        Command::new(tender()).arg("--net:service=@99").arg(image("ping")),
        Duration::from_secs(20),
    );
    o.expect_code(1).expect_stderr("File descriptor 99 is not open");
}

#[test]
fn net_mac_option_sets_the_guest_mac() {
    if !ready("net_mac_option_sets_the_guest_mac") {
        return;
    }
    let mac = "02:00:00:aa:bb:01";
    let (ns, guest) = serve_with("mac", "ping", None, &[&format!("--net-mac:service={mac}")], &[]);
    assert!(guest.stdout().contains(&format!("mac {mac}")), "{}", guest.stdout());
    ping(&ns, &["-c", "2", "-i", "0.05", "-W", "2", "-q"], "10.0.0.2");
    // The host learned the guest's address from its ARP answers.
    let o = run_with_timeout(ns.command("ip").args(["neigh", "show", "10.0.0.2"]), Duration::from_secs(10));
    assert!(o.stdout.contains(&format!("lladdr {mac}")), "{o}");
}
