//! Every example unikernel boots on the real /dev/kvm through the built tender,
//! with the exit status and console output it promises.

use tender_tests::{boot, kvm_available};

#[test]
fn hello_greets_and_prints_its_arguments() {
    if !kvm_available("hello_greets_and_prints_its_arguments") {
        return;
    }
    let o = boot("hello", &["one", "two"]);
    o.expect_code(0)
        .expect_stdout("Hello, world!")
        .expect_stdout("one")
        .expect_stdout("two")
        .expect_stdout("SUCCESS");
}

#[test]
fn hello_without_arguments() {
    if !kvm_available("hello_without_arguments") {
        return;
    }
    boot("hello", &[]).expect_code(0).expect_stdout("SUCCESS");
}

#[test]
fn time_sleeps_accurately() {
    if !kvm_available("time_sleeps_accurately") {
        return;
    }
    boot("time", &[]).expect_code(0).expect_stdout("SUCCESS");
}

#[test]
fn abort_exits_255_with_the_panic_message() {
    if !kvm_available("abort_exits_255_with_the_panic_message") {
        return;
    }
    let o = boot("abort", &[]);
    o.expect_code(255).expect_stdout("panic");
    assert!(!o.stdout.contains("SUCCESS"));
}

#[test]
fn fault_reports_the_trap_and_exits_255() {
    if !kvm_available("fault_reports_the_trap_and_exits_255") {
        return;
    }
    let o = boot("fault", &[]);
    o.expect_code(255).expect_stdout("14");
    assert!(!o.stdout.contains("SUCCESS"));
}

#[test]
fn globals_are_initialized_and_bss_is_zero() {
    if !kvm_available("globals_are_initialized_and_bss_is_zero") {
        return;
    }
    boot("globals", &[]).expect_code(0).expect_stdout("SUCCESS");
}
