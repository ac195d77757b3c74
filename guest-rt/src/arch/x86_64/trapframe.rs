//! The x86_64 trap frame: what the entry stubs push, what the HALT cookie points
//! at, and the one-screen report printed on the console.

use core::fmt;

/// Names of the general-purpose registers, in `RawFrame`/`TrapFrame` order.
pub const GPR_NAMES: [&str; 15] =
    ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];

/// The stack image built by the trap stubs (lowest address first).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RawFrame {
    pub gprs: [u64; 15],
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// The crash-state area whose address is the HALT cookie: 512 bytes, the size the
/// tender checks. Layout (little-endian `u64`s): vector @0, error_code @8,
/// rip @16, cs @24, rflags @32, rsp @40, ss @48, cr2 @56, rax..r15 @64..184,
/// zeros to the end.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug)]
pub struct TrapFrame {
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
    pub cr2: u64,
    pub gprs: [u64; 15],
    pub reserved: [u64; 41],
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == abi::hypercall::HALT_COOKIE_MAX as usize);
const _: () = assert!(core::mem::offset_of!(TrapFrame, gprs) == 64);

/// Mnemonic and description of an architecture-defined exception vector.
pub fn vector_name(vector: u64) -> (&'static str, &'static str) {
    match vector {
        0 => ("#DE", "divide error"),
        1 => ("#DB", "debug"),
        2 => ("NMI", "non-maskable interrupt"),
        3 => ("#BP", "breakpoint"),
        4 => ("#OF", "overflow"),
        5 => ("#BR", "bound range exceeded"),
        6 => ("#UD", "invalid opcode"),
        7 => ("#NM", "device not available"),
        8 => ("#DF", "double fault"),
        10 => ("#TS", "invalid TSS"),
        11 => ("#NP", "segment not present"),
        12 => ("#SS", "stack-segment fault"),
        13 => ("#GP", "general protection fault"),
        14 => ("#PF", "page fault"),
        16 => ("#MF", "x87 floating-point error"),
        17 => ("#AC", "alignment check"),
        18 => ("#MC", "machine check"),
        19 => ("#XM", "SIMD floating-point exception"),
        20 => ("#VE", "virtualization exception"),
        21 => ("#CP", "control protection"),
        _ => ("#??", "reserved vector"),
    }
}

impl TrapFrame {
    /// An all-zero frame.
    pub const ZERO: TrapFrame = TrapFrame {
        vector: 0,
        error_code: 0,
        rip: 0,
        cs: 0,
        rflags: 0,
        rsp: 0,
        ss: 0,
        cr2: 0,
        gprs: [0; 15],
        reserved: [0; 41],
    };

    /// The frame for a trap whose stub pushed `raw`, with CR2 read in the handler.
    pub fn from_raw(raw: &RawFrame, cr2: u64) -> TrapFrame {
        TrapFrame {
            vector: raw.vector,
            error_code: raw.error_code,
            rip: raw.rip,
            cs: raw.cs,
            rflags: raw.rflags,
            rsp: raw.rsp,
            ss: raw.ss,
            cr2,
            gprs: raw.gprs,
            reserved: [0; 41],
        }
    }

    /// Writes the report: one summary line, then details and the registers.
    /// `stack_guard` is the unmapped page under the stack, to name overflows.
    ///
    /// ```text
    /// guest-rt: trap: vector 14 (#PF page fault), error code 0x6, rip 0x1012a4, cr2 0x8
    /// guest-rt:   page fault: write, page not present, user mode
    /// guest-rt:   rsp 0x1ffffe70 rflags 0x10086 cs 0x1b ss 0x23
    /// guest-rt:   rax 0x0 rbx 0x0 ...
    /// ```
    pub fn write_report(&self, w: &mut dyn fmt::Write, stack_guard: Option<(u64, u64)>) -> fmt::Result {
        let (mnemonic, what) = vector_name(self.vector);
        writeln!(
            w,
            "guest-rt: trap: vector {} ({} {}), error code {:#x}, rip {:#x}, cr2 {:#x}",
            self.vector, mnemonic, what, self.error_code, self.rip, self.cr2
        )?;
        if self.vector == 14 {
            writeln!(w, "guest-rt:   page fault: {}", PfError(self.error_code))?;
            if stack_guard.is_some_and(|(lo, hi)| (lo..hi).contains(&self.cr2)) {
                writeln!(w, "guest-rt:   stack overflow: cr2 is in the guard page below the stack")?;
            }
        }
        writeln!(
            w,
            "guest-rt:   rsp {:#x} rflags {:#x} cs {:#x} ss {:#x}",
            self.rsp, self.rflags, self.cs, self.ss
        )?;
        for row in GPR_NAMES.chunks(5).zip(self.gprs.chunks(5)) {
            write!(w, "guest-rt:  ")?;
            for (name, value) in row.0.iter().zip(row.1) {
                write!(w, " {name} {value:#x}")?;
            }
            writeln!(w)?;
        }
        Ok(())
    }
}

/// Decodes a page-fault error code.
struct PfError(u64);

impl fmt::Display for PfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        let access = if e & 0x10 != 0 {
            "instruction fetch"
        } else if e & 0x2 != 0 {
            "write"
        } else {
            "read"
        };
        let cause = if e & 0x1 != 0 { "protection violation" } else { "page not present" };
        let mode = if e & 0x4 != 0 { "user mode" } else { "kernel mode" };
        write!(f, "{access}, {cause}, {mode}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_fault() -> TrapFrame {
        let mut raw = RawFrame { vector: 14, error_code: 6, rip: 0x1012a4, ..Default::default() };
        raw.gprs[14] = 0xf15;
        raw.cs = 0x1b;
        TrapFrame::from_raw(&raw, 0x8)
    }

    #[test]
    fn report_summary_line_names_vector_rip_and_cr2() {
        let mut s = String::new();
        page_fault().write_report(&mut s, Some((0x1000, 0x2000))).unwrap();
        let first = s.lines().next().unwrap();
        assert_eq!(
            first,
            "guest-rt: trap: vector 14 (#PF page fault), error code 0x6, rip 0x1012a4, cr2 0x8"
        );
        assert!(s.contains("page fault: write, page not present, user mode\n"));
        assert!(s.contains(" r15 0xf15\n"));
        assert!(s.contains(" cs 0x1b "));
        assert!(!s.contains("stack overflow"));
    }

    #[test]
    fn report_names_a_stack_overflow() {
        let mut f = page_fault();
        f.cr2 = 0x1ff0_0ff8;
        let mut s = String::new();
        f.write_report(&mut s, Some((0x1ff0_0000, 0x1ff0_1000))).unwrap();
        assert!(s.contains("stack overflow"));
    }

    #[test]
    fn frame_fields_sit_at_documented_offsets() {
        let f = page_fault();
        // SAFETY: TrapFrame is repr(C) plain u64s: its bytes are initialized.
        let bytes: &[u8; 512] = unsafe { &*(&f as *const TrapFrame as *const [u8; 512]) };
        assert_eq!(bytes[0], 14);
        assert_eq!(bytes[8], 6);
        assert_eq!(u64::from_le_bytes(bytes[16..24].try_into().unwrap()), 0x1012a4);
        assert_eq!(bytes[56], 8);
        assert_eq!(u64::from_le_bytes(bytes[176..184].try_into().unwrap()), 0xf15);
    }

    #[test]
    fn unknown_vectors_have_a_name() {
        assert_eq!(vector_name(15).0, "#??");
        assert_eq!(vector_name(13).1, "general protection fault");
    }
}
