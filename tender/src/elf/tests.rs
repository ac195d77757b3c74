//! Unit tests of the image rules: one crafted ELF per rule, asserting the exact message.

use super::*;
use abi::manifest as mft;
use abi::note::{AbiDesc, TARGET_HVT};
use tender_tests::elf_image::phdr::{ABI, BSS, DATA, MANIFEST, TEXT, TLS};
use tender_tests::elf_image::{
    abi_note, good_image, load, manifest_note, mft, note_bytes, note_ph, ElfBuilder, PF_R, PF_W, PF_X,
    PT_NOTE,
};

const MEM: u64 = 0x20_0000;

fn header_err(b: &ElfBuilder) -> String {
    let err = check_header(&b.build()).unwrap_err().to_string();
    // Every entry point reports header problems first, the same way.
    assert_eq!(read_abi_note(&b.build()).unwrap_err().to_string(), err);
    assert_eq!(read_manifest_note(&b.build()).unwrap_err().to_string(), err);
    assert_eq!(plan_load(&b.build(), MEM).unwrap_err().to_string(), err);
    err
}

fn load_err(b: &ElfBuilder) -> String {
    plan_load(&b.build(), MEM).unwrap_err().to_string()
}

fn abi_err(b: &ElfBuilder) -> String {
    read_abi_note(&b.build()).unwrap_err().to_string()
}

fn mft_err(b: &ElfBuilder) -> String {
    read_manifest_note(&b.build()).unwrap_err().to_string()
}

// ---- header ----

#[test]
fn good_header_is_accepted() {
    check_header(&good_image(host_machine()).build()).unwrap();
}

#[test]
fn text_file_is_not_an_elf() {
    let text = b"#!/bin/sh\necho this is not a unikernel\n".repeat(4);
    for f in [&text[..], b"", b"\x7fEL"] {
        assert_eq!(check_header(f).unwrap_err().to_string(), "invalid executable: not an ELF file");
        assert_eq!(read_abi_note(f).unwrap_err(), ElfError::NotElf);
        assert_eq!(read_manifest_note(f).unwrap_err(), ElfError::NotElf);
        assert_eq!(plan_load(f, MEM).unwrap_err(), ElfError::NotElf);
    }
}

#[test]
fn truncated_header() {
    let f = good_image(host_machine()).build();
    assert_eq!(
        check_header(&f[..40]).unwrap_err().to_string(),
        "invalid executable: ELF header truncated (40 of 64 bytes)"
    );
}

#[test]
fn wrong_class() {
    let mut b = good_image(host_machine());
    b.class = 1;
    assert_eq!(header_err(&b), "invalid executable: not a 64-bit ELF file (EI_CLASS 1)");
}

#[test]
fn wrong_endianness() {
    let mut b = good_image(host_machine());
    b.data = 2;
    assert_eq!(header_err(&b), "invalid executable: not a little-endian ELF file (EI_DATA 2)");
}

#[test]
fn wrong_elf_version() {
    let mut b = good_image(host_machine());
    b.version = 0;
    assert_eq!(header_err(&b), "invalid executable: unsupported ELF version 0");
}

#[test]
fn not_et_exec() {
    let mut b = good_image(host_machine());
    b.e_type = 3; // ET_DYN: a PIE
    assert_eq!(header_err(&b), "invalid executable: not a static executable (e_type 3, expected ET_EXEC)");
}

#[test]
fn wrong_machine() {
    let (other, host) = if host_machine() == 62 { (183, "x86_64 (62)") } else { (62, "aarch64 (183)") };
    let other_name = if other == 62 { "x86_64" } else { "aarch64" };
    let mut b = good_image(host_machine());
    b.machine = other;
    assert_eq!(
        header_err(&b),
        format!("invalid executable: built for {other_name} (e_machine {other}), this host is {host}")
    );
    b.machine = 3; // EM_386
    assert_eq!(
        header_err(&b),
        format!("invalid executable: built for another machine (e_machine 3), this host is {host}")
    );
}

