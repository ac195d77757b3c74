//! The one builder of test images, for either architecture: ELF64 header, program headers,
//! Solo5 notes and segment bytes, every field overridable (the loader's unit tests), and
//! [`hvt_image`], a runnable image around hand-assembled code (the hostile-guest tests on
//! x86_64 and in the arm64 VM).

use abi::bytes::{put_u16 as put16, put_u32 as put32, put_u64 as put64};
use abi::manifest as mft;
use abi::note;

/// The ELF constants the images use (elf.h).
pub const ELFMAG: &[u8; 4] = b"\x7fELF";
pub const ELFCLASS64: u8 = 2;
pub const ELFDATA2LSB: u8 = 1;
pub const EV_CURRENT: u8 = 1;
pub const ET_EXEC: u16 = 2;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;
pub const PT_LOAD: u32 = 1;
pub const PT_NOTE: u32 = 4;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

/// One program header and the bytes it points at.
#[derive(Clone, Debug)]
pub struct Ph {
    pub p_type: u32,
    pub flags: u32,
    pub vaddr: u64,
    pub memsz: u64,
    pub align: u64,
    /// Bytes placed in the file for this segment.
    pub data: Vec<u8>,
    /// Overrides the computed `p_offset`.
    pub offset: Option<u64>,
    /// Overrides `p_filesz` (default: `data.len()`).
    pub filesz: Option<u64>,
}

/// A PT_LOAD of `len` file bytes (filled with `0xAB`) at `vaddr`.
pub fn load(flags: u32, vaddr: u64, len: usize, memsz: u64) -> Ph {
    Ph {
        p_type: PT_LOAD,
        flags,
        vaddr,
        memsz,
        align: 0x1000,
        data: vec![0xAB; len],
        offset: None,
        filesz: None,
    }
}

/// A PT_NOTE holding `bytes`.
pub fn note_ph(bytes: Vec<u8>) -> Ph {
    Ph { p_type: PT_NOTE, flags: PF_R, vaddr: 0, memsz: 0, align: 4, ..load(0, 0, 0, 0) }.with_data(bytes)
}

impl Ph {
    pub fn with_data(mut self, data: Vec<u8>) -> Ph {
        self.memsz = self.memsz.max(data.len() as u64);
        self.data = data;
        self
    }
}

/// A whole image; [`ElfBuilder::build`] lays it out as header, phdr table, then each segment's
/// bytes in order (8-byte aligned).
#[derive(Clone, Debug)]
pub struct ElfBuilder {
    pub class: u8,
    pub data: u8,
    pub version: u32,
    pub e_type: u16,
    pub machine: u16,
    pub entry: u64,
    pub ehsize: u16,
    pub phentsize: u16,
    /// Overrides `e_phnum` (default: `phdrs.len()`).
    pub phnum: Option<u16>,
    /// Overrides `e_phoff` (default: 64).
    pub phoff: Option<u64>,
    pub phdrs: Vec<Ph>,
}

