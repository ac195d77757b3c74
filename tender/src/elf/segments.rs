//! The load plan: which `PT_LOAD` segments go where, after every check of ABI.md §1.

use super::{parse, ElfError, Image, Phdr, Segment};
use abi::layout::{MIN_LOAD_ADDR, PAGE_SIZE};
use goblin::elf::program_header::{PF_W, PF_X, PT_LOAD};

/// Checks the entry point and every loaded segment against a guest of `mem_size` bytes, and
/// returns what to copy where. Only `PT_LOAD` segments with `p_filesz != 0` are loaded (Solo5
/// images carry an empty TLS `PT_LOAD` at address 0 and may carry a file-less `.bss` one).
pub fn plan_load(file: &[u8], mem_size: u64) -> Result<Image, ElfError> {
    plan_load_from(file, file.len() as u64, mem_size)
}

/// [`plan_load`] from the file's head (see [`read_head`](super::read_head)) and its length:
/// segment data is checked against the whole file without having read it.
pub fn plan_load_from(head: &[u8], file_len: u64, mem_size: u64) -> Result<Image, ElfError> {
    let parsed = parse(head)?;
    let entry = parsed.entry;
    if entry < MIN_LOAD_ADDR || entry >= mem_size {
        return Err(ElfError::Entry { entry, mem_size });
    }
    let mut segments: Vec<Segment> = Vec::new();
    for ph in parsed.phdrs.iter().filter(|ph| ph.p_type == PT_LOAD && ph.p_filesz != 0) {
        let segment = check_segment(ph, segments.last(), file_len, mem_size)?;
        segments.push(segment);
    }
    let kernel_end = segments.iter().map(|s| s.prot_end).max().ok_or(ElfError::NoLoad)?;
    Ok(Image { entry, kernel_end, segments })
}

/// Applies the per-segment rules, in order, to one loaded `PT_LOAD`.
fn check_segment(
    ph: &Phdr,
    prev: Option<&Segment>,
    file_len: u64,
    mem_size: u64,
) -> Result<Segment, ElfError> {
    let index = ph.index;
    let (vaddr, filesz, memsz, align) = (ph.p_vaddr, ph.p_filesz, ph.p_memsz, ph.p_align);
    if vaddr < MIN_LOAD_ADDR {
        return Err(ElfError::BelowMinimum { index, vaddr });
    }
    if let Some(prev) = prev {
        if vaddr < prev.vaddr {
            return Err(ElfError::NotAscending { index, vaddr, prev: prev.vaddr });
        }
    }
    if memsz < filesz {
        return Err(ElfError::MemszBelowFilesz { index, memsz, filesz });
    }
    if !align.is_power_of_two() {
        return Err(ElfError::Align { index, align });
    }
    let writable = ph.p_flags & PF_W != 0;
    let executable = ph.p_flags & PF_X != 0;
    if writable && executable {
        return Err(ElfError::WriteExec { index });
    }
    let mask = align - 1;
    let end = vaddr
        .checked_add(memsz)
        .and_then(|end| end.checked_add(mask))
        .map(|end| end & !mask)
        .ok_or(ElfError::Overflow { index, vaddr, memsz })?;
    let start = vaddr & !mask;
    if start % PAGE_SIZE != 0 || end % PAGE_SIZE != 0 {
        return Err(ElfError::NotPageAligned { index, start, end, align });
    }
    // (ours) With a p_align above 1 MiB the aligned start could fall below the image area and
    // the host would write-protect boot info; solo5-hvt would fail later on such an image.
    if start < MIN_LOAD_ADDR {
        return Err(ElfError::AlignedBelowMinimum { index, start });
    }
    if let Some(prev) = prev {
        if start < prev.prot_end {
            return Err(ElfError::Overlap { index, start, prev_end: prev.prot_end });
        }
    }
    // `vaddr + filesz ≤ vaddr + memsz ≤ end`, so this also keeps the file data in guest memory.
    if end > mem_size {
        return Err(ElfError::BeyondMemory { index, end, mem_size });
    }
    let outside = ph.p_offset.checked_add(filesz).is_none_or(|end| end > file_len);
    let file_range = usize::try_from(ph.p_offset)
        .ok()
        .zip(usize::try_from(filesz).ok())
        .and_then(|(start, len)| Some(start..start.checked_add(len)?))
        .filter(|_| !outside)
        .ok_or(ElfError::SegmentOutsideFile { index, offset: ph.p_offset, filesz })?;
    Ok(Segment { vaddr, file_range, memsz, prot_start: start, prot_end: end, writable, executable })
}
