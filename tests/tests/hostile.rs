//! Hostile and broken guests (hand-assembled) end in a one-line diagnostic and
//! exit status 1, never a panic or a hang. The same tests on both architectures, with the
//! host's machine code (`craft::code`); what only one architecture can do is in its module.

use std::time::Duration;
use tender_tests::craft::{self, code, le, Notes, DATA};
use tender_tests::guest::Background;
use tender_tests::{kvm_available, run_with_timeout, tender, Outcome};

fn boot_code(test: &str, code: &[u8], data: &[u8]) -> Outcome {
    let img = craft::temp_file(test, "guest.hvt", &craft::image(code, data, Notes::default()));
    run_with_timeout(std::process::Command::new(tender()).arg("--mem=4").arg(&img), Duration::from_secs(20))
}

fn expect_fatal(o: &Outcome, msg: &str) {
    o.expect_code(1).expect_stderr(msg);
    assert!(!o.stderr.contains("panicked"), "tender panicked:\n{o}");
    assert_eq!(o.stderr.lines().count(), 1, "diagnostic must be one line:\n{o}");
}

#[test]
fn halt_hypercall_passes_the_status_through() {
    if !kvm_available("halt_hypercall_passes_the_status_through") {
        return;
    }
    let o = boot_code("halt", &code::hypercall(8, DATA as u32), &le(&[0, 42]));
    o.expect_code(42);
}

#[test]
fn puts_with_pointer_outside_memory_is_fatal() {
    if !kvm_available("puts_with_pointer_outside_memory_is_fatal") {
        return;
    }
    let o = boot_code("badptr", &code::hypercall(2, 0xFFFF_FFF0), &[]);
    expect_fatal(&o, "Hypercall PUTS: bad guest address");
}

#[test]
fn puts_with_data_outside_memory_is_fatal() {
    if !kvm_available("puts_with_data_outside_memory_is_fatal") {
        return;
    }
    // The argument struct is fine; the 16 bytes it names are far outside guest memory.
    let o = boot_code("baddata", &code::hypercall(2, DATA as u32), &le(&[0xFFFF_0000_0000, 16]));
    expect_fatal(&o, "Hypercall PUTS: bad guest address");
}

#[test]
fn puts_with_huge_length_is_fatal() {
    if !kvm_available("puts_with_huge_length_is_fatal") {
        return;
    }
    let o = boot_code("hugelen", &code::hypercall(2, DATA as u32), &le(&[0x10_0000, u64::MAX]));
    expect_fatal(&o, "Hypercall PUTS: bad guest address");
}

#[test]
fn unknown_hypercall_number_is_fatal() {
    if !kvm_available("unknown_hypercall_number_is_fatal") {
        return;
    }
    expect_fatal(&boot_code("nr0", &code::hypercall(0, DATA as u32), &[]), "Invalid hypercall number 0");
    // Nothing decodes as hypercall 9: port 0x509 is no port, 0x1_0000_0048 no register.
    let nr9 = if cfg!(target_arch = "aarch64") {
        "4-byte write to 0x100000048"
    } else {
        "Invalid guest port access"
    };
    expect_fatal(&boot_code("nr9", &code::hypercall(9, DATA as u32), &[]), nr9);
}

#[test]
fn write_to_read_only_code_is_a_protection_fault() {
    if !kvm_available("write_to_read_only_code_is_a_protection_fault") {
        return;
    }
    expect_fatal(&boot_code("rowrite", &code::write_own_code(), &[]), "Guest memory protection fault");
}

fn signal_stops_a_spinning_guest(test: &str, signal: i32) {
    if !kvm_available(test) {
        return;
    }
    let img = craft::temp_file(test, "guest.hvt", &craft::image(&code::spin(), &[], Notes::default()));
    let mut guest = Background::start(std::process::Command::new(tender()).arg("--mem=4").arg(&img));
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(guest.pid() as i32, signal) };
    assert_eq!(guest.finish(Duration::from_secs(10)), Some(1), "{}", guest.stderr());
    assert_eq!(guest.stderr().trim(), format!("tender: Exiting on signal {signal}"));
}

#[test]
fn sigterm_stops_a_spinning_guest() {
    signal_stops_a_spinning_guest("sigterm_stops_a_spinning_guest", libc::SIGTERM);
}

#[test]
fn sigint_stops_a_spinning_guest() {
    signal_stops_a_spinning_guest("sigint_stops_a_spinning_guest", libc::SIGINT);
}

#[test]
fn output_into_read_only_code_is_fatal_not_a_host_fault() {
    if !kvm_available("output_into_read_only_code_is_fatal_not_a_host_fault") {
        return;
    }
    // WALLTIME's result would land in the guest's own read-only code segment, which
    // the host mapping protects: that must be a guest error, not a tender SIGSEGV.
    let o = boot_code("walltime_ro", &code::hypercall(1, DATA as u32), &[]);
    expect_fatal(&o, "Hypercall WALLTIME: bad guest address: Guest address range 0x100800+0x8 is read-only");
    let o = boot_code("poll_ro", &code::hypercall(3, DATA as u32), &le(&[0, 0, 0]));
    expect_fatal(&o, "Hypercall POLL: bad guest address");
}