impl ElfBuilder {
    /// A valid header for `machine` (`EM_X86_64`, `EM_AARCH64`) with no program headers.
    pub fn new(machine: u16) -> ElfBuilder {
        ElfBuilder {
            class: ELFCLASS64,
            data: ELFDATA2LSB,
            version: EV_CURRENT.into(),
            e_type: ET_EXEC,
            machine,
            entry: 0x10_0010,
            ehsize: 64,
            phentsize: 56,
            phnum: None,
            phoff: None,
            phdrs: Vec::new(),
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(ELFMAG);
        f[4] = self.class;
        f[5] = self.data;
        f[6] = EV_CURRENT;
        put16(&mut f, 16, self.e_type);
        put16(&mut f, 18, self.machine);
        put32(&mut f, 20, self.version);
        put64(&mut f, 24, self.entry);
        put64(&mut f, 32, self.phoff.unwrap_or(64));
        put16(&mut f, 52, self.ehsize);
        put16(&mut f, 54, self.phentsize);
        put16(&mut f, 56, self.phnum.unwrap_or(self.phdrs.len() as u16));
        let table = f.len();
        f.resize(table + 56 * self.phdrs.len(), 0);
        for (i, ph) in self.phdrs.iter().enumerate() {
            f.resize(f.len().next_multiple_of(8), 0);
            let offset = ph.offset.unwrap_or(f.len() as u64);
            f.extend_from_slice(&ph.data);
            let h = table + 56 * i;
            put32(&mut f, h, ph.p_type);
            put32(&mut f, h + 4, ph.flags);
            put64(&mut f, h + 8, offset);
            put64(&mut f, h + 16, ph.vaddr);
            put64(&mut f, h + 24, ph.vaddr);
            put64(&mut f, h + 32, ph.filesz.unwrap_or(ph.data.len() as u64));
            put64(&mut f, h + 40, ph.memsz);
            put64(&mut f, h + 48, ph.align);
        }
        f
    }
}

/// A note: header with the given fields, name padded to 8, then `desc` at `desc_offset(align)`.
pub fn note_bytes(namesz: u32, name: &[u8], n_type: u32, descsz: u32, align: u64, desc: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 20];
    put32(&mut b, 0, namesz);
    put32(&mut b, 4, descsz);
    put32(&mut b, 8, n_type);
    b[12..12 + name.len()].copy_from_slice(name);
    b.resize(note::desc_offset(align) as usize, 0);
    b.extend_from_slice(desc);
    b
}

/// The ABI note for `target` and `version` with `n_descsz` 16.
pub fn abi_note(target: u32, version: u32) -> Vec<u8> {
    let mut desc = vec![0u8; 16];
    put32(&mut desc, 0, target);
    put32(&mut desc, 4, version);
    note_bytes(6, note::NAME, note::TYPE_ABI, 16, note::ABI_ALIGN, &desc)
}

/// The manifest note around `mft` bytes (`n_descsz` counts the 4 pad bytes, as Solo5 does).
pub fn manifest_note(mft: &[u8]) -> Vec<u8> {
    let descsz = mft.len() as u32 + 4;
    note_bytes(6, note::NAME, note::TYPE_MANIFEST, descsz, note::MANIFEST_ALIGN, mft)
}

/// `struct mft` bytes: the RESERVED_FIRST entry, then one entry per `(name, type)`.
pub fn mft(devices: &[(&str, u32)]) -> Vec<u8> {
    let n = devices.len() + 1;
    let mut b = vec![0u8; mft::HEADER_SIZE + n * mft::ENTRY_SIZE];
    mft::encode_header(&mut b, mft::VERSION, n as u32);
    put32(&mut b, mft::entry_range(0).start + mft::off::TYPE, mft::TYPE_RESERVED_FIRST);
    for (i, (name, ty)) in devices.iter().enumerate() {
        let e = mft::entry_range(i + 1).start;
        b[e..e + name.len()].copy_from_slice(name.as_bytes());
        put32(&mut b, e + mft::off::TYPE, *ty);
    }
    b
}

/// Phdr indices of [`good_image`].
pub mod phdr {
    pub const ABI: usize = 0;
    pub const MANIFEST: usize = 1;
    pub const TLS: usize = 2;
    pub const TEXT: usize = 3;
    pub const DATA: usize = 4;
    pub const BSS: usize = 5;
}

/// A Solo5-like image for `machine`: ABI and manifest notes, an empty TLS PT_LOAD at 0, text
/// (R+X) at 0x100000, data (R+W, with some .bss) at 0x101000, and a file-less .bss PT_LOAD at
/// 0x102000.
pub fn good_image(machine: u16) -> ElfBuilder {
    let devices = [("storage", mft::TYPE_BLOCK_BASIC), ("service", mft::TYPE_NET_BASIC)];
    let mut b = ElfBuilder::new(machine);
    b.phdrs = vec![
        note_ph(abi_note(note::TARGET_HVT, abi::ABI_VERSION)),
        note_ph(manifest_note(&mft(&devices))),
        load(PF_R, 0, 0, 0),
        load(PF_R | PF_X, 0x10_0000, 0x40, 0x40),
        load(PF_R | PF_W, 0x10_1000, 0x10, 0x20),
        load(PF_R | PF_W, 0x10_2000, 0, 0x3000),
    ];
    b.phdrs[phdr::MANIFEST].align = 8;
    b
}