#[test]
fn wrong_header_sizes() {
    let mut b = good_image(host_machine());
    b.ehsize = 52;
    assert_eq!(header_err(&b), "invalid executable: e_ehsize is 52, expected 64");
    let mut b = good_image(host_machine());
    b.phentsize = 32;
    assert_eq!(header_err(&b), "invalid executable: e_phentsize is 32, expected 56");
}

#[test]
fn no_program_headers() {
    let mut b = good_image(host_machine());
    b.phnum = Some(0);
    assert_eq!(header_err(&b), "invalid executable: no program headers");
}

#[test]
fn program_header_table_outside_file() {
    let mut b = good_image(host_machine());
    b.phnum = Some(200);
    assert_eq!(
        header_err(&b),
        "invalid executable: program header table (200 entries at 0x40) extends past the end of the file"
    );
    let mut b = good_image(host_machine());
    b.phoff = Some(u64::MAX - 8);
    assert_eq!(
        header_err(&b),
        "invalid executable: program header table (6 entries at 0xfffffffffffffff7) \
         extends past the end of the file"
    );
}

// ---- ABI note ----

#[test]
fn abi_note_is_read() {
    let abi = read_abi_note(&good_image(host_machine()).build()).unwrap();
    assert_eq!(abi, AbiDesc { abi_target: TARGET_HVT, abi_version: 2, reserved0: 0, reserved1: 0 });
}

#[test]
fn abi_note_missing() {
    let mut b = good_image(host_machine());
    b.phdrs.remove(ABI);
    assert_eq!(abi_err(&b), "invalid executable: no Solo5 ABI note (not a Solo5 unikernel?)");
}

#[test]
fn abi_note_wrong_target() {
    let mut b = good_image(host_machine());
    b.phdrs[ABI] = note_ph(abi_note(2, 2));
    assert_eq!(abi_err(&b), "invalid executable: built for the spt target, not hvt");
    b.phdrs[ABI] = note_ph(abi_note(9, 2));
    assert_eq!(abi_err(&b), "invalid executable: built for unknown Solo5 target 9, not hvt");
}

#[test]
fn abi_note_wrong_version() {
    let mut b = good_image(host_machine());
    b.phdrs[ABI] = note_ph(abi_note(TARGET_HVT, 1));
    assert_eq!(
        abi_err(&b),
        "invalid executable: built for hvt ABI version 1, this tender implements version 2"
    );
}

fn abi_note_with_descsz(descsz: u32, desc_len: usize) -> Vec<u8> {
    let mut desc = vec![0u8; desc_len];
    desc[..8.min(desc_len)].copy_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0][..8.min(desc_len)]);
    note_bytes(6, abi::note::NAME, abi::note::TYPE_ABI, descsz, 4, &desc)
}

#[test]
fn abi_note_descsz_below_16() {
    let mut b = good_image(host_machine());
    b.phdrs[ABI] = note_ph(abi_note_with_descsz(8, 8));
    assert_eq!(abi_err(&b), "invalid executable: phdr[0]: Solo5 ABI note has n_descsz 8, expected 16 to 32");
    b.phdrs[ABI] = note_ph(abi_note_with_descsz(0, 0));
    assert_eq!(abi_err(&b), "invalid executable: phdr[0]: Solo5 ABI note has n_descsz 0, expected 16 to 32");
}

#[test]
fn abi_note_descsz_too_large() {
    let mut b = good_image(host_machine());
    b.phdrs[ABI] = note_ph(abi_note_with_descsz(36, 36));
    assert_eq!(abi_err(&b), "invalid executable: phdr[0]: Solo5 ABI note has n_descsz 36, expected 16 to 32");
    b.phdrs[ABI] = note_ph(abi_note_with_descsz(32, 32));
    assert_eq!(read_abi_note(&b.build()).unwrap().abi_version, 2);
}

#[test]
fn abi_note_descriptor_beyond_p_filesz() {
    let mut b = good_image(host_machine());
    b.phdrs[ABI].filesz = Some(30);
    assert_eq!(
        abi_err(&b),
        "invalid executable: phdr[0]: Solo5 ABI note (n_descsz 16) does not fit in p_filesz 30"
    );
}

