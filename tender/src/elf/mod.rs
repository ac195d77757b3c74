//! Reads a Solo5 hvt unikernel image: ELF64 header, Solo5 notes and the load plan (ABI.md §1).
//!
//! Everything here is pure: it works on the bytes of the whole file and never touches guest
//! memory. Every offset and length in the file is untrusted; all arithmetic is checked and all
//! reads go through `.get()`, so no input can make these functions panic.

mod head;
mod notes;
mod segments;
#[cfg(test)]
mod tests;

use abi::layout::MIN_LOAD_ADDR;
use goblin::elf::header::{
    EI_CLASS, EI_DATA, ELFCLASS64, ELFDATA2LSB, ELFMAG, EM_AARCH64, EM_X86_64, ET_EXEC, EV_CURRENT, SELFMAG,
};
use goblin::elf64::header::{Header as Ehdr, SIZEOF_EHDR};
use goblin::elf64::program_header::SIZEOF_PHDR;
use scroll::{Pread, LE};

pub use head::{read_head, requests_interpreter, MAX_HEAD};
pub use notes::{read_abi_note, read_manifest_note, read_tender_features, NoteKind};
pub use segments::{plan_load, plan_load_from};

/// What to copy where: the result of [`plan_load`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// `e_entry`, checked to lie in `MIN_LOAD_ADDR..mem_size`.
    pub entry: u64,
    /// The largest aligned end of the loaded segments (boot info's `kernel_end`).
    pub kernel_end: u64,
    /// The loaded segments (`PT_LOAD` with `p_filesz != 0`), in file order.
    pub segments: Vec<Segment>,
}

/// One loaded segment: copy `file[file_range]` to guest address `vaddr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Guest address of the first file byte (`p_vaddr`).
    pub vaddr: u64,
    /// The segment's bytes: offsets in the file, inside it.
    pub file_range: std::ops::Range<usize>,
    /// `p_memsz` (≥ the file range's length; the rest is zero guest RAM).
    pub memsz: u64,
    /// Start of the page-aligned guest range the segment owns: `p_vaddr` aligned down to
    /// `p_align`.
    pub prot_start: u64,
    /// End of that range (`p_vaddr + p_memsz` aligned up to `p_align`), ≤ guest memory size.
    pub prot_end: u64,
    /// `PF_W`: the host leaves the range writable.
    pub writable: bool,
    /// `PF_X`.
    pub executable: bool,
}

