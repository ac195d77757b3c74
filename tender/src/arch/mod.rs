//! The one place that knows which architecture the tender runs on: generic code
//! calls these functions and never uses `cfg(target_arch)` itself.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use self::aarch64::*;

/// A vCPU exit, decoded into what generic code needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// A well-formed hypercall: number and guest address of its argument struct.
    Hypercall { nr: u32, arg: u64 },
    /// A malformed hypercall or other device access (port/size/direction): fatal.
    BadAccess(String),
    /// A guest memory access that trapped to the host at `gpa`.
    Mmio { gpa: u64, write: bool, len: usize },
    /// KVM could not access the host mapping behind `gpa` (e.g. a read-only image page) and
    /// does not say whether the guest read or wrote.
    MemoryFault { gpa: u64, len: usize },
    /// HLT with interrupts off: the guest stopped for good.
    Halted,
    /// Triple fault (x86_64) or a PSCI/system event (AArch64).
    Shutdown,
    /// KVM could not enter the guest.
    FailEntry { reason: u64 },
    /// KVM's internal error (e.g. kvm-pvm failing to emulate an instruction).
    InternalError { suberror: u32 },
    /// KVM_RUN was interrupted by a signal.
    Interrupted,
    /// A breakpoint or single step, with guest debugging enabled.
    Debug,
    /// Anything else KVM reported.
    Unexpected(String),
}

/// Errors while preparing the architecture-specific vCPU state.
#[derive(Debug, thiserror::Error)]
pub enum ArchError {
    #[error("KVM lacks a required capability: {0}")]
    MissingCapability(&'static str),
    #[error("Could not get the supported CPUID")]
    GetCpuid(#[source] kvm_ioctls::Error),
    #[error("Could not set the vCPU's CPUID")]
    SetCpuid(#[source] kvm_ioctls::Error),
    #[error("Could not get the vCPU's special registers")]
    GetSregs(#[source] kvm_ioctls::Error),
    #[error("Could not set the vCPU's special registers")]
    SetSregs(#[source] kvm_ioctls::Error),
    #[error("Could not set the vCPU's registers")]
    SetRegs(#[source] kvm_ioctls::Error),
    #[error("The host TSC is unstable (KVM_GET_TSC_KHZ failed)")]
    TscUnstable(#[source] kvm_ioctls::Error),
    #[error("Could not write the page tables")]
    Memory(#[from] crate::memory::MemoryError),
    #[error("Could not get KVM's preferred vCPU target")]
    PreferredTarget(#[source] kvm_ioctls::Error),
    #[error("Could not initialize the vCPU")]
    VcpuInit(#[source] kvm_ioctls::Error),
    #[error("Could not set register {0}")]
    SetOneReg(&'static str, #[source] kvm_ioctls::Error),
    #[error("Could not read register {0}")]
    GetOneReg(&'static str, #[source] kvm_ioctls::Error),
}

/// KVM_SET_GUEST_DEBUG's `control`: enabled, breakpoints as the arch's `breakpoint_flag`
/// says (debug registers or breakpoint instructions), and single-stepping if asked.
pub(crate) fn guest_debug_control(single_step: bool, breakpoint_flag: u32) -> u32 {
    let step = if single_step { kvm_bindings::KVM_GUESTDBG_SINGLESTEP } else { 0 };
    kvm_bindings::KVM_GUESTDBG_ENABLE | breakpoint_flag | step
}

/// An ioctl request number as Linux's generic `_IOC` builds it (x86_64 and AArch64 share the
/// encoding): `dir` 0 none, 1 write, 2 read; type `KVMIO` (0xAE).
pub const fn ioctl_nr(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | (0xAE << 8) | nr
}

#[cfg(test)]
mod tests {
    #[test]
    fn ioctl_numbers_match_the_kernel_headers() {
        assert_eq!(super::ioctl_nr(0, 0x80, 0), 0xAE80, "KVM_RUN");
        assert_eq!(super::ioctl_nr(2, 0x81, 144), 0x8090_AE81, "KVM_GET_REGS");
        assert_eq!(super::ioctl_nr(1, 0xab, 16), 0x4010_AEAB, "KVM_GET_ONE_REG");
    }
}
