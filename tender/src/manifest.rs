//! The application manifest (`struct mft`, ABI.md §1): validation, device lookup by name,
//! attachment, and the bytes the guest gets to see.

use abi::manifest as mft;
use abi::manifest::off;

/// The type of a declared device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// `MFT_DEV_BLOCK_BASIC`.
    Block,
    /// `MFT_DEV_NET_BASIC`.
    Net,
}

/// One device the guest declares; `handle` is its index in `e[]` (never 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceDecl {
    pub handle: usize,
    pub name: String,
    pub kind: DeviceKind,
}

/// Why the manifest is invalid. `Display` is the reason alone (no prefix).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ManifestError {
    #[error("too short for its header ({len} bytes)")]
    TooShort { len: usize },
    #[error("unsupported version {0} (expected {expected})", expected = mft::VERSION)]
    Version(u32),
    #[error("{0} entries (expected 1 to {max})", max = mft::MAX_ENTRIES)]
    Entries(u32),
    #[error("{len} bytes, expected {expected} for {entries} entries")]
    Size { len: usize, expected: usize, entries: u32 },
    #[error("entry 0 has type {0:#x}, expected RESERVED_FIRST")]
    FirstType(u32),
    #[error("entry 0 has a name, expected none")]
    FirstName,
    #[error("entry {0}: name is not NUL-terminated")]
    Unterminated(usize),
    #[error("entry {0}: device name is not 1 to 67 letters or digits")]
    BadName(usize),
    #[error("entry {0}: already marked attached")]
    Attached(usize),
    #[error("entry {index}: duplicate device name '{name}'")]
    Duplicate { index: usize, name: String },
    #[error("entry {index}: unknown device type {ty:#x}")]
    UnknownType { index: usize, ty: u32 },
}

/// A validated manifest; owns the `struct mft` image that is copied into the guest.
#[derive(Clone, Debug)]
pub struct Manifest {
    bytes: Vec<u8>,
    /// Entries 1.. (entry 0 is the unnamed RESERVED_FIRST one).
    decls: Vec<DeviceDecl>,
}

impl Manifest {
    /// Validates `struct mft` bytes read from the manifest note: version 1, 1 to 64 entries,
    /// exactly the size those entries need, `e[0]` RESERVED_FIRST with an empty name, every
    /// name NUL-terminated, nothing attached yet. **(ours)** Every other entry must be a block
    /// or net device (solo5-hvt would only fail later, as the device cannot be attached), names
    /// are unique, and the host-private words are cleared.
    pub fn parse(mut bytes: Vec<u8>) -> Result<Manifest, ManifestError> {
        let header = bytes.get(..mft::HEADER_SIZE).ok_or(ManifestError::TooShort { len: bytes.len() })?;
        let (version, entries) = mft::decode_header(header);
        if version != mft::VERSION {
            return Err(ManifestError::Version(version));
        }
        if entries == 0 || entries > mft::MAX_ENTRIES {
            return Err(ManifestError::Entries(entries));
        }
        let count = entries as usize; // ≤ 64
        let expected = mft::HEADER_SIZE + count * mft::ENTRY_SIZE;
        if bytes.len() != expected {
            return Err(ManifestError::Size { len: bytes.len(), expected, entries });
        }
        // The size is exact, so every entry range below is inside `bytes`.
        let first = mft::EntryInfo::decode(&bytes[mft::entry_range(0)]);
        if first.ty != mft::TYPE_RESERVED_FIRST {
            return Err(ManifestError::FirstType(first.ty));
        }
        if first.name[0] != 0 {
            return Err(ManifestError::FirstName);
        }
        let mut decls = Vec::with_capacity(count - 1);
        for index in 0..count {
            let entry = &mut bytes[mft::entry_range(index)];
            let info = mft::EntryInfo::decode(entry);
            if !info.name_terminated() {
                return Err(ManifestError::Unterminated(index));
            }
            // Names are shown to users and matched against the command line, which
            // only accepts [A-Za-z0-9]{1,67}: anything else is a hostile or broken image.
            let name_ok =
                std::str::from_utf8(info.name_bytes()).is_ok_and(|n| abi::manifest::check_name(n).is_ok());
            if index > 0 && !name_ok {
                return Err(ManifestError::BadName(index));
            }
            if info.attached {
                return Err(ManifestError::Attached(index));
            }
            entry[off::PRIVATE..off::PRIVATE + 8].fill(0);
            if index == 0 {
                continue;
            }
            let kind = match info.ty {
                mft::TYPE_BLOCK_BASIC => DeviceKind::Block,
                mft::TYPE_NET_BASIC => DeviceKind::Net,
                ty => return Err(ManifestError::UnknownType { index, ty }),
            };
            let name = String::from_utf8_lossy(info.name_bytes()).into_owned();
            // (ours) Devices are attached by name: a second entry of the same name could
            // never be attached, and would be reported as missing although it was given.
            if decls.iter().any(|d: &DeviceDecl| d.name == name) {
                return Err(ManifestError::Duplicate { index, name });
            }
            decls.push(DeviceDecl { handle: index, name, kind });
        }
        Ok(Manifest { bytes, decls })
    }

