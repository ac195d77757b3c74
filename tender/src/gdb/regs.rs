//! Register layouts between KVM and GDB, as pure functions of plain arrays so that both
//! architectures' mappings compile and unit-test on any host.

use gdbstub_arch::aarch64::reg::AArch64CoreRegs;
use gdbstub_arch::x86::reg::X86_64CoreRegs;

/// x86_64 general registers in `kvm_regs` order: rax rbx rcx rdx rsi rdi rsp rbp r8..r15,
/// then rip and rflags.
pub type KvmX86 = [u64; 18];
/// AArch64 core registers as KVM's one-reg core ids number them: x0..x30, sp, pc, pstate.
pub type KvmArm = [u64; 34];

/// GDB's order is rax rbx rcx rdx rsi rdi rbp rsp r8..r15 (rbp and rsp swapped against KVM's).
const GDB_FROM_KVM: [usize; 16] = [0, 1, 2, 3, 4, 5, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];

/// KVM's x86_64 registers (and the six segment selectors cs ss ds es fs gs) as GDB's.
pub fn x86_to_gdb(kvm: &KvmX86, selectors: [u32; 6]) -> X86_64CoreRegs {
    let mut g = X86_64CoreRegs::default();
    for (gdb, &k) in GDB_FROM_KVM.iter().enumerate() {
        g.regs[gdb] = kvm[k];
    }
    g.rip = kvm[16];
    g.eflags = kvm[17] as u32;
    let [cs, ss, ds, es, fs, gs] = selectors;
    (g.segments.cs, g.segments.ss, g.segments.ds, g.segments.es, g.segments.fs, g.segments.gs) =
        (cs, ss, ds, es, fs, gs);
    g
}

/// GDB's x86_64 registers back into KVM's (segments are not written: long mode fixes them).
pub fn x86_from_gdb(g: &X86_64CoreRegs, kvm: &mut KvmX86) {
    for (gdb, &k) in GDB_FROM_KVM.iter().enumerate() {
        kvm[k] = g.regs[gdb];
    }
    kvm[16] = g.rip;
    // The architectural flags long mode takes (CF PF AF ZF SF TF IF DF OF IOPL NT RF AC VIF VIP
    // ID: not VM, which 64-bit mode forbids);
    // bit 1 is always set. A reserved bit would make the next VM entry fail.
    kvm[17] = (u64::from(g.eflags) & 0x003D_7FD5) | 2;
}

/// KVM's AArch64 core registers as GDB's (no FP/SIMD: guests see zeros there).
pub fn arm_to_gdb(kvm: &KvmArm) -> AArch64CoreRegs {
    let mut g = AArch64CoreRegs::default();
    g.x.copy_from_slice(&kvm[..31]);
    g.sp = kvm[31];
    g.pc = kvm[32];
    g.cpsr = kvm[33] as u32;
    g
}

/// GDB's AArch64 registers back into KVM's.
pub fn arm_from_gdb(g: &AArch64CoreRegs) -> KvmArm {
    let mut k = [0u64; 34];
    k[..31].copy_from_slice(&g.x);
    k[31] = g.sp;
    k[32] = g.pc;
    k[33] = u64::from(g.cpsr);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_registers_round_trip_with_rsp_and_rbp_in_gdbs_places() {
        let kvm: KvmX86 = std::array::from_fn(|i| 0x100 + i as u64);
        let g = x86_to_gdb(&kvm, [8, 16, 16, 16, 16, 16]);
        assert_eq!(
            (g.regs[0], g.regs[6], g.regs[7], g.regs[15]),
            (0x100, 0x107, 0x106, 0x10f),
            "rax, rbp, rsp, r15"
        );
        assert_eq!((g.rip, g.eflags, g.segments.cs, g.segments.ss), (0x110, 0x111, 8, 16));
        let mut back = [0u64; 18];
        x86_from_gdb(&g, &mut back);
        assert_eq!(back[..17], kvm[..17]);
        assert_eq!(back[17], 0x113, "rflags with bit 1 set");
        let mut flags = g.clone();
        flags.eflags = 0xFFFF_FFFF;
        x86_from_gdb(&flags, &mut back);
        assert_eq!(back[17], 0x003D_7FD7, "reserved flags and VM never reach KVM");
    }

    #[test]
    fn arm_registers_round_trip() {
        let kvm: KvmArm = std::array::from_fn(|i| 0x1000 + i as u64);
        let g = arm_to_gdb(&kvm);
        assert_eq!((g.x[0], g.x[30], g.sp, g.pc, g.cpsr), (0x1000, 0x101e, 0x101f, 0x1020, 0x1021));
        assert_eq!(arm_from_gdb(&g), kvm);
    }
}