#[test]
fn sigterm_ends_a_console_write_nobody_reads() {
    use std::os::fd::{FromRawFd, OwnedFd};
    if !kvm_available("sigterm_ends_a_console_write_nobody_reads") {
        return;
    }
    // 16 MiB of PUTS into a pipe whose reader never reads: tender blocks on stdout.
    let code = code::hypercall(2, DATA as u32);
    let img = craft::temp_file(
        "putsblock",
        "guest.hvt",
        &craft::image(&code, &le(&[0x20_0000, 16 << 20]), Notes::default()),
    );
    let mut fds = [0i32; 2];
    // SAFETY: pipe(2) fills the two-element array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors are fresh and owned here only.
    let (_unread, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut child = std::process::Command::new(tender())
        .arg("--mem=32")
        .arg(&img)
        .stdout(std::process::Stdio::from(write_end))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start tender");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(1));
            break;
        }
        if start.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("tender ignored SIGTERM while writing to a full pipe");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(err.trim(), "tender: Exiting on signal 15");
}

/// What only an x86_64 guest can do: port I/O of the wrong size or direction, HLT, a triple
/// fault, the other hypervisors' calls.
#[cfg(target_arch = "x86_64")]
mod x86_64 {
    use super::*;
    use tender_tests::craft::asm;

    #[test]
    fn wrong_size_and_direction_are_fatal() {
        if !kvm_available("wrong_size_and_direction_are_fatal") {
            return;
        }
        let mut out_al = asm::mov_dx_port(2);
        out_al.extend_from_slice(asm::OUT_DX_AL);
        expect_fatal(&boot_code("outb", &out_al, &[]), "1-byte OUT to port 0x502");
        let mut in_eax = asm::mov_dx_port(2);
        in_eax.extend_from_slice(asm::IN_EAX_DX);
        expect_fatal(&boot_code("in", &in_eax, &[]), "4-byte IN from port 0x502");
    }

    #[test]
    fn triple_fault_is_reported() {
        if !kvm_available("triple_fault_is_reported") {
            return;
        }
        // No IDT at entry: #UD cannot be delivered, escalating to a triple fault.
        expect_fatal(&boot_code("ud2", asm::UD2, &[]), "Guest triple fault");
    }

    #[test]
    fn hlt_is_reported() {
        if !kvm_available("hlt_is_reported") {
            return;
        }
        expect_fatal(&boot_code("hlt", asm::HLT, &[]), "Guest halted the CPU (HLT)");
    }

    #[test]
    fn vmcall_is_reported_as_what_it_is() {
        if !kvm_available("vmcall_is_reported_as_what_it_is") {
            return;
        }
        // VMCALL (Intel) and VMMCALL (AMD): hvt hypercalls are port I/O, never these.
        for (name, code) in [("vmcall", [0x0f, 0x01, 0xc1]), ("vmmcall", [0x0f, 0x01, 0xd9])] {
            let o = boot_code(name, &code, &[]);
            let upper = name.to_uppercase();
            expect_fatal(&o, &format!("Guest executed {upper}, a call to another hypervisor"));
            o.expect_stderr("rip=0x100000");
        }
    }
}

/// What only an AArch64 guest can do: hypercall stores of the wrong size or direction, and
/// addresses between two hypercall registers.
#[cfg(target_arch = "aarch64")]
mod aarch64 {
    use super::*;
    use tender_tests::craft::arm;

    #[test]
    fn wrong_size_and_direction_are_fatal() {
        if !kvm_available("wrong_size_and_direction_are_fatal") {
            return;
        }
        let eight = arm::access(arm::hc(2), DATA, arm::str_x(1, 0));
        expect_fatal(
            &boot_code("str8", &eight, &[]),
            "8-byte write to 0x100000010 (hypercalls are 4-byte writes)",
        );
        let two = arm::access(arm::hc(2), DATA, arm::strh(1, 0));
        expect_fatal(&boot_code("str2", &two, &[]), "2-byte write to 0x100000010");
        let read = arm::access(arm::hc(2), 0, arm::ldr_w(1, 0));
        expect_fatal(&boot_code("ldr", &read, &[]), "4-byte read from 0x100000010");
    }

    #[test]
    fn a_store_between_hypercall_registers_decodes_as_solo5_hvt_does() {
        if !kvm_available("a_store_between_hypercall_registers_decodes_as_solo5_hvt_does") {
            return;
        }
        // Any 4-byte write in the window is nr = offset >> 3: +0x44 is HALT.
        let code = arm::access(arm::hc(8) + 4, DATA, arm::str_w(1, 0));
        boot_code("between", &code, &le(&[0, 43])).expect_code(43);
    }
}
