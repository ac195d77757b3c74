//! The head of an image file: the bytes that hold its ELF header, program header table and
//! `PT_NOTE` segments, read without reading the rest of the file.
//!
//! [`check_header`](super::check_header), [`read_abi_note`](super::read_abi_note) and
//! [`read_manifest_note`](super::read_manifest_note) give the same answers on the head as on
//! the whole file whenever the notes lie within [`MAX_HEAD`] bytes (Solo5's linker scripts put
//! them right after the headers). tender-oci classifies container entrypoints this way.

use super::{u16_at, u32_at, u64_at};
use goblin::elf::program_header::PT_NOTE;
use goblin::elf64::program_header::SIZEOF_PHDR;
use std::io::{Read, Seek, SeekFrom};

/// The most bytes [`read_head`] reads; notes further into the file are not seen.
pub const MAX_HEAD: u64 = 1 << 20;
/// What the first read asks for.
const FIRST_READ: u64 = 4096;

/// Reads the first bytes of `file` up to the end of its program header table and of every
/// `PT_NOTE` segment that ends within [`MAX_HEAD`]; fewer if the file is shorter or not ELF64.
pub fn read_head<F: Read + Seek>(file: &mut F) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    // One page holds the headers (and usually the notes) of every image seen so far.
    extend_to(file, &mut head, FIRST_READ)?;
    let field = |off| u16_at(&head, off).map(u64::from);
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(&head, 32), field(54), field(56)) else {
        return Ok(head);
    };
    if phentsize != SIZEOF_PHDR as u64 {
        return Ok(head);
    }
    let table_end = phoff.saturating_add(phnum * phentsize);
    if table_end > MAX_HEAD {
        return Ok(head);
    }
    extend_to(file, &mut head, table_end)?;
    let mut end = table_end;
    for i in 0..phnum {
        let ph = (phoff + i * phentsize) as usize;
        let (Some(p_type), Some(offset), Some(filesz)) =
            (u32_at(&head, ph), u64_at(&head, ph + 8), u64_at(&head, ph + 32))
        else {
            break;
        };
        let note_end = offset.saturating_add(filesz);
        if p_type == PT_NOTE && note_end <= MAX_HEAD {
            end = end.max(note_end);
        }
    }
    extend_to(file, &mut head, end)?;
    Ok(head)
}

/// True if the program headers in `head` ask for a dynamic loader (`PT_INTERP`): such a
/// program cannot run in a container whose root filesystem lacks that loader.
pub fn requests_interpreter(head: &[u8]) -> bool {
    let (Some(phoff), Some(phnum)) = (u64_at(head, 32), u16_at(head, 56)) else {
        return false;
    };
    (0..u64::from(phnum)).any(|i| {
        let at = phoff.saturating_add(i * SIZEOF_PHDR as u64);
        usize::try_from(at).ok().and_then(|at| u32_at(head, at))
            == Some(goblin::elf::program_header::PT_INTERP)
    })
}

/// Reads from the current length of `head` up to `len` bytes in all, or to the end of file,
/// in as few reads as the file allows (one, for a regular file).
fn extend_to<F: Read + Seek>(file: &mut F, head: &mut Vec<u8>, len: u64) -> std::io::Result<()> {
    let have = head.len();
    if len <= have as u64 {
        return Ok(());
    }
    file.seek(SeekFrom::Start(have as u64))?;
    head.resize(len as usize, 0);
    let mut filled = have;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(filled);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::{check_header, read_abi_note, read_manifest_note};
    use std::io::Cursor;

    #[test]
    fn the_head_answers_like_the_whole_file() {
        let mut file = tender_tests::elf_image::good_image(crate::elf::host_machine()).build();
        file.resize(3 << 20, 0xAA);
        let head = read_head(&mut Cursor::new(&file)).unwrap();
        assert!(head.len() < 64 << 10, "head is {} bytes", head.len());
        assert_eq!(check_header(&head), check_header(&file));
        assert_eq!(read_abi_note(&head), read_abi_note(&file));
        assert_eq!(read_manifest_note(&head), read_manifest_note(&file));
        assert!(!requests_interpreter(&head));
    }

    #[test]
    fn dynamic_programs_are_told_apart() {
        let me = std::fs::read("/proc/self/exe").unwrap();
        let head = read_head(&mut Cursor::new(&me)).unwrap();
        // The test binary is linked like any host program: dynamically, unless built static.
        assert_eq!(requests_interpreter(&head), !cfg!(target_feature = "crt-static"));
    }

    #[test]
    fn short_and_foreign_files_give_what_there_is() {
        assert_eq!(read_head(&mut Cursor::new(b"#!/bin/sh\n")).unwrap(), b"#!/bin/sh\n");
        let zeros = vec![0u8; 8192];
        assert_eq!(
            read_head(&mut Cursor::new(&zeros)).unwrap().len(),
            FIRST_READ as usize,
            "one page, no more"
        );
    }
}
