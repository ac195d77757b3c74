//! The manifest copy the tender leaves at `boot_info().mft`: which devices are
//! attached, their handles and parameters.

use abi::manifest::{
    block_info, decode_header, entry_range, net_info, EntryInfo, ENTRY_SIZE, HEADER_SIZE, MAX_ENTRIES,
    TYPE_BLOCK_BASIC, TYPE_NET_BASIC,
};

/// What a manifest entry describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// `BLOCK_BASIC`: capacity in bytes and block size.
    Block {
        /// The device's size in bytes (a multiple of `block_size`).
        capacity: u64,
        /// The size in bytes of one block, the unit of every request.
        block_size: u16,
    },
    /// `NET_BASIC`: MAC address and MTU.
    Net {
        /// The interface's Ethernet address.
        mac: [u8; 6],
        /// The largest frame payload in bytes (the frame adds a 14-byte header).
        mtu: u16,
    },
    /// Any other entry type (e.g. the reserved first entry).
    Other(u32),
}

/// One entry of the manifest copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// The device handle for block/net hypercalls: its index in the manifest.
    pub handle: u64,
    /// The raw entry (name, type, attached flag).
    pub entry: EntryInfo,
    /// Decoded parameters.
    pub kind: DeviceKind,
}

impl Device {
    /// The declared name.
    pub fn name(&self) -> &str {
        core::str::from_utf8(self.entry.name_bytes()).unwrap_or("")
    }
}

/// The `struct mft` image `mft` cut to its declared number of entries (at most
/// 64, never past the end of `mft`).
pub fn entries_in(mft: &[u8]) -> impl Iterator<Item = Device> + '_ {
    let declared = if mft.len() >= HEADER_SIZE { decode_header(mft).1 } else { 0 };
    let fit = mft.len().saturating_sub(HEADER_SIZE) / ENTRY_SIZE;
    let n = (declared.min(MAX_ENTRIES) as usize).min(fit);
    (0..n).map(move |i| {
        let b = &mft[entry_range(i)];
        let entry = EntryInfo::decode(b);
        let kind = match entry.ty {
            TYPE_BLOCK_BASIC => {
                let (capacity, block_size) = block_info(b);
                DeviceKind::Block { capacity, block_size }
            }
            TYPE_NET_BASIC => {
                let (mac, mtu) = net_info(b);
                DeviceKind::Net { mac, mtu }
            }
            t => DeviceKind::Other(t),
        };
        Device { handle: i as u64, entry, kind }
    })
}

/// Finds the entry named `name` in the `struct mft` image `mft`.
pub fn find_in(mft: &[u8], name: &str) -> Option<Device> {
    entries_in(mft).find(|d: &Device| !name.is_empty() && d.entry.name_bytes() == name.as_bytes())
}

/// The manifest copy in guest memory (empty before boot).
pub fn bytes() -> &'static [u8] {
    let mft = crate::boot::boot_info().mft;
    if mft == 0 {
        return &[];
    }
    let len = HEADER_SIZE + ENTRY_SIZE * MAX_ENTRIES as usize;
    // SAFETY: the tender writes the manifest copy right after boot info in the
    // read-only region (below 1 MiB, ending well before the image), which holds
    // at least a full 64-entry manifest plus the command line; it never changes.
    let all = unsafe { core::slice::from_raw_parts(mft as *const u8, len) };
    let n = (decode_header(all).1.min(MAX_ENTRIES)) as usize;
    &all[..HEADER_SIZE + n * ENTRY_SIZE]
}

/// The entries of the manifest copy.
pub fn devices() -> impl Iterator<Item = Device> {
    entries_in(bytes())
}

/// The attached device named `name`.
pub fn find(name: &str) -> Option<Device> {
    find_in(bytes(), name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::manifest::{attach_block, attach_net, encode_header, Entry, ManifestNote};

    fn image() -> Vec<u8> {
        let note = ManifestNote::new([Entry::RESERVED_FIRST, Entry::block("storage"), Entry::net("service")]);
        let mut b = vec![0u8; HEADER_SIZE + 3 * ENTRY_SIZE];
        encode_header(&mut b, 1, 3);
        for (i, e) in note.e.iter().enumerate() {
            let r = entry_range(i);
            b[r.start..r.start + 68].copy_from_slice(&e.name);
            b[r.start + 68..r.start + 72].copy_from_slice(&e.ty.to_le_bytes());
        }
        attach_block(&mut b[entry_range(1)], 1 << 20, 512);
        attach_net(&mut b[entry_range(2)], [2, 0, 0, 0, 0, 1], 1500);
        b
    }

    #[test]
    fn finds_devices_by_name_with_handles() {
        let b = image();
        let blk = find_in(&b, "storage").unwrap();
        assert_eq!(blk.handle, 1);
        assert_eq!(blk.name(), "storage");
        assert!(blk.entry.attached);
        assert_eq!(blk.kind, DeviceKind::Block { capacity: 1 << 20, block_size: 512 });
        let net = find_in(&b, "service").unwrap();
        assert_eq!(net.handle, 2);
        assert_eq!(net.kind, DeviceKind::Net { mac: [2, 0, 0, 0, 0, 1], mtu: 1500 });
        assert!(find_in(&b, "").is_none());
        assert!(find_in(&b, "stor").is_none());
    }

    #[test]
    fn lying_headers_stay_in_bounds() {
        let mut b = image();
        encode_header(&mut b, 1, 1000);
        assert_eq!(entries_in(&b).count(), 3);
        assert_eq!(entries_in(&b[..HEADER_SIZE + ENTRY_SIZE + 5]).count(), 1);
        assert_eq!(entries_in(&[]).count(), 0);
        assert_eq!(devices().count(), 0);
    }
}
