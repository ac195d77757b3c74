//! Hand-assembled x86_64 hvt images for hostile-guest tests, built by the one image
//! builder ([`crate::elf_image`]): code at 0x100000 (entry), data at [`DATA`], the notes.

pub use crate::elf_image::{Notes, DATA};

/// An x86_64 hvt image running `code` with `data` at [`DATA`].
pub fn image(code: &[u8], data: &[u8], notes: Notes) -> Vec<u8> {
    crate::elf_image::hvt_image(crate::elf_image::EM_X86_64, code, data, notes)
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