#[test]
fn pt_note_smaller_than_a_note_header() {
    let mut b = good_image(host_machine());
    b.phdrs.insert(0, note_ph(vec![0; 8]));
    assert_eq!(abi_err(&b), "invalid executable: phdr[0] is a PT_NOTE of only 8 bytes");
    assert_eq!(mft_err(&b), "invalid executable: phdr[0] is a PT_NOTE of only 8 bytes");
}

#[test]
fn pt_note_shorter_than_solo5_header_is_skipped() {
    let mut b = good_image(host_machine());
    b.phdrs.insert(0, note_ph(vec![0; 16]));
    assert_eq!(read_abi_note(&b.build()).unwrap().abi_target, TARGET_HVT);
}

#[test]
fn pt_note_outside_file() {
    let mut b = good_image(host_machine());
    b.phdrs[ABI].offset = Some(0x10_0000);
    assert_eq!(abi_err(&b), "invalid executable: phdr[0] (PT_NOTE) extends past the end of the file");
    b.phdrs[ABI].offset = Some(u64::MAX - 4);
    assert_eq!(abi_err(&b), "invalid executable: phdr[0] (PT_NOTE) extends past the end of the file");
}

#[test]
fn non_solo5_notes_are_skipped() {
    let openbsd = note_bytes(8, b"OpenBSD\0", 1, 4, 4, &[0; 4]);
    let wrong_namesz = note_bytes(5, b"Solo5\0", abi::note::TYPE_ABI, 16, 4, &[9; 16]);
    let wrong_name = note_bytes(6, b"Solo6\0", abi::note::TYPE_ABI, 16, 4, &[9; 16]);
    let mut b = good_image(host_machine());
    for n in [openbsd, wrong_namesz, wrong_name] {
        b.phdrs.insert(0, note_ph(n));
    }
    assert_eq!(read_abi_note(&b.build()).unwrap().abi_target, TARGET_HVT);
    assert!(read_manifest_note(&b.build()).is_ok());
}

#[test]
fn only_the_first_note_of_a_pt_note_counts() {
    let mut both = note_bytes(8, b"OpenBSD\0", 1, 4, 4, &[0; 4]);
    both.extend(abi_note(TARGET_HVT, 2));
    let mut b = good_image(host_machine());
    b.phdrs[ABI] = note_ph(both);
    assert_eq!(abi_err(&b), "invalid executable: no Solo5 ABI note (not a Solo5 unikernel?)");
}

// ---- manifest note ----

#[test]
fn manifest_note_is_read() {
    let bytes = read_manifest_note(&good_image(host_machine()).build()).unwrap();
    let expected = mft(&[("storage", mft::TYPE_BLOCK_BASIC), ("service", mft::TYPE_NET_BASIC)]);
    assert_eq!(bytes, expected);
    assert_eq!(bytes.len(), 8 + 3 * 104);
}

#[test]
fn manifest_note_with_64_entries_is_read() {
    let names: Vec<String> = (1..64).map(|i| format!("dev{i}")).collect();
    let devices: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), mft::TYPE_BLOCK_BASIC)).collect();
    let mut b = good_image(host_machine());
    b.phdrs[MANIFEST] = note_ph(manifest_note(&mft(&devices)));
    assert_eq!(read_manifest_note(&b.build()).unwrap().len(), 6664);
}

#[test]
fn manifest_note_missing() {
    let mut b = good_image(host_machine());
    b.phdrs.remove(MANIFEST);
    assert_eq!(mft_err(&b), "invalid executable: no Solo5 manifest note (not a Solo5 unikernel?)");
}

#[test]
fn manifest_note_descsz_out_of_range() {
    let mut b = good_image(host_machine());
    b.phdrs[MANIFEST] = note_ph(note_bytes(6, b"Solo5\0", abi::note::TYPE_MANIFEST, 6672, 8, &[0; 6668]));
    assert_eq!(
        mft_err(&b),
        "invalid executable: phdr[1]: Solo5 manifest note has n_descsz 6672, expected 4 to 6668"
    );
    b.phdrs[MANIFEST] = note_ph(note_bytes(6, b"Solo5\0", abi::note::TYPE_MANIFEST, 2, 8, &[0; 4]));
    assert_eq!(
        mft_err(&b),
        "invalid executable: phdr[1]: Solo5 manifest note has n_descsz 2, expected 4 to 6668"
    );
}

