//! The application manifest (`struct mft`, ABI.md §1): device declarations by name.
//!
//! Guests build a [`ManifestNote`] in a `const` (see `guest_rt::manifest!`); the
//! tender decodes the descriptor bytes with [`EntryInfo::decode`] and friends.

use crate::bytes::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};
use crate::note;
use core::mem::{offset_of, size_of};

/// `struct mft.version`.
pub const VERSION: u32 = 1;
/// Most entries a manifest may have (entry 0 included).
pub const MAX_ENTRIES: u32 = 64;
/// Bytes of `mft_entry.name`, NUL included.
pub const NAME_SIZE: usize = 68;
/// Longest device name.
pub const NAME_MAX: usize = NAME_SIZE - 1;
/// Size of `struct mft` without entries (version, entries).
pub const HEADER_SIZE: usize = 8;
/// Size of one `struct mft_entry`.
pub const ENTRY_SIZE: usize = 104;

/// `enum mft_type`.
pub const TYPE_BLOCK_BASIC: u32 = 1;
/// `enum mft_type`.
pub const TYPE_NET_BASIC: u32 = 2;
/// `enum mft_type`: the type of the mandatory, unnamed first entry.
pub const TYPE_RESERVED_FIRST: u32 = 1 << 30;

/// Byte offsets inside an entry.
pub mod off {
    pub const NAME: usize = 0;
    pub const TYPE: usize = 68;
    pub const BLOCK_CAPACITY: usize = 72;
    pub const BLOCK_SIZE: usize = 80;
    pub const NET_MAC: usize = 72;
    pub const NET_MTU: usize = 78;
    pub const PRIVATE: usize = 88;
    pub const ATTACHED: usize = 96;
}

/// `struct mft_entry` (104 bytes). The union is kept as raw words; use the
/// accessors of [`EntryInfo`] for its meaning.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub name: [u8; NAME_SIZE],
    pub ty: u32,
    pub u: [u64; 2],
    pub private: u64,
    pub attached: bool,
    pub pad: [u8; 7],
}

const _: () = assert!(size_of::<Entry>() == ENTRY_SIZE);
const _: () = assert!(offset_of!(Entry, ty) == off::TYPE);
const _: () = assert!(offset_of!(Entry, u) == off::BLOCK_CAPACITY);
const _: () = assert!(offset_of!(Entry, private) == off::PRIVATE);
const _: () = assert!(offset_of!(Entry, attached) == off::ATTACHED);

/// Why a device name cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong,
    BadChar,
}

/// Checks a device name against `[A-Za-z0-9]{1,67}`.
pub const fn check_name(name: &str) -> Result<(), NameError> {
    let b = name.as_bytes();
    if b.is_empty() {
        return Err(NameError::Empty);
    }
    if b.len() > NAME_MAX {
        return Err(NameError::TooLong);
    }
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_alphanumeric() {
            return Err(NameError::BadChar);
        }
        i += 1;
    }
    Ok(())
}

impl Entry {
    /// The mandatory first entry: no name, type RESERVED_FIRST.
    pub const RESERVED_FIRST: Entry = Entry {
        name: [0; NAME_SIZE],
        ty: TYPE_RESERVED_FIRST,
        u: [0; 2],
        private: 0,
        attached: false,
        pad: [0; 7],
    };

    /// A device declaration; panics (at compile time in a `const`) on a bad name.
    pub const fn device(name: &str, ty: u32) -> Entry {
        if check_name(name).is_err() {
            panic!("manifest device names must match [A-Za-z0-9]{{1,67}}");
        }
        let mut e = Entry::RESERVED_FIRST;
        e.ty = ty;
        let b = name.as_bytes();
        let mut i = 0;
        while i < b.len() {
            e.name[i] = b[i];
            i += 1;
        }
        e
    }

    /// A `BLOCK_BASIC` declaration.
    pub const fn block(name: &str) -> Entry {
        Entry::device(name, TYPE_BLOCK_BASIC)
    }

    /// A `NET_BASIC` declaration.
    pub const fn net(name: &str) -> Entry {
        Entry::device(name, TYPE_NET_BASIC)
    }
}

/// The whole manifest note as it sits in `.note.solo5.manifest` for `N` entries
/// (entry 0 included). `descsz` counts the 4 pad bytes after the header, as Solo5 does.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug)]
pub struct ManifestNote<const N: usize> {
    pub namesz: u32,
    pub descsz: u32,
    pub ntype: u32,
    pub name: [u8; 8],
    pub pad: u32,
    pub version: u32,
    pub entries: u32,
    pub e: [Entry; N],
}

