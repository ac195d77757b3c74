//! Hand-assembled AArch64 hvt images for the VM's hostile-guest tests: each is
//! a few instructions that make one malformed hypercall or bad access, with the
//! exit status and the message the tender must answer with.

use abi::bytes::{put_u16, put_u32, put_u64};
use abi::{manifest, note};

/// Guest address of the data block that code can point hypercalls at.
const DATA: u64 = 0x10_0800;
const LOAD: u64 = 0x10_0000;
const SEG_OFFSET: usize = 0x1000;
const SEG_SIZE: usize = 0x1000;
/// `EM_AARCH64`.
const EM_AARCH64: u16 = 183;
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

fn note_header(b: &mut [u8], at: usize, descsz: u32, ty: u32) {
    put_u32(b, at, note::NAME.len() as u32);
    put_u32(b, at + 4, descsz);
    put_u32(b, at + 8, ty);
    b[at + 12..at + 20].copy_from_slice(&note::NAME_PADDED);
}

/// (type, flags, offset, vaddr, size, align) of one program header at `index`.
fn phdr(b: &mut [u8], index: usize, p: (u32, u32, usize, u64, usize, u64)) {
    let at = 64 + 56 * index;
    put_u32(b, at, p.0);
    put_u32(b, at + 4, p.1);
    put_u64(b, at + 8, p.2 as u64);
    put_u64(b, at + 16, p.3);
    put_u64(b, at + 24, p.3);
    put_u64(b, at + 32, p.4 as u64);
    put_u64(b, at + 40, p.4 as u64);
    put_u64(b, at + 48, p.5);
}

/// An AArch64 hvt image running `code` with `data` at `DATA`: one R+X PT_LOAD
/// at 0x100000 and the ABI and manifest notes.
pub fn image(code: &[u32], data: &[u8]) -> Vec<u8> {
    assert!(code.len() * 4 <= 0x800 && data.len() <= 0x800);
    let mut b = vec![0u8; SEG_OFFSET + SEG_SIZE];
    b[..4].copy_from_slice(b"\x7fELF");
    (b[4], b[5], b[6]) = (2, 1, 1); // ELFCLASS64, little-endian, EV_CURRENT
    put_u16(&mut b, 16, 2); // ET_EXEC
    put_u16(&mut b, 18, EM_AARCH64);
    put_u32(&mut b, 20, 1);
    put_u64(&mut b, 24, LOAD); // e_entry
    put_u64(&mut b, 32, 64); // e_phoff
    put_u16(&mut b, 52, 64); // e_ehsize
    put_u16(&mut b, 54, 56); // e_phentsize
    put_u16(&mut b, 56, 3); // e_phnum
    phdr(&mut b, 0, (1, 5, SEG_OFFSET, LOAD, SEG_SIZE, 0x1000)); // PT_LOAD R+X
    let (abi_at, mft_at) = (0x100, 0x128);
    note_header(&mut b, abi_at, note::ABI_DESC_SIZE as u32, note::TYPE_ABI);
    put_u32(&mut b, abi_at + 20, note::TARGET_HVT);
    put_u32(&mut b, abi_at + 24, abi::ABI_VERSION);
    phdr(&mut b, 1, (4, 4, abi_at, 0, 20 + note::ABI_DESC_SIZE as usize, 4)); // PT_NOTE
    let mft_desc = 4 + manifest::HEADER_SIZE + manifest::ENTRY_SIZE;
    note_header(&mut b, mft_at, mft_desc as u32, note::TYPE_MANIFEST);
    put_u32(&mut b, mft_at + 24, manifest::VERSION);
    put_u32(&mut b, mft_at + 28, 1);
    put_u32(&mut b, mft_at + 32 + manifest::off::TYPE, manifest::TYPE_RESERVED_FIRST);
    phdr(&mut b, 2, (4, 4, mft_at, 0, 20 + mft_desc, 8)); // PT_NOTE
    for (i, w) in code.iter().enumerate() {
        put_u32(&mut b, SEG_OFFSET + 4 * i, *w);
    }
    b[SEG_OFFSET + 0x800..SEG_OFFSET + 0x800 + data.len()].copy_from_slice(data);
    b
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
            assert_eq!(u32::from_le_bytes(b[0x108..0x10C].try_into().unwrap()), note::TYPE_ABI);
            assert!(!c.name.contains('.'), "the file name encodes the status after a dot");
        }
        // Two halt on purpose (42 and 43); every other case is a fatal error.
        assert_eq!(cases().iter().filter(|c| c.status == 1).count(), cases().len() - 2);
    }
}
