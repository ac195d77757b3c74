//! The Solo5 notes (ABI.md §1): the first note of each `PT_NOTE`, and the ABI note's checks.

use super::{file_range, parse, u32_at, ElfError};
use abi::note::{self, AbiDesc};
use goblin::elf::note::Nhdr32;
use goblin::elf::program_header::PT_NOTE;
use scroll::{Pread, LE};

/// Which Solo5 note: each is the first note of its own `PT_NOTE` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteKind {
    /// `.note.solo5.abi` ("ABI1").
    Abi,
    /// `.note.solo5.manifest` ("MFT1").
    Manifest,
    /// `.note.tender.features` ("FEA1", name `Tender`) **(ours)**: optional.
    Features,
}

impl NoteKind {
    fn n_type(self) -> u32 {
        match self {
            NoteKind::Abi => note::TYPE_ABI,
            NoteKind::Manifest => note::TYPE_MANIFEST,
            NoteKind::Features => note::TYPE_FEATURES,
        }
    }

    /// The note's name, NUL included.
    fn name(self) -> &'static [u8] {
        match self {
            NoteKind::Abi | NoteKind::Manifest => note::NAME,
            NoteKind::Features => note::TENDER_NAME,
        }
    }

    fn align(self) -> u64 {
        match self {
            NoteKind::Abi => note::ABI_ALIGN,
            NoteKind::Manifest => note::MANIFEST_ALIGN,
            NoteKind::Features => note::ABI_ALIGN,
        }
    }

    /// Bytes between the note header and the descriptor; `n_descsz` counts them.
    fn padding(self) -> u64 {
        note::desc_offset(self.align()) - note::HEADER_SIZE
    }

    /// Smallest accepted `n_descsz`: the ABI wants 1. **(ours)** The ABI note must hold a
    /// whole [`AbiDesc`], and the manifest's `n_descsz` must at least cover its padding.
    fn min_descsz(self) -> u64 {
        match self {
            NoteKind::Abi => note::ABI_DESC_SIZE,
            NoteKind::Manifest => self.padding().max(1),
            NoteKind::Features => 4,
        }
    }

    fn max_descsz(self) -> u64 {
        match self {
            NoteKind::Abi => note::ABI_MAX,
            NoteKind::Manifest => note::MANIFEST_MAX,
            NoteKind::Features => 4,
        }
    }
}

impl std::fmt::Display for NoteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NoteKind::Abi => "ABI",
            NoteKind::Manifest => "manifest",
            NoteKind::Features => "tender features",
        })
    }
}

/// Reads and checks the ABI note: it must exist and say target hvt, ABI version 2.
pub fn read_abi_note(file: &[u8]) -> Result<AbiDesc, ElfError> {
    let desc = find_note(file, NoteKind::Abi)?;
    let word = |i: usize| u32_at(desc, 4 * i).unwrap_or(0);
    let abi = AbiDesc { abi_target: word(0), abi_version: word(1), reserved0: word(2), reserved1: word(3) };
    if abi.abi_target != note::TARGET_HVT {
        return Err(ElfError::Target { target: abi.abi_target });
    }
    if abi.abi_version != abi::ABI_VERSION {
        return Err(ElfError::AbiVersion { version: abi.abi_version });
    }
    Ok(abi)
}

/// Returns the manifest note's descriptor: the raw `struct mft` bytes (not yet validated,
/// see [`crate::manifest::Manifest::parse`]).
pub fn read_manifest_note(file: &[u8]) -> Result<Vec<u8>, ElfError> {
    find_note(file, NoteKind::Manifest).map(<[u8]>::to_vec)
}

/// The guest's `FEATURE_*` bits from tender's own note **(ours)**: 0 where there is none, as
/// in every Solo5-built image (or where it is malformed: it only ever offers more).
pub fn read_tender_features(file: &[u8]) -> u32 {
    find_note(file, NoteKind::Features).ok().and_then(|desc| u32_at(desc, 0)).unwrap_or(0)
}

/// The descriptor of the first `PT_NOTE` whose first note is the note of `kind`.
fn find_note(file: &[u8], kind: NoteKind) -> Result<&[u8], ElfError> {
    let parsed = parse(file)?;
    for ph in parsed.phdrs.iter().filter(|ph| ph.p_type == PT_NOTE) {
        let index = ph.index;
        if ph.p_filesz < note::NHDR_SIZE {
            return Err(ElfError::NoteTooSmall { index, filesz: ph.p_filesz });
        }
        if ph.p_filesz < note::HEADER_SIZE {
            continue;
        }
        let seg = file_range(file, ph.p_offset, ph.p_filesz)
            .and_then(|r| file.get(r))
            .ok_or(ElfError::NoteOutsideFile { index })?;
        // `seg` holds at least HEADER_SIZE bytes, so the header read succeeds.
        let Ok(nhdr) = seg.pread_with::<Nhdr32>(0, LE) else { continue };
        let descsz = nhdr.n_descsz;
        let name = seg.get(12..12 + kind.name().len());
        if nhdr.n_namesz as usize != kind.name().len() || name != Some(kind.name()) {
            continue;
        }
        if nhdr.n_type != kind.n_type() {
            continue;
        }
        let (min, max) = (kind.min_descsz(), kind.max_descsz());
        if !(min..=max).contains(&u64::from(descsz)) {
            return Err(ElfError::NoteDescSize { index, kind, descsz, min, max });
        }
        // descsz ≤ max, so these sums cannot overflow.
        let end = note::HEADER_SIZE + u64::from(descsz);
        if ph.p_filesz < end {
            return Err(ElfError::NoteTruncated { index, kind, descsz, filesz: ph.p_filesz });
        }
        let start = note::desc_offset(kind.align());
        let desc =
            usize::try_from(start).ok().zip(usize::try_from(end).ok()).and_then(|(s, e)| seg.get(s..e));
        return desc.ok_or(ElfError::NoteOutsideFile { index });
    }
    Err(ElfError::NoteMissing(kind))
}
