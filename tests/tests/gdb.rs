//! `--gdb`: Debian's gdb drives tender's stub in batch mode: connect before the first
//! instruction, read `rip`, break on a symbol of hello, continue to it, single-step, continue
//! to the guest's exit 0 (which ends the session), while the guest's output flows as usual.

use std::process::Command;
use std::time::{Duration, Instant};
use tender_tests::guest::Background;
use tender_tests::{image, kvm_available, run_with_timeout, tender};

/// The port tender prints in `waiting for gdb on 127.0.0.1:PORT`.
fn port(guest: &Background) -> u16 {
    let start = Instant::now();
    loop {
        if let Some(p) = guest.stderr().split("waiting for gdb on 127.0.0.1:").nth(1) {
            if let Ok(port) = p.trim().parse() {
                return port;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no gdb prompt: {}", guest.stderr());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn gdb_breaks_steps_and_continues_to_the_exit() {
    if !kvm_available("gdb_breaks_steps_and_continues_to_the_exit") {
        return;
    }
    let hello = image("hello");
    let mut guest = Background::start(Command::new(tender()).arg("--gdb=0").arg(&hello).arg("debugged"));
    let port = port(&guest);
    let gdb = run_with_timeout(
        Command::new("gdb")
            .args(["-q", "-batch", "-nx"])
            .args(["-ex", &format!("target remote 127.0.0.1:{port}")])
            .args(["-ex", "info registers rip"])
            .args(["-ex", "break guest_rt_boot"])
            .args(["-ex", "continue"])
            .args(["-ex", "info registers rip"])
            .args(["-ex", "stepi"])
            .args(["-ex", "continue"])
            .arg(&hello),
        Duration::from_secs(120),
    );
    let text = format!("{}{}", gdb.stdout, gdb.stderr);
    assert!(text.contains("rip            0x100000            0x100000 <_start>"), "{text}");
    assert!(text.contains("Breakpoint 1, ") && text.contains(" in guest_rt_boot"), "{text}");
    assert!(text.contains("[Inferior 1 (process 1) exited normally]"), "{text}");
    assert_eq!(guest.finish(Duration::from_secs(30)), Some(0), "{}", guest.stderr());
    assert_eq!(guest.stdout(), "Hello, world!\narg[0]: debugged\nSUCCESS\n");
}

#[test]
fn a_port_in_use_is_one_line() {
    if !kvm_available("a_port_in_use_is_one_line") {
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = run_with_timeout(
        Command::new(tender()).arg(format!("--gdb={port}")).arg(image("hello")),
        Duration::from_secs(20),
    );
    out.expect_code(1).expect_stderr(&format!("--gdb: could not listen on 127.0.0.1:{port}"));
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
}

#[test]
fn sigterm_ends_the_wait_for_a_debugger() {
    if !kvm_available("sigterm_ends_the_wait_for_a_debugger") {
        return;
    }
    let mut guest = Background::start(Command::new(tender()).arg("--gdb=0").arg(image("hello")));
    port(&guest);
    assert_eq!(guest.terminate(), Some(1));
    assert!(guest.stderr().contains("tender: Exiting on signal 15"), "{}", guest.stderr());
    assert_eq!(guest.stdout(), "", "the guest never ran");
}

#[test]
fn sigterm_ends_a_debugging_session() {
    if !kvm_available("sigterm_ends_a_debugging_session") {
        return;
    }
    let hello = image("hello");
    let mut guest = Background::start(Command::new(tender()).arg("--gdb=0").arg(&hello));
    let port = port(&guest);
    // A debugger that connects, then sits in a shell command with the guest stopped.
    let mut gdb = Background::start(
        Command::new("gdb")
            .args(["-q", "-batch", "-nx"])
            .args(["-ex", &format!("target remote 127.0.0.1:{port}")])
            .args(["-ex", "shell sleep 20"])
            .arg(&hello),
    );
    gdb.wait_for("_start", Duration::from_secs(20));
    let start = Instant::now();
    assert_eq!(guest.terminate(), Some(1));
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    assert!(guest.stderr().contains("tender: Exiting on signal 15"), "{}", guest.stderr());
}
