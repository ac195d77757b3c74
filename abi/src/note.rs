//! Solo5 ELF notes: the ABI note and the note header shared with the manifest (ABI.md §1).

/// `n_name` of every Solo5 note, NUL included (`n_namesz = 6`).
pub const NAME: &[u8; 6] = b"Solo5\0";
/// `n_name` padded to 4 bytes, as it sits in the file.
pub const NAME_PADDED: [u8; 8] = *b"Solo5\0\0\0";
/// `Elf64_Nhdr` size (namesz, descsz, type).
pub const NHDR_SIZE: u64 = 12;
/// Solo5 note header: `Elf64_Nhdr` + padded name.
pub const HEADER_SIZE: u64 = NHDR_SIZE + NAME_PADDED.len() as u64;

/// `n_type` of the ABI note ("ABI1").
pub const TYPE_ABI: u32 = 0x3149_4241;
/// `n_type` of the manifest note ("MFT1").
pub const TYPE_MANIFEST: u32 = 0x3154_464d;

/// Descriptor alignment of the ABI note.
pub const ABI_ALIGN: u64 = 4;
/// Largest accepted ABI note descriptor.
pub const ABI_MAX: u64 = 32;
/// Descriptor alignment of the manifest note.
pub const MANIFEST_ALIGN: u64 = 8;
/// Largest accepted manifest note descriptor (4 pad + 8 + 104 * 64).
pub const MANIFEST_MAX: u64 = 6668;

/// ABI targets (`abi_target`).
pub const TARGET_HVT: u32 = 1;
/// Names of the other Solo5 targets, for error messages.
pub fn target_name(t: u32) -> &'static str {
    match t {
        1 => "hvt",
        2 => "spt",
        3 => "virtio",
        4 => "muen",
        5 => "genode",
        6 => "xen",
        _ => "unknown",
    }
}

/// Descriptor of the ABI note: `{ abi_target, abi_version, reserved0, reserved1 }`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbiDesc {
    pub abi_target: u32,
    pub abi_version: u32,
    pub reserved0: u32,
    pub reserved1: u32,
}

/// Size of [`AbiDesc`] (tender requires `n_descsz` at least this, **(ours)**).
pub const ABI_DESC_SIZE: u64 = 16;
const _: () = assert!(core::mem::size_of::<AbiDesc>() == ABI_DESC_SIZE as usize);

/// The whole ABI note as a guest image carries it in `.note.solo5.abi`.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug)]
pub struct AbiNote {
    pub namesz: u32,
    pub descsz: u32,
    pub ntype: u32,
    pub name: [u8; 8],
    pub desc: AbiDesc,
}

const _: () = assert!(core::mem::size_of::<AbiNote>() == 36);
const _: () = assert!(core::mem::offset_of!(AbiNote, desc) == HEADER_SIZE as usize);

impl AbiNote {
    /// The note an hvt guest of this ABI version declares.
    pub const HVT: AbiNote = AbiNote {
        namesz: NAME.len() as u32,
        descsz: ABI_DESC_SIZE as u32,
        ntype: TYPE_ABI,
        name: NAME_PADDED,
        desc: AbiDesc { abi_target: TARGET_HVT, abi_version: crate::ABI_VERSION, reserved0: 0, reserved1: 0 },
    };
}

/// `n_name` of tender's own note **(ours)** (`n_namesz = 7`): solo5-hvt skips a note
/// whose name is not `Solo5`, and the header is the same 20 bytes.
pub const TENDER_NAME: &[u8; 7] = b"Tender\0";
/// [`TENDER_NAME`] padded to 4 bytes, as it sits in the file.
pub const TENDER_NAME_PADDED: [u8; 8] = *b"Tender\0\0";
/// `n_type` of tender's features note ("FEA1"), in its own `PT_NOTE`
/// (section `.note.tender.features`): `{ u32 features }`.
pub const TYPE_FEATURES: u32 = 0x3141_4546;
/// Feature bit: the guest sends block requests on the net ring (see `netring`), so the host
/// may offer the ring to it even without a net device.
pub const FEATURE_BLOCK_RING: u32 = 1 << 0;

/// tender's features note as a guest image carries it in `.note.tender.features`.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug)]
pub struct FeaturesNote {
    pub namesz: u32,
    pub descsz: u32,
    pub ntype: u32,
    pub name: [u8; 8],
    pub features: u32,
}

const _: () = assert!(core::mem::size_of::<FeaturesNote>() == 24);
const _: () = assert!(core::mem::offset_of!(FeaturesNote, features) == HEADER_SIZE as usize);

impl FeaturesNote {
    /// The note of a guest with `features` (`FEATURE_*` bits).
    pub const fn new(features: u32) -> FeaturesNote {
        FeaturesNote {
            namesz: TENDER_NAME.len() as u32,
            descsz: 4,
            ntype: TYPE_FEATURES,
            name: TENDER_NAME_PADDED,
            features,
        }
    }
}

/// `align_up(HEADER_SIZE, align)`: where a note's descriptor starts.
pub const fn desc_offset(align: u64) -> u64 {
    (HEADER_SIZE + align - 1) & !(align - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_offsets_match_abi() {
        assert_eq!(HEADER_SIZE, 20);
        assert_eq!(desc_offset(ABI_ALIGN), 20);
        assert_eq!(desc_offset(MANIFEST_ALIGN), 24);
        assert_eq!(&TYPE_ABI.to_le_bytes(), b"ABI1");
        assert_eq!(&TYPE_MANIFEST.to_le_bytes(), b"MFT1");
    }
}
