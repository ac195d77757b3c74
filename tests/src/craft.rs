//! Hand-assembled hvt images for hostile-guest tests, built by the one image builder
//! ([`crate::elf_image`]): code at 0x100000 (entry), data at [`DATA`], the notes. The
//! machine code is per architecture ([`asm`] for x86_64, [`arm`] for AArch64); [`code`] is
//! this host's, for the tests that mean the same on both.

use crate::elf_image::{hvt_image, EM_AARCH64, EM_X86_64};
pub use crate::elf_image::{Notes, CODE, DATA};

/// Writable guest memory past the image (zero at boot, inside any `--mem`), for code that
/// needs to store (the image's own [`DATA`] is read-only).
pub const SCRATCH: u64 = 0x20_0000;

/// The `e_machine` of this host's guests.
pub const HOST_MACHINE: u16 = if cfg!(target_arch = "aarch64") { EM_AARCH64 } else { EM_X86_64 };

/// An hvt image for this host running `code` with `data` at [`DATA`].
pub fn image(code: &[u8], data: &[u8], notes: Notes) -> Vec<u8> {
    hvt_image(HOST_MACHINE, code, data, notes)
}

/// x86_64 machine code snippets, each with its mnemonic.
pub mod asm {
    /// `mov dx, 0x500 + nr`
    pub fn mov_dx_port(nr: u16) -> Vec<u8> {
        let p = (0x500 + nr).to_le_bytes();
        vec![0x66, 0xba, p[0], p[1]]
    }
    /// `mov eax, imm32`
    pub fn mov_eax(v: u32) -> Vec<u8> {
        let mut c = vec![0xb8];
        c.extend_from_slice(&v.to_le_bytes());
        c
    }
    /// `out dx, eax`
    pub const OUT_DX_EAX: &[u8] = &[0xef];
    /// `out dx, al`
    pub const OUT_DX_AL: &[u8] = &[0xee];
    /// `in eax, dx`
    pub const IN_EAX_DX: &[u8] = &[0xed];
    /// `hlt`
    pub const HLT: &[u8] = &[0xf4];
    /// `ud2`
    pub const UD2: &[u8] = &[0x0f, 0x0b];
    /// `jmp $` (spin forever)
    pub const SPIN: &[u8] = &[0xeb, 0xfe];
    /// `mov dword [rip+0], 1`: a write to the (read-only) code that follows.
    pub const WRITE_OWN_CODE: &[u8] = &[0xc7, 0x05, 0, 0, 0, 0, 1, 0, 0, 0];

    /// Code that takes the net ring's address from boot info (RDI+48), writes entry 0 as
    /// `op, handle, data, len` (id and offset 0), publishes it (`ent_tail = 1`), rings the
    /// doorbell and spins.
    pub fn ring_entry(op: u32, handle: u32, data: u64, len: u32) -> Vec<u8> {
        let mut c = vec![0x48, 0x8b, 0x47, 0x30]; // mov rax, [rdi+48]
        let mut store = |disp: u32, v: u32| {
            c.extend([0xc7, 0x80]); // mov dword [rax+disp32], imm32
            c.extend(disp.to_le_bytes());
            c.extend(v.to_le_bytes());
        };
        store(128, op);
        store(132, handle);
        store(136, data as u32);
        store(140, (data >> 32) as u32);
        store(144, len);
        store(0, 1); // ent_tail
        c.extend([0x66, 0xba, 0x00, 0x06]); // mov dx, 0x600
        c.extend([0x31, 0xc0, 0xef]); // xor eax, eax; out dx, eax
        c.extend(SPIN);
        c
    }

    /// `mov eax, arg; mov dx, 0x500+nr; out dx, eax`: hypercall `nr` with `arg`.
    pub fn hypercall(nr: u16, arg: u32) -> Vec<u8> {
        let mut c = mov_eax(arg);
        c.extend(mov_dx_port(nr));
        c.extend_from_slice(OUT_DX_EAX);
        c
    }
}