    /// The declared devices, in manifest order (entry 0 excluded).
    pub fn entries(&self) -> impl Iterator<Item = DeviceDecl> + '_ {
        self.decls.iter().cloned()
    }

    /// The device declared under `name`, whatever its type.
    pub fn find(&self, name: &str) -> Option<DeviceDecl> {
        self.decls.iter().find(|d| d.name == name).cloned()
    }

    /// Marks block device `handle` attached with its geometry. `handle` comes from
    /// [`Manifest::find`]; any other value is a caller bug and is ignored in release builds.
    pub fn attach_block(&mut self, handle: usize, capacity: u64, block_size: u16) {
        if let Some(e) = self.entry_mut(handle, DeviceKind::Block) {
            mft::attach_block(e, capacity, block_size);
        }
    }

    /// Marks net device `handle` attached with its MAC address and MTU.
    pub fn attach_net(&mut self, handle: usize, mac: [u8; 6], mtu: u16) {
        if let Some(e) = self.entry_mut(handle, DeviceKind::Net) {
            mft::attach_net(e, mac, mtu);
        }
    }

    /// Declared devices that no option attached, in manifest order.
    pub fn unattached(&self) -> Vec<DeviceDecl> {
        self.decls.iter().filter(|d| !self.is_attached(d.handle)).cloned().collect()
    }

    /// The `struct mft` image for the guest, with attachments filled in.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn is_attached(&self, handle: usize) -> bool {
        let at = mft::entry_range(handle).start + off::ATTACHED;
        self.bytes.get(at).is_some_and(|&b| b != 0)
    }

    fn entry_mut(&mut self, handle: usize, kind: DeviceKind) -> Option<&mut [u8]> {
        let declared = self.decls.iter().any(|d| d.handle == handle && d.kind == kind);
        debug_assert!(declared, "no {kind:?} device with handle {handle}");
        if !declared {
            return None;
        }
        self.bytes.get_mut(mft::entry_range(handle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::bytes::{get_u16, get_u64, put_u32};
    use tender_tests::elf_image::mft as mft_bytes;

    fn two_devices() -> Vec<u8> {
        mft_bytes(&[("storage", mft::TYPE_BLOCK_BASIC), ("service", mft::TYPE_NET_BASIC)])
    }

    fn err(bytes: Vec<u8>) -> String {
        Manifest::parse(bytes).unwrap_err().to_string()
    }

    fn entry_at(i: usize) -> usize {
        mft::entry_range(i).start
    }

    #[test]
    fn two_device_manifest_is_found_by_name() {
        let m = Manifest::parse(two_devices()).unwrap();
        let storage = DeviceDecl { handle: 1, name: "storage".into(), kind: DeviceKind::Block };
        let service = DeviceDecl { handle: 2, name: "service".into(), kind: DeviceKind::Net };
        assert_eq!(m.find("storage"), Some(storage.clone()));
        assert_eq!(m.find("service"), Some(service.clone()));
        assert_eq!(m.find("stor"), None);
        assert_eq!(m.find(""), None);
        assert_eq!(m.entries().collect::<Vec<_>>(), vec![storage.clone(), service.clone()]);
        assert_eq!(m.unattached(), vec![storage, service]);
        assert_eq!(m.as_bytes(), &two_devices()[..]);
    }

    #[test]
    fn only_entry_zero_is_a_valid_empty_manifest() {
        let m = Manifest::parse(mft_bytes(&[])).unwrap();
        assert_eq!(m.entries().count(), 0);
        assert!(m.unattached().is_empty());
        assert_eq!(m.as_bytes().len(), 8 + 104);
    }

    #[test]
    fn attaching_fills_in_the_entry() {
        let mut m = Manifest::parse(two_devices()).unwrap();
        m.attach_block(1, 1 << 20, 512);
        assert_eq!(m.unattached().iter().map(|d| d.handle).collect::<Vec<_>>(), vec![2]);
        m.attach_net(2, [2, 0, 0, 0, 0, 1], 1500);
        assert!(m.unattached().is_empty());
        let b = m.as_bytes();
        let (e1, e2) = (entry_at(1), entry_at(2));
        assert_eq!(b[e1 + off::ATTACHED], 1);
        assert_eq!(get_u64(b, e1 + off::BLOCK_CAPACITY), 1 << 20);
        assert_eq!(get_u16(b, e1 + off::BLOCK_SIZE), 512);
        assert_eq!(b[e2 + off::ATTACHED], 1);
        assert_eq!(&b[e2 + off::NET_MAC..e2 + off::NET_MAC + 6], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(get_u16(b, e2 + off::NET_MTU), 1500);
        assert_eq!(b[entry_at(0) + off::ATTACHED], 0);
    }

    #[test]
    fn private_words_are_cleared() {
        let mut bytes = two_devices();
        for i in 0..3 {
            bytes[entry_at(i) + off::PRIVATE..entry_at(i) + off::PRIVATE + 8].fill(0xEE);
        }
        let m = Manifest::parse(bytes).unwrap();
        assert_eq!(m.as_bytes(), &two_devices()[..]);
    }

    #[test]
    fn a_name_declared_twice_is_refused() {
        let dup = mft_bytes(&[("disk", mft::TYPE_BLOCK_BASIC), ("disk", mft::TYPE_NET_BASIC)]);
        assert_eq!(err(dup), "entry 2: duplicate device name 'disk'");
        let same_kind =
            mft_bytes(&[("a", mft::TYPE_NET_BASIC), ("b", mft::TYPE_NET_BASIC), ("a", mft::TYPE_NET_BASIC)]);
        assert_eq!(err(same_kind), "entry 3: duplicate device name 'a'");
    }

    #[test]
    fn too_short() {
        assert_eq!(err(vec![1, 0, 0, 0]), "too short for its header (4 bytes)");
        assert_eq!(err(Vec::new()), "too short for its header (0 bytes)");
    }

    #[test]
    fn wrong_version() {
        let mut b = two_devices();
        put_u32(&mut b, 0, 2);
        assert_eq!(err(b), "unsupported version 2 (expected 1)");
    }

    #[test]
    fn zero_entries() {
        let mut b = two_devices();
        put_u32(&mut b, 4, 0);
        assert_eq!(err(b), "0 entries (expected 1 to 64)");
    }

    #[test]
    fn sixty_five_entries() {
        let names: Vec<String> = (1..65).map(|i| format!("d{i}")).collect();
        let devices: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), mft::TYPE_NET_BASIC)).collect();
        assert_eq!(err(mft_bytes(&devices)), "65 entries (expected 1 to 64)");
        assert_eq!(Manifest::parse(mft_bytes(&devices[..63])).unwrap().entries().count(), 63);
    }

    #[test]
    fn size_must_be_exact() {
        let mut b = two_devices();
        b.push(0);
        assert_eq!(err(b), "321 bytes, expected 320 for 3 entries");
        let mut b = two_devices();
        b.truncate(300);
        assert_eq!(err(b), "300 bytes, expected 320 for 3 entries");
        let mut b = two_devices();
        put_u32(&mut b, 4, 64);
        assert_eq!(err(b), "320 bytes, expected 6664 for 64 entries");
    }

    #[test]
    fn first_entry_must_be_reserved_and_unnamed() {
        let mut b = two_devices();
        put_u32(&mut b, entry_at(0) + off::TYPE, mft::TYPE_BLOCK_BASIC);
        assert_eq!(err(b), "entry 0 has type 0x1, expected RESERVED_FIRST");
        let mut b = two_devices();
        b[entry_at(0)] = b'x';
        assert_eq!(err(b), "entry 0 has a name, expected none");
    }

    #[test]
    fn names_must_be_plain_letters_and_digits() {
        let mut b = two_devices();
        b[entry_at(1) + 2] = b'\n';
        assert_eq!(err(b), "entry 1: device name is not 1 to 67 letters or digits");
        let mut b = two_devices();
        b[entry_at(2)] = 0;
        assert_eq!(err(b), "entry 2: device name is not 1 to 67 letters or digits");
    }

    #[test]
    fn names_must_be_terminated() {
        let mut b = two_devices();
        b[entry_at(2)..entry_at(2) + mft::NAME_SIZE].fill(b'a');
        assert_eq!(err(b), "entry 2: name is not NUL-terminated");
        // A 67-character name with its NUL in the last byte is fine.
        let name = "n".repeat(67);
        let m = Manifest::parse(mft_bytes(&[(&name, mft::TYPE_BLOCK_BASIC)])).unwrap();
        assert_eq!(m.find(&name).unwrap().handle, 1);
    }

    #[test]
    fn attached_must_be_false() {
        let mut b = two_devices();
        b[entry_at(1) + off::ATTACHED] = 1;
        assert_eq!(err(b), "entry 1: already marked attached");
        let mut b = two_devices();
        b[entry_at(0) + off::ATTACHED] = 0x80;
        assert_eq!(err(b), "entry 0: already marked attached");
    }

    #[test]
    fn unknown_device_type() {
        let b = mft_bytes(&[("console", 3)]);
        assert_eq!(err(b), "entry 1: unknown device type 0x3");
        let b = mft_bytes(&[("again", mft::TYPE_RESERVED_FIRST)]);
        assert_eq!(err(b), "entry 1: unknown device type 0x40000000");
    }

    #[test]
    fn garbage_never_panics() {
        let good = two_devices();
        for n in 0..good.len() {
            let _ = Manifest::parse(good[..n].to_vec());
        }
        for i in 0..good.len() {
            for v in [0x00, 0x01, 0x40, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                let _ = Manifest::parse(b);
            }
        }
    }
}
