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
    // A write to address 8, in the unmapped zero page, as each architecture reports it.
    #[cfg(target_arch = "x86_64")]
    o.expect_code(255).expect_stdout("trap: vector 14 (#PF page fault)").expect_stdout("cr2 0x8");
    #[cfg(target_arch = "aarch64")]
    o.expect_code(255).expect_stdout("data abort, same EL").expect_stdout("FAR 0x8");
    assert!(!o.stdout.contains("SUCCESS"));
}

#[test]
fn a_trap_no_boot_code_raises_is_reported_too() {
    if !kvm_available("a_trap_no_boot_code_raises_is_reported_too") {
        return;
    }
    // x86_64 writes this vector's gate only at CPL 3 (`finish_cpu`): it must be there.
    let o = boot("fault", &["breakpoint"]);
    let what = if cfg!(target_arch = "aarch64") { "BRK instruction" } else { "vector 3 (#BP breakpoint)" };
    o.expect_code(255).expect_stdout(what);
    assert!(!o.stdout.contains("FAIL"), "{}", o.stdout);
}

#[test]
fn a_stack_overflow_hits_the_guard_page_at_any_memory_size() {
    if !kvm_available("a_stack_overflow_hits_the_guard_page_at_any_memory_size") {
        return;
    }
    // 512 MiB: the guard's page table is filled at CPL 3 after boot; 4 MiB: at boot.
    for mem in ["--mem=512", "--mem=4"] {
        let img = tender_tests::image("fault");
        let o = tender_tests::tender_run(&[mem.as_ref(), img.as_os_str(), "stack".as_ref()]);
        let register = if cfg!(target_arch = "aarch64") { "FAR" } else { "cr2" };
        o.expect_code(255).expect_stdout(&format!("stack overflow: {register} is in the guard page"));
        assert!(!o.stdout.contains("FAIL"), "{mem}: {}", o.stdout);
    }
}

#[test]
fn the_smallest_guest_boots() {
    if !kvm_available("the_smallest_guest_boots") {
        return;
    }
    // 2 MiB: the image, the boot data, the heap and the stack all in the first block.
    let img = tender_tests::image("hello");
    tender_tests::tender_run(&["--mem=2".as_ref(), img.as_os_str()]).expect_code(0).expect_stdout("SUCCESS");
}

#[test]
fn globals_are_initialized_and_bss_is_zero() {
    if !kvm_available("globals_are_initialized_and_bss_is_zero") {
        return;
    }
    boot("globals", &[]).expect_code(0).expect_stdout("SUCCESS");
}

#[test]
fn four_gib_guest_costs_only_what_it_touches() {
    if !kvm_available("four_gib_guest_costs_only_what_it_touches") {
        return;
    }
    let img = tender_tests::image("hello");
    let mut c = std::process::Command::new(tender_tests::tender());
    c.arg("--mem=4096").arg(&img);
    tender_tests::run_with_timeout(&mut c, std::time::Duration::from_secs(30)).expect_code(0);
    // SAFETY: getrusage fills the struct we pass; zeroed is a valid initial value.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u
    };
    let peak_mib = usage.ru_maxrss / 1024;
    assert!(peak_mib < 128, "a 4 GiB guest made tender's peak RSS {peak_mib} MiB");
}
