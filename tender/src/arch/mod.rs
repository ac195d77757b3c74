//! The one place that knows which architecture the tender runs on: generic code
//! calls these functions and never uses `cfg(target_arch)` itself.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "aarch64")]
use self::aarch64 as imp;
#[cfg(target_arch = "x86_64")]
use self::x86_64 as imp;

use crate::memory::GuestMemory;
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};

// The facade: everything generic code takes from an architecture, listed once. Each port
// provides exactly these items with exactly these types; the `const _` lines make the
// compiler check that on each target (clippy checks both, see xtask/src/test.rs).
pub use imp::{
    check_capabilities, core_registers, cpu_cycle_freq, decode_exit, gdb_registers, gdb_set_registers,
    hypervisor_call_at, instruction_pointer, set_guest_debug, setup_memory, setup_vcpu, ArchError, GdbArch,
    CORE_IOCTLS, ELF_MACHINE, GDB_IOCTLS, HW_BREAKPOINTS, LAZY_MEMORY, NET_RING_DOORBELL, PC_NAME,
    RUN_IOCTLS, SECCOMP_ARCH, SHUTDOWN_WHAT, SW_BREAKPOINT,
};
type GdbRegisters = <GdbArch as gdbstub::arch::Arch>::Registers;
const _: bool = LAZY_MEMORY;
const _: fn(&Kvm) -> Result<(), ArchError> = check_capabilities;
const _: fn(&mut GuestMemory) -> Result<(), ArchError> = setup_memory;
const _: fn(&Kvm, &VmFd, &VcpuFd, u64, u64) -> Result<(), ArchError> = setup_vcpu;
const _: fn(&VcpuFd) -> Result<u64, ArchError> = cpu_cycle_freq;
const _: for<'a> fn(VcpuExit<'a>) -> Exit = decode_exit;
const _: fn(&VcpuFd) -> Option<u64> = instruction_pointer;
const _: fn(&GuestMemory, u64) -> Option<&'static str> = hypervisor_call_at;
const _: fn(&VcpuFd, &GuestMemory, u64) -> Vec<u64> = core_registers;
const _: fn(&VcpuFd, bool, &[u64]) -> Result<(), kvm_ioctls::Error> = set_guest_debug;
const _: fn(&VcpuFd) -> Result<GdbRegisters, kvm_ioctls::Error> = gdb_registers;
const _: fn(&VcpuFd, &GdbRegisters) -> Result<(), kvm_ioctls::Error> = gdb_set_registers;
const _: (u16, &str, &str, usize, &[u8]) =
    (ELF_MACHINE, PC_NAME, SHUTDOWN_WHAT, HW_BREAKPOINTS, SW_BREAKPOINT);
const _: &kvm_ioctls::IoEventAddress = &NET_RING_DOORBELL;
const _: (&[u64], &[u64], &[u64], seccompiler::TargetArch) =
    (&RUN_IOCTLS, &CORE_IOCTLS, &GDB_IOCTLS, SECCOMP_ARCH);

/// The exits every architecture decodes alike (its own are port I/O, MMIO and the like).
fn decode_common(exit: VcpuExit<'_>) -> Exit {
    match exit {
        VcpuExit::Hlt => Exit::Halted,
        VcpuExit::Shutdown => Exit::Shutdown,
        VcpuExit::FailEntry(reason, _) => Exit::FailEntry { reason },
        VcpuExit::Intr => Exit::Interrupted,
        VcpuExit::Debug(_) => Exit::Debug,
        // The suberror lives in kvm_run; the vCPU loop reads it.
        VcpuExit::InternalError => Exit::InternalError { suberror: 0 },
        // KVM could not access the host mapping behind a guest address (e.g. the
        // read-only host pages of the image) and says where, not whether it was a write.
        VcpuExit::MemoryFault { gpa, size, .. } => Exit::MemoryFault { gpa, len: size as usize },
        other => Exit::Unexpected(format!("{other:?}")),
    }
}

/// A vCPU exit, decoded into what generic code needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// A well-formed hypercall: number and guest address of its argument struct.
    Hypercall { nr: u32, arg: u64 },
    /// A write to the net ring's doorbell (ABI.md §7) that KVM did not handle in the kernel.
    Doorbell,
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

/// KVM_SET_GUEST_DEBUG's `control`: enabled, breakpoints as the arch's `breakpoint_flag`
/// says (debug registers or breakpoint instructions), and single-stepping if asked.
pub(crate) fn guest_debug_control(single_step: bool, breakpoint_flag: u32) -> u32 {
    let step = if single_step { kvm_bindings::KVM_GUESTDBG_SINGLESTEP } else { 0 };
    kvm_bindings::KVM_GUESTDBG_ENABLE | breakpoint_flag | step
}

/// Turns guest debugging off entirely (a detached debugger leaves the guest's own
/// breakpoints and debug registers to the guest again).
pub fn clear_guest_debug(vcpu: &VcpuFd) -> Result<(), kvm_ioctls::Error> {
    vcpu.set_guest_debug(&kvm_bindings::kvm_guest_debug::default())
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
        assert_eq!(super::ioctl_nr(1, 0x46, 32), 0x4020_AE46, "KVM_SET_USER_MEMORY_REGION");
    }
}