/// Why an image cannot be run. `Display` is the reason alone; the caller prefixes `<file>: `.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ElfError {
    #[error("invalid executable: not an ELF file")]
    NotElf,
    #[error("invalid executable: ELF header truncated ({len} of {size} bytes)", size = SIZEOF_EHDR)]
    TruncatedHeader { len: usize },
    #[error("invalid executable: not a 64-bit ELF file (EI_CLASS {0})")]
    Class(u8),
    #[error("invalid executable: not a little-endian ELF file (EI_DATA {0})")]
    Endian(u8),
    #[error("invalid executable: unsupported ELF version {0}")]
    Version(u32),
    #[error("invalid executable: not a static executable (e_type {0}, expected ET_EXEC)")]
    Type(u16),
    #[error(
        "invalid executable: built for {} (e_machine {found}), this host is {} ({expected})",
        machine_name(*found),
        machine_name(*expected)
    )]
    Machine { found: u16, expected: u16 },
    #[error("invalid executable: e_ehsize is {0}, expected 64")]
    EhSize(u16),
    #[error("invalid executable: e_phentsize is {0}, expected 56")]
    PhentSize(u16),
    #[error("invalid executable: no program headers")]
    NoPhdrs,
    #[error(
        "invalid executable: program header table ({phnum} entries at {phoff:#x}) \
         extends past the end of the file"
    )]
    PhdrTable { phoff: u64, phnum: u16 },

    #[error("invalid executable: phdr[{index}] is a PT_NOTE of only {filesz} bytes")]
    NoteTooSmall { index: usize, filesz: u64 },
    #[error("invalid executable: phdr[{index}] (PT_NOTE) extends past the end of the file")]
    NoteOutsideFile { index: usize },
    #[error(
        "invalid executable: phdr[{index}]: Solo5 {kind} note has n_descsz {descsz}, \
         expected {min} to {max}"
    )]
    NoteDescSize { index: usize, kind: NoteKind, descsz: u32, min: u64, max: u64 },
    #[error(
        "invalid executable: phdr[{index}]: Solo5 {kind} note (n_descsz {descsz}) \
         does not fit in p_filesz {filesz}"
    )]
    NoteTruncated { index: usize, kind: NoteKind, descsz: u32, filesz: u64 },
    #[error("invalid executable: no Solo5 {0} note (not a Solo5 unikernel?)")]
    NoteMissing(NoteKind),
    #[error("invalid executable: built for {}, not hvt", target_desc(*target))]
    Target { target: u32 },
    #[error(
        "invalid executable: built for hvt ABI version {version}, \
         this tender implements version {expected}",
        expected = abi::ABI_VERSION
    )]
    AbiVersion { version: u32 },

    #[error(
        "invalid executable: e_entry {entry:#x} is outside guest memory \
         ({min:#x}..{mem_size:#x})",
        min = MIN_LOAD_ADDR
    )]
    Entry { entry: u64, mem_size: u64 },
    #[error(
        "invalid executable: phdr[{index}].p_vaddr {vaddr:#x} is below {min:#x}",
        min = MIN_LOAD_ADDR
    )]
    BelowMinimum { index: usize, vaddr: u64 },
    #[error(
        "invalid executable: phdr[{index}].p_vaddr is not in ascending order \
         ({vaddr:#x} < {prev:#x})"
    )]
    NotAscending { index: usize, vaddr: u64, prev: u64 },
    #[error("invalid executable: phdr[{index}].p_memsz {memsz:#x} is smaller than p_filesz {filesz:#x}")]
    MemszBelowFilesz { index: usize, memsz: u64, filesz: u64 },
    #[error("invalid executable: phdr[{index}].p_align {align:#x} is not a power of two")]
    Align { index: usize, align: u64 },
    #[error("invalid executable: phdr[{index}].p_vaddr {vaddr:#x} + p_memsz {memsz:#x} overflows")]
    Overflow { index: usize, vaddr: u64, memsz: u64 },
    #[error("invalid executable: phdr[{index}] requests WRITE and EXEC permissions")]
    WriteExec { index: usize },
    #[error(
        "invalid executable: phdr[{index}] is not 4 KiB-aligned \
         ({start:#x}..{end:#x} with p_align {align:#x})"
    )]
    NotPageAligned { index: usize, start: u64, end: u64, align: u64 },
    #[error(
        "invalid executable: phdr[{index}] starts at {start:#x} once aligned to p_align, \
         below {min:#x}",
        min = MIN_LOAD_ADDR
    )]
    AlignedBelowMinimum { index: usize, start: u64 },
    #[error(
        "invalid executable: phdr[{index}] overlaps the previous segment \
         ({start:#x} < {prev_end:#x})"
    )]
    Overlap { index: usize, start: u64, prev_end: u64 },
    #[error("invalid executable: phdr[{index}] ends at {end:#x}, beyond guest memory ({mem_size:#x})")]
    BeyondMemory { index: usize, end: u64, mem_size: u64 },
    #[error(
        "invalid executable: phdr[{index}] file data ({filesz:#x} bytes at {offset:#x}) \
         extends past the end of the file"
    )]
    SegmentOutsideFile { index: usize, offset: u64, filesz: u64 },
    #[error("invalid executable: no PT_LOAD segment with file data")]
    NoLoad,
}

/// The `e_machine` this host runs (the arch facade's).
pub fn host_machine() -> u16 {
    crate::arch::ELF_MACHINE
}

fn machine_name(machine: u16) -> &'static str {
    match machine {
        EM_X86_64 => "x86_64",
        EM_AARCH64 => "aarch64",
        _ => "another machine",
    }
}