#[test]
fn manifest_note_descriptor_beyond_p_filesz() {
    let mut b = good_image(host_machine());
    b.phdrs[MANIFEST].filesz = Some(100);
    assert_eq!(
        mft_err(&b),
        "invalid executable: phdr[1]: Solo5 manifest note (n_descsz 324) does not fit in p_filesz 100"
    );
}

// ---- load plan ----

#[test]
fn good_image_plan() {
    let f = good_image(host_machine()).build();
    let image = plan_load(&f, MEM).unwrap();
    assert_eq!(image.entry, 0x10_0010);
    // The data segment's aligned end; the file-less .bss PT_LOAD (to 0x105000) is not loaded.
    assert_eq!(image.kernel_end, 0x10_2000);
    assert_eq!(image.segments.len(), 2);
    let text = &image.segments[0];
    assert_eq!((text.vaddr, text.memsz), (0x10_0000, 0x40));
    assert_eq!((text.prot_start, text.prot_end), (0x10_0000, 0x10_1000));
    assert_eq!((text.writable, text.executable), (false, true));
    assert_eq!(&f[text.file_range.clone()], &[0xAB; 0x40][..]);
    let data = &image.segments[1];
    assert_eq!((data.vaddr, data.memsz, data.file_range.len()), (0x10_1000, 0x20, 0x10));
    assert_eq!((data.prot_start, data.prot_end), (0x10_1000, 0x10_2000));
    assert_eq!((data.writable, data.executable), (true, false));
    assert!(data.file_range.start >= text.file_range.end);
}

#[test]
fn empty_tls_load_at_zero_is_skipped_but_a_nonempty_one_is_not() {
    let mut b = good_image(host_machine());
    assert_eq!(b.phdrs[TLS].vaddr, 0);
    plan_load(&b.build(), MEM).unwrap();
    b.phdrs[TLS] = load(PF_R, 0, 8, 8);
    assert_eq!(load_err(&b), "invalid executable: phdr[2].p_vaddr 0x0 is below 0x100000");
}

#[test]
fn fileless_bss_load_is_not_checked_nor_counted() {
    let mut b = good_image(host_machine());
    b.phdrs[BSS].memsz = 0x1000_0000; // far beyond guest memory: not loaded, so not checked
    let image = plan_load(&b.build(), MEM).unwrap();
    assert_eq!(image.kernel_end, 0x10_2000);
    assert_eq!(image.segments.len(), 2);
}

#[test]
fn write_and_exec() {
    let mut b = good_image(host_machine());
    b.phdrs[DATA].flags = PF_R | PF_W | PF_X;
    assert_eq!(load_err(&b), "invalid executable: phdr[4] requests WRITE and EXEC permissions");
}

#[test]
fn misaligned_start_or_end() {
    let mut b = good_image(host_machine());
    b.phdrs[TEXT].align = 0x10;
    b.phdrs[TEXT].vaddr = 0x10_0010;
    assert_eq!(
        load_err(&b),
        "invalid executable: phdr[3] is not 4 KiB-aligned (0x100010..0x100050 with p_align 0x10)"
    );
    b.phdrs[TEXT].vaddr = 0x10_0000;
    assert_eq!(
        load_err(&b),
        "invalid executable: phdr[3] is not 4 KiB-aligned (0x100000..0x100040 with p_align 0x10)"
    );
    // A page-aligned p_align makes an unaligned p_vaddr fine.
    let mut b = good_image(host_machine());
    b.phdrs[DATA].vaddr = 0x10_1008;
    assert_eq!(plan_load(&b.build(), MEM).unwrap().segments[1].prot_start, 0x10_1000);
}

#[test]
fn aligned_start_below_minimum() {
    let mut b = good_image(host_machine());
    b.phdrs[TEXT].align = 0x20_0000;
    assert_eq!(
        load_err(&b),
        "invalid executable: phdr[3] starts at 0x0 once aligned to p_align, below 0x100000"
    );
}

