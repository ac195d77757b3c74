//! Hand-assembled AArch64 hvt images for the VM's hostile-guest tests: each is
//! a few instructions that make one malformed hypercall or bad access, with the
//! exit status and the message the tender must answer with.

use tender_tests::elf_image::{self, CODE as LOAD, DATA};
/// Address of hypercall `nr`.
const fn hc(nr: u64) -> u64 {
    abi::hypercall::MMIO_BASE + abi::hypercall::MMIO_STRIDE * nr
}

/// AArch64 instructions, each with its mnemonic.
mod asm {
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
    /// `b .`
    pub const SPIN: u32 = 0x1400_0000;
}

/// `x0 = addr; x1 = value; <op> x1/w1, [x0]; b .`
fn access(addr: u64, value: u64, op: u32) -> Vec<u32> {
    let mut code = asm::mov(0, addr);
    code.extend(asm::mov(1, value));
    code.extend([op, asm::SPIN]);
    code
}

/// A hypercall `nr` with `DATA` as its argument.
fn hypercall(nr: u64) -> Vec<u32> {
    access(hc(nr), DATA, asm::str_w(1, 0))
}

fn words(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// An AArch64 hvt image running `code` with `data` at `DATA`, built by the one image
/// builder (`tender_tests::elf_image`).
pub fn image(code: &[u32], data: &[u8]) -> Vec<u8> {
    let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    elf_image::hvt_image(elf_image::EM_AARCH64, &bytes, data, elf_image::Notes::default())
}

/// One hostile guest: its name, the exit status and a piece of the message
/// the tender must print, and the image.
#[derive(Debug)]
pub struct Case {
    pub name: &'static str,
    pub status: u8,
    pub expect: &'static str,
    pub image: Vec<u8>,
}

/// Every case (the VM's test script runs each).
pub fn cases() -> Vec<Case> {
    let case = |name, status, expect, code: Vec<u32>, data: Vec<u8>| Case {
        name,
        status,
        expect,
        image: image(&code, &data),
    };
    vec![
        // HALT { cookie 0, status 42 }.
        case("halt_passes_the_status", 42, "", hypercall(8), words(&[0, 42])),
        // PUTS { data far outside RAM, len 16 }.
        case(
            "puts_outside_memory",
            1,
            "Hypercall PUTS: bad guest address",
            hypercall(2),
            words(&[0xFFFF_0000_0000, 16]),
        ),
        case("hypercall_number_0", 1, "Invalid hypercall number 0", hypercall(0), vec![]),
        case(
            "eight_byte_hypercall",
            1,
            "8-byte write to 0x100000010 (hypercalls are 4-byte writes)",
            access(hc(2), DATA, asm::str_x(1, 0)),
            vec![],
        ),
        case(
            "two_byte_hypercall",
            1,
            "2-byte write to 0x100000010",
            access(hc(2), DATA, asm::strh(1, 0)),
            vec![],
        ),
        case("hypercall_read", 1, "4-byte read from 0x100000010", access(hc(2), 0, asm::ldr_w(1, 0)), vec![]),
        // As solo5-hvt, any 4-byte write in the window decodes as nr = offset >> 3:
        // +0x44 is HALT.
        case(
            "halt_between_hypercall_addresses",
            43,
            "",
            access(hc(8) + 4, DATA, asm::str_w(1, 0)),
            words(&[0, 43]),
        ),
        case("hypercall_number_9", 1, "4-byte write to 0x100000048", hypercall(9), vec![]),
        // Its own code is read-only in the host mapping.
        case(
            "write_to_read_only_code",
            1,
            "Guest memory protection fault",
            access(LOAD, 0, asm::str_w(1, 0)),
            vec![],
        ),
    ]
}

/// A guest that spins forever (for the SIGTERM test).
pub fn spin() -> Vec<u8> {
    image(&[asm::SPIN], &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_manual() {
        // movz x0, #0x10; movk x0, #0x1, lsl #32 (= 0x1_0000_0010)
        assert_eq!(asm::mov(0, 0x1_0000_0010), [0xD280_0200, 0xF2C0_0020]);
        assert_eq!(asm::mov(1, 0), [0xD280_0001]);
        assert_eq!(asm::str_w(1, 0), 0xB900_0001);
        assert_eq!(asm::str_x(1, 0), 0xF900_0001);
        assert_eq!(asm::strh(1, 0), 0x7900_0001);
        assert_eq!(asm::ldr_w(1, 0), 0xB940_0001);
    }

    #[test]
    fn images_are_aarch64_hvt_executables() {
        for c in cases() {
            let b = &c.image;
            assert_eq!(&b[..4], b"\x7fELF", "{}", c.name);
            assert_eq!(u16::from_le_bytes([b[18], b[19]]), 183);
            assert_eq!(u64::from_le_bytes(b[24..32].try_into().unwrap()), LOAD, "{}: e_entry", c.name);
            assert!(!c.name.contains('.'), "the file name encodes the status after a dot");
        }
        // Two halt on purpose (42 and 43); every other case is a fatal error.
        assert_eq!(cases().iter().filter(|c| c.status == 1).count(), cases().len() - 2);
    }
}
