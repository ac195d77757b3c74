//! KVM_{GET,SET}_ONE_REG ids of the AArch64 registers the tender touches,
//! computed from the encoding of the Linux UAPI (`arch/arm64/include/uapi/asm/kvm.h`)
//! so they need no aarch64-only bindings.

/// `KVM_REG_ARM64`: architecture field of every id.
const KVM_REG_ARM64: u64 = 0x6000_0000_0000_0000;
/// `KVM_REG_SIZE_U64`: a 64-bit register.
const KVM_REG_SIZE_U64: u64 = 0x0030_0000_0000_0000;
/// `KVM_REG_ARM_CORE`: a field of `struct kvm_regs`, indexed in 32-bit words.
const KVM_REG_ARM_CORE: u64 = 0x0010 << 16;
/// `KVM_REG_ARM64_SYSREG`: a system register by its MRS/MSR encoding.
const KVM_REG_ARM64_SYSREG: u64 = 0x0013 << 16;

/// The id of the 64-bit field at byte `offset` of `struct kvm_regs`.
pub const fn core_reg(offset: u64) -> u64 {
    KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset / 4)
}

/// The id of system register `S<op0>_<op1>_C<crn>_C<crm>_<op2>`.
pub const fn sys_reg(op0: u64, op1: u64, crn: u64, crm: u64, op2: u64) -> u64 {
    KVM_REG_ARM64
        | KVM_REG_SIZE_U64
        | KVM_REG_ARM64_SYSREG
        | ((op0 & 0x3) << 14)
        | ((op1 & 0x7) << 11)
        | ((crn & 0xF) << 7)
        | ((crm & 0xF) << 3)
        | (op2 & 0x7)
}

/// Byte offsets in `struct kvm_regs`: `user_pt_regs { regs[31], sp, pc, pstate }`,
/// then `sp_el1`, `elr_el1`, `spsr[5]`, ...
mod offset {
    pub const X0: u64 = 0;
    pub const SP_EL0: u64 = 31 * 8;
    pub const PC: u64 = 32 * 8;
    pub const PSTATE: u64 = 33 * 8;
    pub const SP_EL1: u64 = 34 * 8;
}

/// General register `x<n>` (0–30).
pub const fn x(n: u64) -> u64 {
    core_reg(offset::X0 + 8 * n)
}

/// X0: the entry argument.
pub const X0: u64 = x(0);
/// SP_EL0 (`regs.sp`).
pub const SP_EL0: u64 = core_reg(offset::SP_EL0);
/// The program counter.
pub const PC: u64 = core_reg(offset::PC);
/// PSTATE (`regs.pstate`).
pub const PSTATE: u64 = core_reg(offset::PSTATE);
/// SP_EL1, the stack pointer in EL1h.
pub const SP_EL1: u64 = core_reg(offset::SP_EL1);

/// SCTLR_EL1: S3_0_C1_C0_0.
pub const SCTLR_EL1: u64 = sys_reg(3, 0, 1, 0, 0);
/// CPACR_EL1: S3_0_C1_C0_2.
pub const CPACR_EL1: u64 = sys_reg(3, 0, 1, 0, 2);
/// TTBR0_EL1: S3_0_C2_C0_0.
pub const TTBR0_EL1: u64 = sys_reg(3, 0, 2, 0, 0);
/// TCR_EL1: S3_0_C2_C0_2.
pub const TCR_EL1: u64 = sys_reg(3, 0, 2, 0, 2);
/// MAIR_EL1: S3_0_C10_C2_0.
pub const MAIR_EL1: u64 = sys_reg(3, 0, 10, 2, 0);
/// CNTFRQ_EL0: S3_3_C14_C0_0.
pub const CNTFRQ_EL0: u64 = sys_reg(3, 3, 14, 0, 0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_register_ids() {
        assert_eq!(X0, 0x6030_0000_0010_0000);
        assert_eq!(x(30), 0x6030_0000_0010_003C);
        assert_eq!(SP_EL0, 0x6030_0000_0010_003E);
        assert_eq!(PC, 0x6030_0000_0010_0040);
        assert_eq!(PSTATE, 0x6030_0000_0010_0042);
        assert_eq!(SP_EL1, 0x6030_0000_0010_0044);
    }

    #[test]
    fn system_register_ids() {
        assert_eq!(SCTLR_EL1, 0x6030_0000_0013_C080);
        assert_eq!(CPACR_EL1, 0x6030_0000_0013_C082);
        assert_eq!(TTBR0_EL1, 0x6030_0000_0013_C100);
        assert_eq!(TCR_EL1, 0x6030_0000_0013_C102);
        assert_eq!(MAIR_EL1, 0x6030_0000_0013_C510);
        assert_eq!(CNTFRQ_EL0, 0x6030_0000_0013_DF00);
    }

    #[test]
    fn size_field_says_64_bits() {
        for id in [X0, PC, SP_EL1, MAIR_EL1, CNTFRQ_EL0] {
            assert_eq!(1u64 << ((id >> 52) & 0xF), 8, "{id:#x}");
        }
    }
}