const _: () =
    assert!(offset_of!(ManifestNote<1>, version) == note::desc_offset(note::MANIFEST_ALIGN) as usize);
const _: () = assert!(size_of::<ManifestNote<64>>() as u64 == note::HEADER_SIZE + note::MANIFEST_MAX);

impl<const N: usize> ManifestNote<N> {
    /// Builds the note from the entries (the first must be [`Entry::RESERVED_FIRST`]).
    pub const fn new(e: [Entry; N]) -> Self {
        if N == 0 || N > MAX_ENTRIES as usize {
            panic!("a manifest has 1 to 64 entries");
        }
        ManifestNote {
            namesz: note::NAME.len() as u32,
            descsz: (size_of::<Self>() as u64 - note::HEADER_SIZE) as u32,
            ntype: note::TYPE_MANIFEST,
            name: note::NAME_PADDED,
            pad: 0,
            version: VERSION,
            entries: N as u32,
            e,
        }
    }
}

/// Host-side view of one entry: what the tender reads and fills in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    pub name: [u8; NAME_SIZE],
    pub ty: u32,
    pub attached: bool,
}

impl EntryInfo {
    /// The name up to its NUL (or the whole field when unterminated).
    pub fn name_bytes(&self) -> &[u8] {
        let end = self.name.iter().position(|&c| c == 0).unwrap_or(NAME_SIZE);
        &self.name[..end]
    }

    /// Whether the name has its NUL terminator inside the field.
    pub fn name_terminated(&self) -> bool {
        self.name.contains(&0)
    }

    /// Decodes an entry from its 104-byte image.
    pub fn decode(b: &[u8]) -> EntryInfo {
        let mut name = [0u8; NAME_SIZE];
        name.copy_from_slice(&b[off::NAME..off::NAME + NAME_SIZE]);
        EntryInfo { name, ty: get_u32(b, off::TYPE), attached: b[off::ATTACHED] != 0 }
    }
}

/// Reads `struct mft`'s header: `(version, entries)`.
pub fn decode_header(b: &[u8]) -> (u32, u32) {
    (get_u32(b, 0), get_u32(b, 4))
}

/// Byte range of entry `i` inside the `struct mft` image.
pub fn entry_range(i: usize) -> core::ops::Range<usize> {
    let start = HEADER_SIZE + i * ENTRY_SIZE;
    start..start + ENTRY_SIZE
}

/// Fills in a block entry as attached (host side).
pub fn attach_block(e: &mut [u8], capacity: u64, block_size: u16) {
    put_u64(e, off::BLOCK_CAPACITY, capacity);
    put_u16(e, off::BLOCK_SIZE, block_size);
    put_u64(e, off::PRIVATE, 0);
    e[off::ATTACHED] = 1;
}

/// Fills in a net entry as attached (host side).
pub fn attach_net(e: &mut [u8], mac: [u8; 6], mtu: u16) {
    e[off::NET_MAC..off::NET_MAC + 6].copy_from_slice(&mac);
    put_u16(e, off::NET_MTU, mtu);
    put_u64(e, off::PRIVATE, 0);
    e[off::ATTACHED] = 1;
}

/// Guest side: `(capacity, block_size)` of an attached block entry.
pub fn block_info(e: &[u8]) -> (u64, u16) {
    (get_u64(e, off::BLOCK_CAPACITY), get_u16(e, off::BLOCK_SIZE))
}

/// Guest side: `(mac, mtu)` of an attached net entry.
pub fn net_info(e: &[u8]) -> ([u8; 6], u16) {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&e[off::NET_MAC..off::NET_MAC + 6]);
    (mac, get_u16(e, off::NET_MTU))
}

/// Sets the number of entries in a `struct mft` image (used by tests building manifests).
pub fn encode_header(b: &mut [u8], version: u32, entries: u32) {
    put_u32(b, 0, version);
    put_u32(b, 4, entries);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_for_two_devices_has_solo5_descsz() {
        let n = ManifestNote::new([Entry::RESERVED_FIRST, Entry::block("storage"), Entry::net("service")]);
        assert_eq!(n.descsz as usize, 4 + 8 + 3 * ENTRY_SIZE);
        assert_eq!(n.entries, 3);
        assert_eq!(&n.e[1].name[..8], b"storage\0");
        assert_eq!(n.e[2].ty, TYPE_NET_BASIC);
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name("a-b"), Err(NameError::BadChar));
        assert!(check_name(&"x".repeat(67)).is_ok());
        assert_eq!(check_name(&"x".repeat(68)), Err(NameError::TooLong));
    }
}