#[test]
fn overlapping_segments() {
    let mut b = good_image(host_machine());
    b.phdrs[DATA].vaddr = 0x10_0800;
    assert_eq!(
        load_err(&b),
        "invalid executable: phdr[4] overlaps the previous segment (0x100000 < 0x101000)"
    );
}

#[test]
fn descending_segments() {
    let mut b = good_image(host_machine());
    b.phdrs[TEXT].vaddr = 0x18_0000;
    b.entry = 0x18_0000;
    assert_eq!(
        load_err(&b),
        "invalid executable: phdr[4].p_vaddr is not in ascending order (0x101000 < 0x180000)"
    );
}

#[test]
fn segment_below_minimum() {
    let mut b = good_image(host_machine());
    b.phdrs[TEXT].vaddr = 0xf_f000;
    assert_eq!(load_err(&b), "invalid executable: phdr[3].p_vaddr 0xff000 is below 0x100000");
}

#[test]
fn segment_beyond_memory() {
    let mut b = good_image(host_machine());
    b.phdrs[DATA].vaddr = 0x1f_f000;
    b.phdrs[DATA].memsz = 0x2000;
    assert_eq!(load_err(&b), "invalid executable: phdr[4] ends at 0x201000, beyond guest memory (0x200000)");
    b.phdrs[DATA].memsz = 0x1000; // ends exactly at the end of memory
    assert_eq!(plan_load(&b.build(), MEM).unwrap().kernel_end, MEM);
}

#[test]
fn segment_address_overflow() {
    let mut b = good_image(host_machine());
    b.phdrs[DATA].vaddr = 0xffff_ffff_ffff_f000;
    b.phdrs[DATA].memsz = 0x2000;
    assert_eq!(
        load_err(&b),
        "invalid executable: phdr[4].p_vaddr 0xfffffffffffff000 + p_memsz 0x2000 overflows"
    );
    // The sum fits, its alignment to p_align does not.
    b.phdrs[DATA].memsz = 0x10;
    assert_eq!(
        load_err(&b),
        "invalid executable: phdr[4].p_vaddr 0xfffffffffffff000 + p_memsz 0x10 overflows"
    );
    b.phdrs[DATA].memsz = u64::MAX;
    assert_eq!(
        load_err(&b),
        "invalid executable: phdr[4].p_vaddr 0xfffffffffffff000 + p_memsz 0xffffffffffffffff overflows"
    );
}

#[test]
fn memsz_below_filesz() {
    let mut b = good_image(host_machine());
    b.phdrs[DATA].memsz = 0x8;
    assert_eq!(load_err(&b), "invalid executable: phdr[4].p_memsz 0x8 is smaller than p_filesz 0x10");
}

#[test]
fn bad_alignment() {
    let mut b = good_image(host_machine());
    b.phdrs[DATA].align = 0;
    assert_eq!(load_err(&b), "invalid executable: phdr[4].p_align 0x0 is not a power of two");
    b.phdrs[DATA].align = 0x1800;
    assert_eq!(load_err(&b), "invalid executable: phdr[4].p_align 0x1800 is not a power of two");
}

#[test]
fn entry_outside_memory() {
    let mut b = good_image(host_machine());
    b.entry = 0xf_ffff;
    assert_eq!(
        load_err(&b),
        "invalid executable: e_entry 0xfffff is outside guest memory (0x100000..0x200000)"
    );
    b.entry = MEM;
    assert_eq!(
        load_err(&b),
        "invalid executable: e_entry 0x200000 is outside guest memory (0x100000..0x200000)"
    );
    b.entry = MEM - 1;
    assert_eq!(plan_load(&b.build(), MEM).unwrap().entry, MEM - 1);
}

