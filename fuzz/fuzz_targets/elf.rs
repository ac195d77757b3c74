//! The image loader on arbitrary files: header, notes, manifest and load plan never panic,
//! and reading only the head (as tender does) gives the same verdicts as the whole file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use tender::elf;
use tender::manifest::Manifest;

fuzz_target!(|file: &[u8]| {
    let head = elf::read_head(&mut Cursor::new(file)).expect("reading memory cannot fail");
    assert!(file.starts_with(&head), "the head is a prefix of the file");
    let header = elf::check_header(file);
    assert_eq!(elf::check_header(&head), header);
    if header.is_err() {
        return;
    }
    let abi = elf::read_abi_note(file);
    let mft = elf::read_manifest_note(file);
    // Notes within the head are read identically from it.
    if head.len() == file.len() || abi.is_ok() && mft.is_ok() && elf::read_manifest_note(&head).is_ok() {
        assert_eq!(elf::read_abi_note(&head).is_ok(), abi.is_ok());
    }
    if let Ok(bytes) = mft {
        let _ = Manifest::parse(bytes);
    }
    for mem in [2 << 20, 512 << 20, 4 << 30, u64::MAX] {
        let whole = elf::plan_load(file, mem);
        let bounded = elf::plan_load_from(&head, file.len() as u64, mem);
        assert_eq!(whole, bounded, "the bounded loader plans exactly what the whole file gives");
    }
});
