//! The tender command line as a user meets it: help, version, and every error
//! before the guest runs ends in one clear line and exit status 1.

use std::ffi::OsStr;
use tender_tests::craft::{self, code, Notes};
use tender_tests::{image, kvm_available, tender_run};

fn run(args: &[&str]) -> tender_tests::Outcome {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    tender_run(&args)
}

#[test]
fn help_goes_to_stdout_and_succeeds() {
    let o = run(&["--help"]);
    o.expect_code(0)
        .expect_stdout("usage: tender [OPTIONS] [--] KERNEL [ARGS...]")
        .expect_stdout("--mem=MiB");
}

#[test]
fn version_names_tender_and_the_abi() {
    run(&["--version"]).expect_code(0).expect_stderr("version 0.1.0").expect_stderr("ABI version 2");
}

#[test]
fn missing_kernel_shows_usage() {
    run(&[]).expect_code(1).expect_stderr("Missing KERNEL operand").expect_stderr("usage:");
}

#[test]
fn unknown_option_shows_usage() {
    run(&["--frobnicate", "x.hvt"]).expect_code(1).expect_stderr("Invalid option: --frobnicate");
}

#[test]
fn missing_file_is_named() {
    run(&["/nonexistent/k.hvt"])
        .expect_code(1)
        .expect_stderr("/nonexistent/k.hvt: Could not read the kernel image: No such file or directory");
}

#[test]
fn not_an_elf_is_rejected_first() {
    let p = craft::temp_file("notelf", "k.hvt", b"#!/bin/sh\necho hello\n");
    let o = run(&[p.to_str().unwrap()]);
    o.expect_code(1);
    assert_eq!(o.stderr, format!("tender: {}: invalid executable: not an ELF file\n", p.display()));
}

#[test]
fn an_image_for_the_other_architecture_is_rejected() {
    use tender_tests::elf_image::{hvt_image, EM_AARCH64, EM_X86_64};
    let (other, name, host) = if cfg!(target_arch = "aarch64") {
        (EM_X86_64, "x86_64", "aarch64")
    } else {
        (EM_AARCH64, "aarch64", "x86_64")
    };
    let p = craft::temp_file("foreign", "k.hvt", &hvt_image(other, &[], &[], Notes::default()));
    let o = run(&[p.to_str().unwrap()]);
    o.expect_code(1).expect_stderr(&format!(
        "invalid executable: built for {name} (e_machine {other}), this host is {host}"
    ));
}

#[test]
fn wrong_abi_target_is_rejected() {
    let notes = Notes { abi_target: 2, ..Notes::default() };
    let p = craft::temp_file("spt", "k.hvt", &craft::image(&code::spin(), &[], notes));
    run(&[p.to_str().unwrap()]).expect_code(1).expect_stderr("spt");
}

#[test]
fn wrong_abi_version_is_rejected() {
    let notes = Notes { abi_version: 1, ..Notes::default() };
    let p = craft::temp_file("abiv1", "k.hvt", &craft::image(&code::spin(), &[], notes));
    run(&[p.to_str().unwrap()]).expect_code(1).expect_stderr("version");
}

#[test]
fn missing_abi_note_is_rejected() {
    let notes = Notes { with_abi: false, ..Notes::default() };
    let p = craft::temp_file("noabi", "k.hvt", &craft::image(&code::spin(), &[], notes));
    run(&[p.to_str().unwrap()]).expect_code(1).expect_stderr("ABI");
}

#[test]
fn mem_out_of_range_is_rejected() {
    let hello = image("hello");
    let h = hello.to_str().unwrap();
    run(&["--mem=0", h]).expect_code(1).expect_stderr("Malformed argument to --mem");
    run(&["--mem=4097", h]).expect_code(1).expect_stderr("at most 4096 MiB");
    run(&["--mem=1", h]).expect_code(1).expect_stderr("at least 2 MiB");
    run(&["--mem=lots", h]).expect_code(1).expect_stderr("Malformed argument to --mem: 'lots'");
}

#[test]
fn undeclared_device_is_rejected() {
    let hello = image("hello");
    run(&["--block:disk=/dev/null", hello.to_str().unwrap()])
        .expect_code(1)
        .expect_stderr("Resource not declared in manifest: 'disk'");
}

#[test]
fn odd_mem_is_rounded_down_with_a_warning() {
    if !kvm_available("odd_mem_is_rounded_down_with_a_warning") {
        return;
    }
    let hello = image("hello");
    run(&["--mem=33", hello.to_str().unwrap()])
        .expect_code(0)
        .expect_stderr("rounded down from 33 MiB to 32 MiB")
        .expect_stdout("SUCCESS");
}

#[test]
fn broken_stderr_and_non_utf8_arguments_do_not_abort() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    // stderr a pipe nobody reads (EPIPE): the error cannot be shown, but tender
    // still exits 1 rather than aborting.
    let mut fds = [0i32; 2];
    // SAFETY: pipe(2) fills the two-element array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors are fresh and owned here only.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read_end);
    let status = std::process::Command::new(tender_tests::tender())
        .arg("/nonexistent/k.hvt")
        .stderr(std::process::Stdio::from(write_end))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let odd = OsStr::from_bytes(b"/nonexistent/\xff.hvt");
    tender_tests::tender_run(&[odd]).expect_code(1).expect_stderr("Could not read the kernel image");
}

#[test]
fn kernel_must_be_a_regular_file() {
    // /dev/zero would otherwise be read until memory runs out.
    run(&["/dev/zero"]).expect_code(1).expect_stderr("/dev/zero: not a regular file");
    run(&["/tmp"]).expect_code(1).expect_stderr("not a regular file");
}
