//! The AArch64 trap frame: what the vector stubs save, what the HALT cookie
//! points at, and the one-screen report printed on the console.

use core::fmt;

/// The stack image built by the vector stubs (lowest address first).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RawFrame {
    pub x: [u64; 31],
    pub kind: u64,
    pub esr: u64,
    pub elr: u64,
    pub far: u64,
    pub spsr: u64,
    pub sp: u64,
}

/// Bytes the stubs reserve for a `RawFrame` (kept 16-byte aligned).
pub const RAW_FRAME_SIZE: usize = 304;
const _: () =
    assert!(core::mem::size_of::<RawFrame>() <= RAW_FRAME_SIZE && RAW_FRAME_SIZE.is_multiple_of(16));
// The offsets the vector stubs store at.
const _: () = assert!(core::mem::offset_of!(RawFrame, kind) == 248);
const _: () = assert!(core::mem::offset_of!(RawFrame, esr) == 256);
const _: () = assert!(core::mem::offset_of!(RawFrame, sp) == 288);

/// The crash-state area whose address is the HALT cookie: 512 bytes, the size the
/// tender checks. Layout (little-endian `u64`s): kind @0 (vector table slot),
/// esr @8, elr @16, far @24, spsr @32, sp @40, x0..x30 @48..296, zeros to the end.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug)]
pub struct TrapFrame {
    pub kind: u64,
    pub esr: u64,
    pub elr: u64,
    pub far: u64,
    pub spsr: u64,
    pub sp: u64,
    pub x: [u64; 31],
    pub reserved: [u64; 27],
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == abi::hypercall::HALT_COOKIE_MAX as usize);
const _: () = assert!(core::mem::offset_of!(TrapFrame, x) == 48);

/// What a vector table slot (0-15) is taken for: the exception type and where from.
pub fn kind_name(kind: u64) -> (&'static str, &'static str) {
    let what = ["synchronous exception", "IRQ", "FIQ", "SError"][(kind & 3) as usize];
    let from = match kind >> 2 {
        0 => "EL1 on SP_EL0",
        1 => "EL1 on SP_EL1 (inside the trap handler)",
        2 => "a lower EL (AArch64)",
        _ => "a lower EL (AArch32)",
    };
    (what, from)
}

/// The exception class (ESR_EL1 bits 31:26) and its name.
pub fn exception_class(esr: u64) -> (u64, &'static str) {
    let ec = (esr >> 26) & 0x3F;
    let name = match ec {
        0x00 => "unknown reason (undefined instruction)",
        0x01 => "WFI/WFE",
        0x07 => "FP/SIMD access",
        0x0E => "illegal execution state",
        0x15 => "SVC",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "MSR/MRS/system instruction",
        0x20 => "instruction abort, lower EL",
        0x21 => "instruction abort, same EL",
        0x22 => "PC alignment fault",
        0x24 => "data abort, lower EL",
        0x25 => "data abort, same EL",
        0x26 => "SP alignment fault",
        0x2C => "floating-point exception",
        0x2F => "SError",
        0x30 | 0x31 => "breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3C => "BRK instruction",
        _ => "other",
    };
    (ec, name)
}

/// Decodes the fault status code of an abort's ISS.
struct Abort(u64);

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let esr = self.0;
        let fsc = esr & 0x3F;
        let level = fsc & 3;
        let cause = match fsc >> 2 {
            0 => "address size fault",
            1 => "translation fault",
            2 => "access flag fault",
            3 => "permission fault",
            _ if fsc == 0x21 => return write!(f, "alignment fault"),
            _ if fsc == 0x10 => return write!(f, "synchronous external abort"),
            _ => return write!(f, "fault status {fsc:#x}"),
        };
        // WnR (bit 6) only means something for data aborts.
        if (esr >> 26) & 0x3F == 0x25 || (esr >> 26) & 0x3F == 0x24 {
            let access = if esr & (1 << 6) != 0 { "write" } else { "read" };
            write!(f, "{access}, ")?;
        }
        write!(f, "{cause}, level {level}")
    }
}

impl TrapFrame {
    /// An all-zero frame.
    pub const ZERO: TrapFrame =
        TrapFrame { kind: 0, esr: 0, elr: 0, far: 0, spsr: 0, sp: 0, x: [0; 31], reserved: [0; 27] };

    /// The frame for a trap whose stub saved `raw`.
    pub fn from_raw(raw: &RawFrame) -> TrapFrame {
        TrapFrame {
            kind: raw.kind,
            esr: raw.esr,
            elr: raw.elr,
            far: raw.far,
            spsr: raw.spsr,
            sp: raw.sp,
            x: raw.x,
            reserved: [0; 27],
        }
    }