/// AArch64 machine code, each instruction with its mnemonic (as little-endian words).
pub mod arm {
    /// Guest address of hypercall `nr`'s MMIO register.
    pub const fn hc(nr: u64) -> u64 {
        abi::hypercall::MMIO_BASE + abi::hypercall::MMIO_STRIDE * nr
    }
    /// `movz x<rd>, #imm, lsl #16*hw` then `movk` for the other non-zero halfwords:
    /// loads a 64-bit constant.
    pub fn mov(rd: u32, v: u64) -> Vec<u32> {
        let mut out = vec![0xD280_0000 | ((v & 0xFFFF) as u32) << 5 | rd];
        for hw in 1..4 {
            let part = ((v >> (16 * hw)) & 0xFFFF) as u32;
            if part != 0 {
                out.push(0xF280_0000 | hw << 21 | part << 5 | rd);
            }
        }
        out
    }
    /// `str w<rt>, [x<rn>]`
    pub fn str_w(rt: u32, rn: u32) -> u32 {
        0xB900_0000 | rn << 5 | rt
    }
    /// `str x<rt>, [x<rn>]`
    pub fn str_x(rt: u32, rn: u32) -> u32 {
        0xF900_0000 | rn << 5 | rt
    }
    /// `strh w<rt>, [x<rn>]`
    pub fn strh(rt: u32, rn: u32) -> u32 {
        0x7900_0000 | rn << 5 | rt
    }
    /// `ldr w<rt>, [x<rn>]`
    pub fn ldr_w(rt: u32, rn: u32) -> u32 {
        0xB940_0000 | rn << 5 | rt
    }
    /// `ldr x<rt>, [x<rn>, #off]` (`off` a multiple of 8 below 32 KiB)
    pub fn ldr_x_off(rt: u32, rn: u32, off: u32) -> u32 {
        0xF940_0000 | (off / 8) << 10 | rn << 5 | rt
    }
    /// `str w<rt>, [x<rn>, #off]` (`off` a multiple of 4 below 16 KiB)
    pub fn str_w_off(rt: u32, rn: u32, off: u32) -> u32 {
        0xB900_0000 | (off / 4) << 10 | rn << 5 | rt
    }

    /// As [`asm::ring_entry`](super::asm::ring_entry): entry 0 of the ring named by boot info
    /// (X0+48), published, the doorbell rung (MMIO), then `b .`.
    pub fn ring_entry(op: u32, handle: u32, data: u64, len: u32) -> Vec<u8> {
        let mut w = vec![ldr_x_off(1, 0, 48)]; // x1 = the ring
        for (off, v) in
            [(128, op), (132, handle), (136, data as u32), (140, (data >> 32) as u32), (144, len), (0, 1)]
        {
            w.extend(mov(2, u64::from(v)));
            w.push(str_w_off(2, 1, off));
        }
        w.extend(mov(3, abi::netring::KICK_MMIO));
        w.push(str_w(31, 3)); // str wzr, [x3]
        w.push(SPIN);
        w.iter().flat_map(|x| x.to_le_bytes()).collect()
    }
    /// `b .`
    pub const SPIN: u32 = 0x1400_0000;

    /// `x0 = addr; x1 = value; <op> x1/w1, [x0]; b .`, as bytes.
    pub fn access(addr: u64, value: u64, op: u32) -> Vec<u8> {
        let mut code = mov(0, addr);
        code.extend(mov(1, value));
        code.extend([op, SPIN]);
        code.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// Hypercall `nr` with `arg` (a 4-byte store to its register), then `b .`.
    pub fn hypercall(nr: u64, arg: u32) -> Vec<u8> {
        access(hc(nr), u64::from(arg), str_w(1, 0))
    }
}

/// This host's machine code for what every architecture can do alike (AArch64).
#[cfg(target_arch = "aarch64")]
pub mod code {
    use super::arm;

    /// Hypercall `nr` with the argument struct at `arg`.
    pub fn hypercall(nr: u16, arg: u32) -> Vec<u8> {
        arm::hypercall(u64::from(nr), arg)
    }

