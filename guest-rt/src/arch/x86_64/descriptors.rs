//! Encodings of the x86_64 GDT, TSS and IDT entries the runtime loads (pure data).

use core::ops::Range;

/// Kernel code selector (GDT slot 1, as the tender's own GDT).
pub const CODE_SELECTOR: u16 = 0x08;
/// Kernel data selector (GDT slot 2).
pub const DATA_SELECTOR: u16 = 0x10;
/// User (CPL 3) code selector, RPL 3 (GDT slot 3).
pub const USER_CODE_SELECTOR: u16 = 0x18 | 3;
/// User data/stack selector, RPL 3 (GDT slot 4).
pub const USER_DATA_SELECTOR: u16 = 0x20 | 3;
/// TSS selector (GDT slots 5-6: a system descriptor takes 16 bytes).
pub const TSS_SELECTOR: u16 = 0x28;
/// GDT slots: null, code, data, user code, user data, TSS (two slots).
pub const GDT_ENTRIES: usize = 7;
/// Exception vectors with a handler (the architecture-defined ones).
pub const IDT_ENTRIES: usize = 32;
/// IST slot (1-based) every exception handler switches to.
pub const TRAP_IST: u8 = 1;

/// 64-bit code: present, DPL 0, execute/read, accessed, L=1, G=1.
pub const GDT_CODE: u64 = 0x00AF_9B00_0000_FFFF;
/// Data: present, DPL 0, read/write, accessed, D/B=1, G=1.
pub const GDT_DATA: u64 = 0x00CF_9300_0000_FFFF;
/// 64-bit user code: as `GDT_CODE` with DPL 3.
pub const GDT_USER_CODE: u64 = 0x00AF_FB00_0000_FFFF;
/// User data: as `GDT_DATA` with DPL 3.
pub const GDT_USER_DATA: u64 = 0x00CF_F300_0000_FFFF;

/// I/O ports CPL 3 may use: the hypercall ports 0x500 + nr, and the net-ring
/// kick (a 4-byte write to 0x600, ABI.md §7).
pub const USER_PORTS: [Range<u16>; 2] = [0x500..0x600, 0x600..0x604];
/// Bytes of the TSS I/O permission bitmap: one bit per port up to the last
/// allowed one, then the all-ones byte the CPU requires after the map (and
/// more ones up to a multiple of 4 bytes, the TSS's alignment).
pub const IO_BITMAP_SIZE: usize = (0x604 / 8 + 2 + 3) & !3;

/// The I/O permission bitmap: a 0 bit lets CPL 3 use that port.
pub const fn io_bitmap() -> [u8; IO_BITMAP_SIZE] {
    let mut map = [0xFF; IO_BITMAP_SIZE];
    let mut r = 0;
    while r < USER_PORTS.len() {
        let mut port = USER_PORTS[r].start;
        while port < USER_PORTS[r].end {
            map[port as usize / 8] &= !(1 << (port % 8));
            port += 1;
        }
        r += 1;
    }
    map
}

/// Vectors for which the CPU pushes an error code.
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// The 64-bit TSS: the stacks for traps from CPL 3, and the I/O bitmap that
/// lets CPL 3 make hypercalls.
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
    pub io_bitmap: [u8; IO_BITMAP_SIZE],
}

/// Offset of the I/O bitmap (the end of the architectural TSS).
const IO_BITMAP_OFFSET: usize = 104;
/// Size of the TSS; its descriptor limit is this minus one.
pub const TSS_SIZE: usize = IO_BITMAP_OFFSET + IO_BITMAP_SIZE;
const _: () = assert!(core::mem::size_of::<Tss>() == TSS_SIZE);
const _: () = assert!(core::mem::offset_of!(Tss, io_bitmap) == IO_BITMAP_OFFSET);

impl Tss {
    /// A TSS whose RSP0 and IST1 are `stack_top`, with the [`io_bitmap`].
    pub const fn new(stack_top: u64) -> Tss {
        Tss {
            reserved0: 0,
            rsp: [stack_top, 0, 0],
            reserved1: 0,
            ist: [stack_top, 0, 0, 0, 0, 0, 0],
            reserved2: 0,
            reserved3: 0,
            iomap_base: IO_BITMAP_OFFSET as u16,
            io_bitmap: io_bitmap(),
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

/// `gate` with DPL 3: CPL 3 may raise its vector with a software interrupt (`int3` then
/// gives #BP, not #GP, as on every OS).
pub const fn user_raisable(gate: [u64; 2]) -> [u64; 2] {
    [gate[0] | (3 << 45), gate[1]]
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
        let [user, _] = user_raisable([lo, hi]);
        assert_eq!((user >> 40) & 0xFF, 0xEE, "present, DPL 3, 64-bit interrupt gate");
    }

    #[test]
    fn tss_descriptor_matches_the_manual() {
        let [lo, hi] = tss_descriptor(0x1_2345_6789, TSS_SIZE as u32 - 1);
        assert_eq!(lo & 0xFFFF, TSS_SIZE as u64 - 1);
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
    fn code_and_data_descriptors() {
        assert_eq!((GDT_CODE >> 53) & 1, 1, "L bit");
        assert_eq!((GDT_CODE >> 40) & 0xFF, 0x9B);
        assert_eq!((GDT_DATA >> 40) & 0xFF, 0x93);
        // The user descriptors differ only in DPL (bits 45-46).
        assert_eq!(GDT_USER_CODE, GDT_CODE | (3 << 45));
        assert_eq!(GDT_USER_DATA, GDT_DATA | (3 << 45));
        assert_eq!(USER_CODE_SELECTOR as usize >> 3, 3);
        assert_eq!(USER_DATA_SELECTOR as usize >> 3, 4);
        assert_eq!(TSS_SELECTOR as usize >> 3, GDT_ENTRIES - 2);
        let t = Tss::new(0x4000);
        let (rsp, ist) = ({ t.rsp }, { t.ist });
        assert_eq!((rsp[0], ist[0]), (0x4000, 0x4000));
    }

    #[test]
    fn io_bitmap_opens_only_the_hypercall_and_kick_ports() {
        let map = io_bitmap();
        let open = |port: usize| map[port / 8] & (1 << (port % 8)) == 0;
        assert!(open(0x500) && open(0x508) && open(0x5FF) && open(0x600) && open(0x603));
        assert!(!open(0x4FF) && !open(0x604) && !open(0x80) && !open(0));
        assert_eq!(map[IO_BITMAP_SIZE - 1], 0xFF);
        assert_eq!(IO_BITMAP_SIZE, 196);
    }
}