    /// Writes the report: one summary line, then details and the registers.
    /// `stack_guard` is the unmapped page under the stack, to name overflows.
    ///
    /// ```text
    /// guest-rt: trap: synchronous exception from EL1 on SP_EL0: EC 0x25 (data abort, same EL), ESR 0x96000047, ELR 0x1002a4, FAR 0x8
    /// guest-rt:   abort: write, translation fault, level 3
    /// guest-rt:   sp 0x1ffffe70 spsr 0x3c4
    /// guest-rt:   x0 0x0 x1 0x0 ...
    /// ```
    pub fn write_report(&self, w: &mut dyn fmt::Write, stack_guard: Option<(u64, u64)>) -> fmt::Result {
        let (what, from) = kind_name(self.kind);
        let (ec, name) = exception_class(self.esr);
        writeln!(
            w,
            "guest-rt: trap: {what} from {from}: EC {ec:#x} ({name}), ESR {:#x}, ELR {:#x}, FAR {:#x}",
            self.esr, self.elr, self.far
        )?;
        if matches!(ec, 0x20 | 0x21 | 0x24 | 0x25) {
            writeln!(w, "guest-rt:   abort: {}", Abort(self.esr))?;
            if stack_guard.is_some_and(|(lo, hi)| (lo..hi).contains(&self.far)) {
                writeln!(w, "guest-rt:   stack overflow: FAR is in the guard page below the stack")?;
            }
        }
        writeln!(w, "guest-rt:   sp {:#x} spsr {:#x}", self.sp, self.spsr)?;
        for (row, regs) in self.x.chunks(5).enumerate() {
            write!(w, "guest-rt:  ")?;
            for (i, value) in regs.iter().enumerate() {
                write!(w, " x{} {value:#x}", row * 5 + i)?;
            }
            writeln!(w)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_abort() -> TrapFrame {
        let mut raw = RawFrame {
            kind: 0,
            esr: 0x9600_0047,
            elr: 0x1002a4,
            far: 0x8,
            spsr: 0x3c4,
            ..Default::default()
        };
        raw.x[30] = 0xf30;
        raw.sp = 0x1fff_fe70;
        TrapFrame::from_raw(&raw)
    }

    #[test]
    fn report_summary_line_names_class_esr_elr_and_far() {
        let mut s = String::new();
        data_abort().write_report(&mut s, Some((0x1000, 0x2000))).unwrap();
        let first = s.lines().next().unwrap();
        assert_eq!(
            first,
            "guest-rt: trap: synchronous exception from EL1 on SP_EL0: EC 0x25 (data abort, same EL), \
             ESR 0x96000047, ELR 0x1002a4, FAR 0x8"
        );
        assert!(s.contains("abort: write, translation fault, level 3\n"));
        assert!(s.contains(" x30 0xf30\n"));
        assert!(s.contains("sp 0x1ffffe70 spsr 0x3c4"));
        assert_eq!(s.lines().count(), 3 + 7);
        assert!(!s.contains("stack overflow"));
    }

    #[test]
    fn report_names_a_stack_overflow() {
        let mut f = data_abort();
        f.far = 0x1ff0_0ff8;
        let mut s = String::new();
        f.write_report(&mut s, Some((0x1ff0_0000, 0x1ff0_1000))).unwrap();
        assert!(s.contains("guest-rt:   stack overflow: FAR is in the guard page below the stack\n"));
    }

    #[test]
    fn frame_fields_sit_at_documented_offsets() {
        let f = data_abort();
        // SAFETY: TrapFrame is repr(C) plain u64s: its bytes are initialized.
        let bytes: &[u8; 512] = unsafe { &*(&f as *const TrapFrame as *const [u8; 512]) };
        let at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
        assert_eq!(at(8), 0x9600_0047);
        assert_eq!(at(16), 0x1002a4);
        assert_eq!(at(24), 0x8);
        assert_eq!(at(48 + 30 * 8), 0xf30);
    }

    #[test]
    fn kinds_and_classes_have_names() {
        assert_eq!(kind_name(0), ("synchronous exception", "EL1 on SP_EL0"));
        assert_eq!(kind_name(5).0, "IRQ");
        assert!(kind_name(4).1.contains("trap handler"));
        assert_eq!(exception_class(0x0200_0000), (0, "unknown reason (undefined instruction)"));
        assert_eq!(exception_class(0xF200_0000).1, "BRK instruction");
        assert_eq!(exception_class(0x8600_000F).1, "instruction abort, same EL");
        let mut s = String::new();
        use core::fmt::Write;
        write!(s, "{}", Abort(0x8600_000F)).unwrap();
        assert_eq!(s, "permission fault, level 3");
    }
}