    /// Hypercall `nr` with the argument struct at `arg`, again and again forever.
    pub fn hypercall_forever(nr: u16, arg: u32) -> Vec<u8> {
        let mut words = arm::mov(0, arm::hc(u64::from(nr)));
        words.extend(arm::mov(1, u64::from(arg)));
        words.push(arm::str_w(1, 0));
        // b <start>: imm26 is the word offset back to the first instruction.
        let back = -(words.len() as i32);
        words.push(0x1400_0000 | (back as u32 & 0x03FF_FFFF));
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// Spins forever.
    pub fn spin() -> Vec<u8> {
        arm::SPIN.to_le_bytes().to_vec()
    }

    /// Writes to its own (read-only) code, then spins.
    pub fn write_own_code() -> Vec<u8> {
        arm::access(super::CODE, 0, arm::str_w(1, 0))
    }

    /// Publishes one net ring entry and rings the doorbell, then spins.
    pub fn ring_entry(op: u32, handle: u32, data: u64, len: u32) -> Vec<u8> {
        arm::ring_entry(op, handle, data, len)
    }

    /// HALTs with the `u32` at guest address `addr` as its exit status (the HALT struct at
    /// [`SCRATCH`](super::SCRATCH)).
    pub fn halt_with_word_at(addr: u64) -> Vec<u8> {
        let mut words = arm::mov(1, addr);
        words.push(arm::ldr_w(2, 1));
        words.extend(arm::mov(3, super::SCRATCH + 8));
        words.push(arm::str_w(2, 3));
        let mut code: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        code.extend(arm::hypercall(8, super::SCRATCH as u32));
        code
    }
}

/// This host's machine code for what every architecture can do alike (x86_64).
#[cfg(not(target_arch = "aarch64"))]
pub mod code {
    use super::asm;

    /// Hypercall `nr` with the argument struct at `arg`.
    pub fn hypercall(nr: u16, arg: u32) -> Vec<u8> {
        asm::hypercall(nr, arg)
    }

    /// Hypercall `nr` with the argument struct at `arg`, again and again forever.
    pub fn hypercall_forever(nr: u16, arg: u32) -> Vec<u8> {
        let mut code = asm::hypercall(nr, arg);
        let back = -(code.len() as i8 + 2);
        code.extend_from_slice(&[0xeb, back as u8]); // jmp <start>
        code
    }

    /// Spins forever.
    pub fn spin() -> Vec<u8> {
        asm::SPIN.to_vec()
    }

    /// Writes to its own (read-only) code, then spins.
    pub fn write_own_code() -> Vec<u8> {
        [asm::WRITE_OWN_CODE, asm::SPIN].concat()
    }

    /// Publishes one net ring entry and rings the doorbell, then spins.
    pub fn ring_entry(op: u32, handle: u32, data: u64, len: u32) -> Vec<u8> {
        asm::ring_entry(op, handle, data, len)
    }

    /// HALTs with the `u32` at guest address `addr` (below 2 GiB) as its exit status (the
    /// HALT struct at [`SCRATCH`](super::SCRATCH)).
    pub fn halt_with_word_at(addr: u64) -> Vec<u8> {
        let mut code = vec![0x8b, 0x04, 0x25]; // mov eax, [addr]
        code.extend((addr as u32).to_le_bytes());
        code.extend([0x89, 0x04, 0x25]); // mov [SCRATCH + 8], eax
        code.extend((super::SCRATCH as u32 + 8).to_le_bytes());
        code.extend(asm::hypercall(8, super::SCRATCH as u32));
        code.extend_from_slice(asm::SPIN);
        code
    }
}

/// `words` as little-endian bytes (a hypercall's argument struct in a guest's data).
pub fn le(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Writes `bytes` to a fresh file in a per-test temporary directory.
pub fn temp_file(test: &str, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tender-tests-{}-{test}", std::process::id()));
    let dir = if dir.is_dir() { dir } else { crate::scratch_dir(test) };
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write temp file");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_encodings_match_the_manual() {
        // movz x0, #0x10; movk x0, #0x1, lsl #32 (= 0x1_0000_0010)
        assert_eq!(arm::mov(0, 0x1_0000_0010), [0xD280_0200, 0xF2C0_0020]);
        assert_eq!(arm::mov(1, 0), [0xD280_0001]);
        assert_eq!(arm::str_w(1, 0), 0xB900_0001);
        assert_eq!(arm::str_x(1, 0), 0xF900_0001);
        assert_eq!(arm::strh(1, 0), 0x7900_0001);
        assert_eq!(arm::ldr_w(1, 0), 0xB940_0001);
    }
}
