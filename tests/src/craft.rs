//! Hand-assembled hvt images for hostile-guest tests: one R+X PT_LOAD at 0x100000
//! holding `code` (entry) and, at [`DATA`], `data`; plus the ABI and manifest notes.

use abi::bytes::{put_u16, put_u32, put_u64};
use abi::{manifest, note};

/// Guest address of the data block that code can point hypercalls at.
pub const DATA: u64 = 0x10_0800;
const LOAD: u64 = 0x10_0000;
const SEG_OFFSET: usize = 0x1000;
const SEG_SIZE: usize = 0x1000;

/// What the notes say.
#[derive(Clone, Copy, Debug)]
pub struct Notes {
    pub abi_target: u32,
    pub abi_version: u32,
    pub with_abi: bool,
    pub with_manifest: bool,
    /// A net device named "net0" in the manifest (handle 1).
    pub with_net: bool,
}

impl Default for Notes {
    fn default() -> Self {
        Notes {
            abi_target: note::TARGET_HVT,
            abi_version: abi::ABI_VERSION,
            with_abi: true,
            with_manifest: true,
            with_net: false,
        }
    }
}

/// One program header: type, flags, file offset, vaddr, size (file = memory), align.
struct Phdr(u32, u32, usize, u64, usize, u64);

fn put_phdr(b: &mut [u8], at: usize, p: Phdr) {
    let Phdr(ty, flags, off, vaddr, size, align) = p;
    put_u32(b, at, ty);
    put_u32(b, at + 4, flags);
    put_u64(b, at + 8, off as u64);
    put_u64(b, at + 16, vaddr);
    put_u64(b, at + 24, vaddr);
    put_u64(b, at + 32, size as u64);
    put_u64(b, at + 40, size as u64);
    put_u64(b, at + 48, align);
}

fn note_header(b: &mut [u8], at: usize, descsz: u32, ty: u32) {
    put_u32(b, at, note::NAME.len() as u32);
    put_u32(b, at + 4, descsz);
    put_u32(b, at + 8, ty);
    b[at + 12..at + 20].copy_from_slice(&note::NAME_PADDED);
}

/// An x86_64 hvt image running `code` with `data` at [`DATA`].
pub fn image(code: &[u8], data: &[u8], notes: Notes) -> Vec<u8> {
    assert!(code.len() <= 0x800 && data.len() <= 0x800);
    let mut b = vec![0u8; SEG_OFFSET + SEG_SIZE];
    b[..4].copy_from_slice(b"\x7fELF");
    (b[4], b[5], b[6]) = (2, 1, 1); // ELFCLASS64, little-endian, EV_CURRENT
    put_u16(&mut b, 16, 2); // ET_EXEC
    put_u16(&mut b, 18, 62); // EM_X86_64
    put_u32(&mut b, 20, 1);
    put_u64(&mut b, 24, LOAD); // e_entry
    put_u64(&mut b, 32, 64); // e_phoff
    put_u16(&mut b, 52, 64); // e_ehsize
    put_u16(&mut b, 54, 56); // e_phentsize
    let (abi_at, mft_at) = (0x100usize, 0x128usize);
    let entries = 1 + usize::from(notes.with_net);
    let mft_desc = 4 + manifest::HEADER_SIZE + entries * manifest::ENTRY_SIZE;
    let mut phnum = 0;
    let mut add = |b: &mut Vec<u8>, p: Phdr| {
        put_phdr(b, 64 + 56 * phnum, p);
        phnum += 1;
    };
    add(&mut b, Phdr(1, 5, SEG_OFFSET, LOAD, SEG_SIZE, 0x1000)); // PT_LOAD R+X
    if notes.with_abi {
        note_header(&mut b, abi_at, 16, note::TYPE_ABI);
        put_u32(&mut b, abi_at + 20, notes.abi_target);
        put_u32(&mut b, abi_at + 24, notes.abi_version);
        add(&mut b, Phdr(4, 4, abi_at, 0, 36, 4)); // PT_NOTE
    }
    if notes.with_manifest {
        note_header(&mut b, mft_at, mft_desc as u32, note::TYPE_MANIFEST);
        let m = mft_at + 24;
        put_u32(&mut b, m, manifest::VERSION);
        put_u32(&mut b, m + 4, entries as u32);
        put_u32(&mut b, m + 8 + manifest::off::TYPE, manifest::TYPE_RESERVED_FIRST);
        if notes.with_net {
            let e = m + 8 + manifest::ENTRY_SIZE;
            b[e..e + 4].copy_from_slice(b"net0");
            put_u32(&mut b, e + manifest::off::TYPE, manifest::TYPE_NET_BASIC);
        }
        add(&mut b, Phdr(4, 4, mft_at, 0, 20 + mft_desc, 8));
    }
    put_u16(&mut b, 56, phnum as u16);
    b[SEG_OFFSET..SEG_OFFSET + code.len()].copy_from_slice(code);
    b[SEG_OFFSET + 0x800..SEG_OFFSET + 0x800 + data.len()].copy_from_slice(data);
    b
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

    /// `mov eax, arg; mov dx, 0x500+nr; out dx, eax`: hypercall `nr` with `arg`.
    pub fn hypercall(nr: u16, arg: u32) -> Vec<u8> {
        let mut c = mov_eax(arg);
        c.extend(mov_dx_port(nr));
        c.extend_from_slice(OUT_DX_EAX);
        c
    }
}

/// `words` as little-endian bytes (a hypercall's argument struct in a guest's data).
pub fn le(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Writes `bytes` to a fresh file in a per-test temporary directory.
pub fn temp_file(test: &str, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tender-tests-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write temp file");
    p
}