fn target_desc(target: u32) -> String {
    match abi::note::target_name(target) {
        "unknown" => format!("unknown Solo5 target {target}"),
        name => format!("the {name} target"),
    }
}

/// Checks the ELF64 header rules of ABI.md §1 for this host, in the order solo5-hvt does.
pub fn check_header(file: &[u8]) -> Result<(), ElfError> {
    parse(file).map(|_| ())
}

/// The header fields the loader needs, and the program headers.
pub(crate) struct Parsed {
    pub entry: u64,
    pub phdrs: Vec<Phdr>,
}

/// One `Elf64_Phdr` (without `p_paddr`) and its index in the table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Phdr {
    pub index: usize,
    pub p_type: u32,
    pub p_flags: u32,
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
    pub p_align: u64,
}

/// Validates the header and decodes the program header table. goblin decodes the structures
/// (bounds-checked, never panicking); the checks and their order are solo5-hvt's (ABI.md §1).
pub(crate) fn parse(file: &[u8]) -> Result<Parsed, ElfError> {
    if file.get(..SELFMAG) != Some(&ELFMAG[..]) {
        return Err(ElfError::NotElf);
    }
    let truncated = ElfError::TruncatedHeader { len: file.len() };
    let ident = file.get(..SIZEOF_EHDR).ok_or(truncated.clone())?;
    // Class and byte order first, from e_ident: goblin decodes any class and order.
    let class = ident.get(EI_CLASS).copied().unwrap_or(0);
    if class != ELFCLASS64 {
        return Err(ElfError::Class(class));
    }
    let data = ident.get(EI_DATA).copied().unwrap_or(0);
    if data != ELFDATA2LSB {
        return Err(ElfError::Endian(data));
    }
    let h: Ehdr = file.pread_with(0, LE).map_err(|_| truncated)?;
    if h.e_version != u32::from(EV_CURRENT) {
        return Err(ElfError::Version(h.e_version));
    }
    if h.e_type != ET_EXEC {
        return Err(ElfError::Type(h.e_type));
    }
    if h.e_machine != host_machine() {
        return Err(ElfError::Machine { found: h.e_machine, expected: host_machine() });
    }
    if usize::from(h.e_ehsize) != SIZEOF_EHDR {
        return Err(ElfError::EhSize(h.e_ehsize));
    }
    if usize::from(h.e_phentsize) != SIZEOF_PHDR {
        return Err(ElfError::PhentSize(h.e_phentsize));
    }
    let (phoff, phnum) = (h.e_phoff, h.e_phnum);
    if phnum == 0 {
        return Err(ElfError::NoPhdrs);
    }
    // The whole table must be inside the file; then every entry decodes.
    let table_inside = usize::try_from(phoff)
        .ok()
        .and_then(|start| start.checked_add(usize::from(phnum) * SIZEOF_PHDR))
        .is_some_and(|end| end <= file.len());
    let phdrs: Vec<Phdr> = head::phdrs(file, &h)
        .enumerate()
        .map(|(index, p)| Phdr {
            index,
            p_type: p.p_type,
            p_flags: p.p_flags,
            p_offset: p.p_offset,
            p_vaddr: p.p_vaddr,
            p_filesz: p.p_filesz,
            p_memsz: p.p_memsz,
            p_align: p.p_align,
        })
        .collect();
    if !table_inside || phdrs.len() != usize::from(phnum) {
        return Err(ElfError::PhdrTable { phoff, phnum });
    }
    Ok(Parsed { entry: h.e_entry, phdrs })
}

/// `len` bytes of `file` at the untrusted `offset`, if they are all inside it.
pub(crate) fn file_range(file: &[u8], offset: u64, len: u64) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    (end <= file.len()).then_some(start..end)
}

fn array_at<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    b.get(off..off.checked_add(N)?)?.try_into().ok()
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    array_at(b, off).map(u32::from_le_bytes)
}
