//! tender confines itself with seccomp before the guest's first instruction: the filter is
//! on while guests run (every example and device path works under it: the other suites run
//! with it), a call outside the list kills tender with SIGSYS after one line saying which,
//! and `--seccomp=off` is what it says.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;
use tender_tests::guest::Background;
use tender_tests::{image, kvm_available, tender};

/// The `Seccomp:` line of a running process's status (0 none, 2 filter).
fn seccomp_mode(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("Seccomp:")).unwrap().trim().to_string()
}

/// Starts `time` (it runs three seconds) with `args`, returns the filter mode seen mid-run.
fn mode_while_running(args: &[&str]) -> String {
    let mut cmd = Command::new(tender());
    cmd.args(args).arg(image("time"));
    let mut guest = Background::start(&mut cmd);
    guest.wait_for("sleep 1", Duration::from_secs(20));
    let mode = seccomp_mode(guest.pid());
    assert_eq!(guest.terminate(), Some(1));
    assert!(guest.stderr().contains("Exiting on signal 15"), "{}", guest.stderr());
    mode
}

#[test]
fn the_filter_is_on_while_the_guest_runs_and_off_on_request() {
    if !kvm_available("the_filter_is_on_while_the_guest_runs_and_off_on_request") {
        return;
    }
    assert_eq!(mode_while_running(&[]), "2");
    assert_eq!(mode_while_running(&["--seccomp=on"]), "2");
    assert_eq!(mode_while_running(&["--seccomp=log"]), "2");
    assert_eq!(mode_while_running(&["--seccomp=off"]), "0");
}

#[test]
fn a_call_outside_the_list_kills_tender_with_one_line() {
    if !kvm_available("a_call_outside_the_list_kills_tender_with_one_line") {
        return;
    }
    let out = Command::new(tender())
        .arg(image("hello"))
        .env("TENDER_TEST_SECCOMP_VIOLATION", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr, format!("tender: seccomp: blocked system call {}\n", libc::SYS_getppid));
    assert!(out.stdout.is_empty(), "the guest must not have run");
    // Without the filter the same path is harmless.
    let off = Command::new(tender())
        .args(["--seccomp=off"])
        .arg(image("hello"))
        .env("TENDER_TEST_SECCOMP_VIOLATION", "1")
        .output()
        .unwrap();
    assert_eq!(off.status.code(), Some(0), "{off:?}");
}

#[test]
fn a_bad_mode_is_a_usage_error() {
    let out = Command::new(tender()).args(["--seccomp=maybe", "x.hvt"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Malformed argument to --seccomp: 'maybe'"));
}
