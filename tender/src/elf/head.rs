//! The head of an image file: the bytes that hold its ELF header, program header table and
//! `PT_NOTE` segments, read without reading the rest of the file.
//!
//! [`check_header`](super::check_header), [`read_abi_note`](super::read_abi_note) and
//! [`read_manifest_note`](super::read_manifest_note) give the same answers on the head as on
//! the whole file whenever the notes lie within [`MAX_HEAD`] bytes (Solo5's linker scripts put
//! them right after the headers). tender-oci classifies container entrypoints this way.

use goblin::elf::program_header::{PT_INTERP, PT_NOTE};
use goblin::elf64::header::Header as Ehdr;
use goblin::elf64::program_header::{ProgramHeader as Ephdr, SIZEOF_PHDR};
use scroll::{Pread, LE};
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
    let Ok(h) = head.pread_with::<Ehdr>(0, LE) else {
        return Ok(head);
    };
    if usize::from(h.e_phentsize) != SIZEOF_PHDR {
        return Ok(head);
    }
    let table_end = h.e_phoff.saturating_add(u64::from(h.e_phnum) * SIZEOF_PHDR as u64);
    if table_end > MAX_HEAD {
        return Ok(head);
    }
    extend_to(file, &mut head, table_end)?;
    let mut end = table_end;
    for ph in phdrs(&head, &h) {
        let note_end = ph.p_offset.saturating_add(ph.p_filesz);
        if ph.p_type == PT_NOTE && note_end <= MAX_HEAD {
            end = end.max(note_end);
        }
    }
    extend_to(file, &mut head, end)?;
    Ok(head)
}

/// The program headers of `h` that lie within `head`, in order, up to the first that does
/// not (the loader's `parse` and the bounded head reader decode them alike).
pub(super) fn phdrs<'a>(head: &'a [u8], h: &Ehdr) -> impl Iterator<Item = Ephdr> + 'a {
    let phoff = h.e_phoff;
    (0..u64::from(h.e_phnum)).map_while(move |i| {
        let at = usize::try_from(phoff.checked_add(i * SIZEOF_PHDR as u64)?).ok()?;
        head.pread_with::<Ephdr>(at, LE).ok()
    })
}

/// True if the program headers in `head` ask for a dynamic loader (`PT_INTERP`): such a
/// program cannot run in a container whose root filesystem lacks that loader.
pub fn requests_interpreter(head: &[u8]) -> bool {
    let Ok(h) = head.pread_with::<Ehdr>(0, LE) else {
        return false;
    };
    phdrs(head, &h).any(|ph| ph.p_type == PT_INTERP)
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