/// Where [`hvt_image`] loads its code.
pub const CODE: u64 = 0x10_0000;
/// Guest address of [`hvt_image`]'s data block, which code can point hypercalls at.
pub const DATA: u64 = CODE + 0x800;

/// What the notes of an [`hvt_image`] say.
#[derive(Clone, Copy, Debug)]
pub struct Notes {
    pub abi_target: u32,
    pub abi_version: u32,
    pub with_abi: bool,
    pub with_manifest: bool,
    /// A net device named "net0" in the manifest (handle 1).
    pub with_net: bool,
    /// A block device named "disk0" in the manifest (after "net0", if there is one).
    pub with_block: bool,
    /// tender's features note (ours) with these bits, in a `PT_NOTE` of its own.
    pub tender_features: Option<u32>,
}

impl Default for Notes {
    fn default() -> Self {
        Notes {
            abi_target: note::TARGET_HVT,
            abi_version: abi::ABI_VERSION,
            with_abi: true,
            with_manifest: true,
            with_net: false,
            with_block: false,
            tender_features: None,
        }
    }
}

/// A runnable hvt image for `machine`: `code` (entry) and, at [`DATA`], `data`, in one R+X
/// PT_LOAD of 4 KiB at [`CODE`]; plus the notes.
pub fn hvt_image(machine: u16, code: &[u8], data: &[u8], notes: Notes) -> Vec<u8> {
    assert!(code.len() <= 0x800 && data.len() <= 0x800);
    let mut seg = vec![0u8; 0x1000];
    seg[..code.len()].copy_from_slice(code);
    seg[0x800..0x800 + data.len()].copy_from_slice(data);
    let mut b = ElfBuilder::new(machine);
    b.entry = CODE;
    let mut text = load(PF_R | PF_X, CODE, 0, 0x1000).with_data(seg);
    // Page-aligned in the file too, as a linker lays out a loadable segment.
    text.offset = Some(0x1000);
    if notes.with_abi {
        b.phdrs.push(note_ph(abi_note(notes.abi_target, notes.abi_version)));
    }
    if notes.with_manifest {
        let mut devices = Vec::new();
        if notes.with_net {
            devices.push(("net0", mft::TYPE_NET_BASIC));
        }
        if notes.with_block {
            devices.push(("disk0", mft::TYPE_BLOCK_BASIC));
        }
        let mut m = note_ph(manifest_note(&mft(&devices)));
        m.align = 8;
        b.phdrs.push(m);
    }
    if let Some(bits) = notes.tender_features {
        let name = note::TENDER_NAME;
        b.phdrs.push(note_ph(note_bytes(
            name.len() as u32,
            name,
            note::TYPE_FEATURES,
            4,
            4,
            &bits.to_le_bytes(),
        )));
    }
    b.phdrs.push(text.clone());
    let mut f = b.build();
    // The load segment's bytes go at its page-aligned offset (build put them after the notes).
    f.truncate(f.len() - text.data.len());
    f.resize(0x1000, 0);
    f.extend_from_slice(&text.data);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hvt_images_put_code_and_data_where_they_say() {
        let f = hvt_image(EM_AARCH64, &[1, 2, 3], &[9; 8], Notes { with_net: true, ..Notes::default() });
        assert_eq!(&f[..4], ELFMAG);
        assert_eq!(u16::from_le_bytes([f[18], f[19]]), EM_AARCH64);
        assert_eq!(&f[0x1000..0x1003], &[1, 2, 3]);
        assert_eq!(&f[0x1800..0x1808], &[9; 8]);
        assert_eq!(f.len(), 0x2000);
        let text = 64 + 56 * 2;
        assert_eq!(u32::from_le_bytes(f[text..text + 4].try_into().unwrap()), PT_LOAD);
        assert_eq!(u64::from_le_bytes(f[text + 8..text + 16].try_into().unwrap()), 0x1000);
        let without = hvt_image(EM_X86_64, &[], &[], Notes { with_abi: false, ..Notes::default() });
        assert_eq!(u16::from_le_bytes([without[56], without[57]]), 2, "manifest and text only");
    }
}
