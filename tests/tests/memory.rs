//! Large guest memory: on x86_64 tender registers it with KVM in 64 MiB slots as the guest
//! first touches them (the image, the stack and the net ring at once). Hand-assembled guests
//! touch memory far from all of those, by plain moves (a first touch is an MMIO exit tender
//! completes) and by an instruction KVM's emulator cannot do here (FXSAVE) (tender then registers
//! everything and the instruction runs again), and must see ordinary memory either way.

use std::process::Command;
use std::time::Duration;
use tender_tests::craft::temp_file;
use tender_tests::craft::{self, asm, Notes, SCRATCH};
use tender_tests::{kvm_available, run_with_timeout, tender};

/// `code`, then HALT with `ecx` as the exit status.
fn halt_with_ecx(mut code: Vec<u8>) -> Vec<u8> {
    code.extend([0x89, 0x0c, 0x25]); // mov [SCRATCH + 8], ecx
    code.extend((SCRATCH as u32 + 8).to_le_bytes());
    code.extend(asm::hypercall(8, SCRATCH as u32));
    code.extend_from_slice(asm::SPIN);
    code
}

fn boot(test: &str, mem: &str, code: &[u8]) -> tender_tests::Outcome {
    let img = craft::temp_file(test, "guest.hvt", &craft::image(code, &[], Notes::default()));
    run_with_timeout(Command::new(tender()).arg(mem).arg(&img), Duration::from_secs(30))
}

/// The addresses touched: 2 GiB and 3 GiB, in no slot registered at boot.
const HIGH: u32 = 0x8000_0000;
const HIGHER: u32 = 0xC000_0000;

#[test]
fn memory_far_from_the_image_and_stack_is_ordinary_memory() {
    if !kvm_available("memory_far_from_the_image_and_stack_is_ordinary_memory")
        || cfg!(target_arch = "aarch64")
    {
        return;
    }
    let mut code = vec![0xb8]; // mov eax, HIGH
    code.extend(HIGH.to_le_bytes());
    code.extend([0xc7, 0x00, 0x2a, 0, 0, 0]); // mov dword [rax], 42 (first touch: a write)
    code.extend([0x8b, 0x08]); // mov ecx, [rax]
    code.extend([0xc7, 0x80, 0x00, 0x10, 0, 0, 0x07, 0, 0, 0]); // mov dword [rax + 0x1000], 7
    code.extend([0x03, 0x88, 0x00, 0x10, 0, 0]); // add ecx, [rax + 0x1000]
    code.extend([0xbb]); // mov ebx, HIGHER
    code.extend(HIGHER.to_le_bytes());
    code.extend([0x03, 0x0b]); // add ecx, [rbx] (first touch: a read of fresh memory, 0)
    let code = halt_with_ecx(code);
    for mem in ["--mem=4096", "--mem=3200", "--mem=4094"] {
        boot("lazymem", mem, &code).expect_code(49);
    }
    // Below the size where memory is registered lazily: the same guest, one slot.
    let mut low = vec![0xb8];
    low.extend(0x0400_0000u32.to_le_bytes()); // 64 MiB in a 128 MiB guest
    low.extend([0xc7, 0x00, 0x2a, 0, 0, 0, 0x8b, 0x08]);
    boot("lazymem", "--mem=128", &halt_with_ecx(low)).expect_code(42);
}

#[test]
fn a_first_touch_by_an_instruction_the_emulator_cannot_do_still_works() {
    if !kvm_available("a_first_touch_by_an_instruction_the_emulator_cannot_do_still_works")
        || cfg!(target_arch = "aarch64")
    {
        return;
    }
    let mut code = vec![0xbb]; // mov ebx, HIGHER
    code.extend(HIGHER.to_le_bytes());
    code.extend([0x0f, 0xae, 0x03]); // fxsave [rbx] (first touch: KVM's emulator fails here)
    code.extend([0x0f, 0xb7, 0x0b]); // movzx ecx, word [rbx]: the saved x87 control word
                                     // 0x37f, the control word KVM resets the FPU to: its low byte.
    boot("lazyfxsave", "--mem=4096", &halt_with_ecx(code)).expect_code(0x7f);
}

#[test]
fn a_first_touch_that_crosses_a_page_is_done_whole() {
    if !kvm_available("a_first_touch_that_crosses_a_page_is_done_whole") || cfg!(target_arch = "aarch64") {
        return;
    }
    // KVM splits the store in two; the second piece comes as MMIO after the first registered
    // the memory.
    let mut code = vec![0xb8]; // mov eax, HIGH
    code.extend(HIGH.to_le_bytes());
    code.extend([0x48, 0xb9]); // mov rcx, 0x0000_0005_0000_0003
    code.extend(0x0000_0005_0000_0003u64.to_le_bytes());
    code.extend([0x48, 0x89, 0x88, 0xfc, 0x0f, 0, 0]); // mov [rax + 0xffc], rcx
    code.extend([0x8b, 0x88, 0xfc, 0x0f, 0, 0]); // mov ecx, [rax + 0xffc]
    code.extend([0x03, 0x88, 0x00, 0x10, 0, 0]); // add ecx, [rax + 0x1000]
    boot("lazysplit", "--mem=4096", &halt_with_ecx(code)).expect_code(8);
}

#[test]
fn a_first_read_sees_what_the_host_wrote_there() {
    if !kvm_available("a_first_read_sees_what_the_host_wrote_there") || cfg!(target_arch = "aarch64") {
        return;
    }
    // BLOCK_READ puts the disk's first 512 bytes at HIGH through tender's own mapping; the
    // guest's first read there must see them, not zeros.
    let mut disk = vec![0u8; 4096];
    disk[4..8].copy_from_slice(&42u32.to_le_bytes());
    let disk = temp_file("lazyblk", "disk.img", &disk);
    let store = |code: &mut Vec<u8>, at: u64, v: u32| {
        code.extend([0xc7, 0x04, 0x25]); // mov dword [at], v
        code.extend((at as u32).to_le_bytes());
        code.extend(v.to_le_bytes());
    };
    let mut code = Vec::new();
    store(&mut code, SCRATCH, 1); // handle: disk0
    store(&mut code, SCRATCH + 16, HIGH); // data
    store(&mut code, SCRATCH + 24, 512); // len
    code.extend(asm::hypercall(5, SCRATCH as u32)); // BLOCK_READ
    code.extend([0xb8]); // mov eax, HIGH
    code.extend(HIGH.to_le_bytes());
    code.extend([0x8b, 0x48, 0x04]); // mov ecx, [rax + 4]
    let notes = Notes { with_block: true, ..Notes::default() };
    let img = craft::temp_file("lazyblk", "guest.hvt", &craft::image(&halt_with_ecx(code), &[], notes));
    let mut c = Command::new(tender());
    c.arg("--mem=4096").arg(format!("--block:disk0={}", disk.display())).arg(&img);
    run_with_timeout(&mut c, Duration::from_secs(30)).expect_code(42);
}

#[test]
fn a_write_to_read_only_code_is_still_a_protection_fault_in_a_large_guest() {
    if !kvm_available("a_write_to_read_only_code_is_still_a_protection_fault_in_a_large_guest") {
        return;
    }
    let o = boot("lazyro", "--mem=4096", &craft::code::write_own_code());
    o.expect_code(1).expect_stderr("Guest memory protection fault");
    assert_eq!(o.stderr.lines().count(), 1, "{o}");
}