#[test]
fn segment_data_outside_file() {
    let mut b = good_image(host_machine());
    b.phdrs[TEXT].offset = Some(u64::MAX);
    assert_eq!(
        load_err(&b),
        "invalid executable: phdr[3] file data (0x40 bytes at 0xffffffffffffffff) extends past the end of the file"
    );
    let mut b = good_image(host_machine());
    b.phdrs[DATA].filesz = Some(0x1000);
    b.phdrs[DATA].memsz = 0x1000;
    let offset = plan_load(&good_image(host_machine()).build(), MEM).unwrap().segments[1].file_range.start;
    assert_eq!(
        load_err(&b),
        format!("invalid executable: phdr[4] file data (0x1000 bytes at {offset:#x}) extends past the end of the file")
    );
}

#[test]
fn no_loadable_segment() {
    let mut b = good_image(host_machine());
    b.phdrs.truncate(TEXT);
    assert_eq!(load_err(&b), "invalid executable: no PT_LOAD segment with file data");
}

#[test]
fn non_load_segments_are_ignored_by_the_plan() {
    let mut b = good_image(host_machine());
    b.phdrs.push(note_ph(vec![0; 4])); // would be invalid as a note, but plan_load skips it
    b.phdrs.last_mut().unwrap().p_type = PT_NOTE;
    assert_eq!(plan_load(&b.build(), MEM).unwrap().segments.len(), 2);
}

// ---- robustness ----

fn run_all(f: &[u8]) {
    let _ = check_header(f);
    let _ = read_abi_note(f);
    let _ = read_manifest_note(f);
    let _ = plan_load(f, MEM);
    let _ = plan_load(f, u64::MAX);
}

#[test]
fn every_truncation_is_handled_without_panic() {
    let f = good_image(host_machine()).build();
    for n in 0..f.len() {
        run_all(&f[..n]);
        if n < 64 {
            assert!(check_header(&f[..n]).is_err());
        }
    }
    // Truncated anywhere before the last segment's bytes, the image is rejected.
    let image = plan_load(&f, MEM).unwrap();
    let last = image.segments.last().unwrap().file_range.end;
    for n in 0..last {
        assert!(plan_load(&f[..n], MEM).is_err(), "accepted truncation at {n}");
    }
}

#[test]
fn every_corrupted_byte_is_handled_without_panic() {
    let f = good_image(host_machine()).build();
    for i in 0..f.len() {
        for v in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            let mut g = f.clone();
            g[i] = v;
            run_all(&g);
        }
    }
}

#[test]
fn tender_features_come_from_its_own_note_and_default_to_none() {
    use abi::note::{FeaturesNote, FEATURE_BLOCK_RING, TENDER_NAME, TYPE_FEATURES};
    let machine = host_machine();
    assert_eq!(read_tender_features(&good_image(machine).build()), 0, "a Solo5-built image has none");
    let note = FeaturesNote::new(FEATURE_BLOCK_RING);
    // The note guest-rt puts in its images, field by field, is the generic note layout.
    let mut bytes = Vec::new();
    for w in [note.namesz, note.descsz, note.ntype] {
        bytes.extend(w.to_le_bytes());
    }
    bytes.extend(note.name);
    bytes.extend(note.features.to_le_bytes());
    assert_eq!(bytes, note_bytes(7, TENDER_NAME, TYPE_FEATURES, 4, 4, &FEATURE_BLOCK_RING.to_le_bytes()));
    let mut b = good_image(machine);
    b.phdrs.push(note_ph(bytes.clone()));
    assert_eq!(read_tender_features(&b.build()), FEATURE_BLOCK_RING);
    assert!(
        read_abi_note(&b.build()).is_ok() && read_manifest_note(&b.build()).is_ok(),
        "Solo5's notes still found"
    );
    // A note named Solo5 with the features type, or a short one, offers nothing.
    let mut b = good_image(machine);
    b.phdrs.push(note_ph(note_bytes(6, b"Solo5\0", TYPE_FEATURES, 4, 4, &[1, 0, 0, 0])));
    assert_eq!(read_tender_features(&b.build()), 0);
    let mut b = good_image(machine);
    b.phdrs.push(note_ph(note_bytes(7, TENDER_NAME, TYPE_FEATURES, 2, 4, &[1, 0])));
    assert_eq!(read_tender_features(&b.build()), 0);
}
