//! Encodings of the x86_64 GDT, TSS and IDT entries the runtime loads (pure data).

/// Kernel code selector (GDT slot 1, as the tender's own GDT).
pub const CODE_SELECTOR: u16 = 0x08;
/// Kernel data selector (GDT slot 2).
pub const DATA_SELECTOR: u16 = 0x10;
/// TSS selector (GDT slots 3-4: a system descriptor takes 16 bytes).
pub const TSS_SELECTOR: u16 = 0x18;
/// GDT slots: null, code, data, TSS (two slots).
pub const GDT_ENTRIES: usize = 5;
/// Exception vectors with a handler (the architecture-defined ones).
pub const IDT_ENTRIES: usize = 32;
/// IST slot (1-based) every exception handler switches to.
pub const TRAP_IST: u8 = 1;

/// 64-bit code: present, DPL 0, execute/read, accessed, L=1, G=1.
pub const GDT_CODE: u64 = 0x00AF_9B00_0000_FFFF;
/// Data: present, DPL 0, read/write, accessed, D/B=1, G=1.
pub const GDT_DATA: u64 = 0x00CF_9300_0000_FFFF;

/// Vectors for which the CPU pushes an error code.
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// The 64-bit TSS (only the IST matters here: no rings, no I/O bitmap).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug)]
pub struct Tss {
    pub reserved0: u32,
    pub rsp: [u64; 3],
    pub reserved1: u64,
    pub ist: [u64; 7],
    pub reserved2: u64,
    pub reserved3: u16,
    pub iomap_base: u16,
}

/// Size of the TSS; its descriptor limit is this minus one.
pub const TSS_SIZE: usize = 104;
const _: () = assert!(core::mem::size_of::<Tss>() == TSS_SIZE);

impl Tss {
    /// A TSS with the given IST1 stack top and no I/O permission bitmap.
    pub const fn with_ist1(stack_top: u64) -> Tss {
        Tss {
            reserved0: 0,
            rsp: [0; 3],
            reserved1: 0,
            ist: [stack_top, 0, 0, 0, 0, 0, 0],
            reserved2: 0,
            reserved3: 0,
            // Past the limit: no bitmap.
            iomap_base: TSS_SIZE as u16,
        }
    }
}

/// The 16-byte GDT descriptor of an available 64-bit TSS at `base`.
pub const fn tss_descriptor(base: u64, limit: u32) -> [u64; 2] {
    let low = (limit as u64 & 0xFFFF)
        | ((base & 0xFF_FFFF) << 16)
        | (0x9 << 40) // type: available 64-bit TSS
        | (1 << 47) // present
        | (((limit as u64 >> 16) & 0xF) << 48)
        | (((base >> 24) & 0xFF) << 56);
    [low, base >> 32]
}

/// The 16-byte IDT interrupt gate to `handler` (DPL 0, interrupts stay off).
pub const fn interrupt_gate(handler: u64, selector: u16, ist: u8) -> [u64; 2] {
    let low = (handler & 0xFFFF)
        | ((selector as u64) << 16)
        | (((ist & 7) as u64) << 32)
        | (0xE << 40) // type: 64-bit interrupt gate
        | (1 << 47) // present
        | (((handler >> 16) & 0xFFFF) << 48);
    [low, handler >> 32]
}

/// The operand of LGDT/LIDT.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct TablePointer {
    pub limit: u16,
    pub base: u64,
}

impl TablePointer {
    /// Points at `bytes` bytes of table at `base`.
    pub const fn new(base: u64, bytes: usize) -> TablePointer {
        TablePointer { limit: (bytes - 1) as u16, base }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_splits_the_handler_address() {
        let [lo, hi] = interrupt_gate(0xFFFF_8000_1234_5678, CODE_SELECTOR, 1);
        assert_eq!(lo & 0xFFFF, 0x5678);
        assert_eq!((lo >> 16) & 0xFFFF, 0x08);
        assert_eq!((lo >> 32) & 0x7, 1);
        assert_eq!((lo >> 40) & 0xFF, 0x8E);
        assert_eq!(lo >> 48, 0x1234);
        assert_eq!(hi, 0xFFFF_8000);
    }

    #[test]
    fn tss_descriptor_matches_the_manual() {
        let [lo, hi] = tss_descriptor(0x1_2345_6789, TSS_SIZE as u32 - 1);
        assert_eq!(lo & 0xFFFF, 103);
        assert_eq!((lo >> 16) & 0xFF_FFFF, 0x45_6789);
        assert_eq!((lo >> 40) & 0xFF, 0x89);
        assert_eq!(lo >> 56, 0x23);
        assert_eq!(hi, 1);
    }

    #[test]
    fn error_code_vectors() {
        let with: Vec<u8> = (0..32).filter(|&v| has_error_code(v)).collect();
        assert_eq!(with, [8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);
    }

    #[test]
    fn code_and_data_descriptors_are_long_mode_kernel() {
        assert_eq!((GDT_CODE >> 53) & 1, 1, "L bit");
        assert_eq!((GDT_CODE >> 40) & 0xFF, 0x9B);
        assert_eq!((GDT_DATA >> 40) & 0xFF, 0x93);
        let ist = { Tss::with_ist1(0x4000).ist };
        assert_eq!(ist[0], 0x4000);
    }
}
