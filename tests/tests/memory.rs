//! Large guest memory: on x86_64 tender registers it with KVM in 64 MiB slots as the guest
//! first touches them (the image, the stack and the net ring at once). Hand-assembled guests
//! touch memory far from all of those, by plain moves (a first touch is an MMIO exit tender
//! completes) and by an instruction KVM's emulator cannot do here (FXSAVE) (tender then registers
//! everything and the instruction runs again), and must see ordinary memory either way.

use std::process::Command;
use std::time::Duration;
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
