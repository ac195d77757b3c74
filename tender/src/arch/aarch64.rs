//! AArch64: writes the ABI.md §4 page tables, initializes the vCPU through
//! KVM_ARM_VCPU_INIT and one-reg writes, decodes MMIO hypercalls. The values
//! themselves come from the `arch_aarch64` crate.

use super::Exit;
use crate::memory::GuestMemory;
use arch_aarch64::mmio::{self, Access};
use arch_aarch64::{onereg, paging, registers};
use kvm_bindings::kvm_vcpu_init;
use kvm_ioctls::{Cap, Kvm, VcpuExit, VcpuFd, VmFd};

/// What can go wrong preparing an AArch64 vCPU.
#[derive(Debug, thiserror::Error)]
pub enum ArchError {
    #[error("KVM lacks a required capability: {0}")]
    MissingCapability(&'static str),
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

/// ELF machine of images this host runs.
pub const ELF_MACHINE: u16 = 183; // EM_AARCH64
/// Name of the program counter in diagnostics.
pub const PC_NAME: &str = "pc";
/// The vCPU ioctls made while the guest runs: KVM_RUN, and KVM_GET_ONE_REG for the `pc` in
/// diagnostics (the seccomp filter allows exactly these).
pub const RUN_IOCTLS: [u64; 2] = [
    crate::arch::ioctl_nr(0, 0x80, 0),
    crate::arch::ioctl_nr(1, 0xab, std::mem::size_of::<kvm_bindings::kvm_one_reg>()),
];
/// The vCPU ioctls a core dump adds: none beyond KVM_GET_ONE_REG.
pub const CORE_IOCTLS: [u64; 0] = [];
/// The vCPU ioctls a gdb session adds: KVM_SET_GUEST_DEBUG, KVM_SET_ONE_REG.
pub const GDB_IOCTLS: [u64; 2] = [
    crate::arch::ioctl_nr(1, 0x9b, std::mem::size_of::<kvm_bindings::kvm_guest_debug>()),
    crate::arch::ioctl_nr(1, 0xac, std::mem::size_of::<kvm_bindings::kvm_one_reg>()),
];
/// GDB's name for this architecture's registers.
pub type GdbArch = gdbstub_arch::aarch64::AArch64;
/// The software breakpoint instruction: `brk #0`.
pub const SW_BREAKPOINT: &[u8] = &[0x00, 0x00, 0x20, 0xd4];
/// None: breakpoints are `brk` instructions written into the code (KVM traps them).
pub const HW_BREAKPOINTS: usize = 0;
/// The seccomp filter's architecture.
pub const SECCOMP_ARCH: seccompiler::TargetArch = seccompiler::TargetArch::aarch64;
/// What a KVM shutdown / system-event exit means for a guest here.
pub const SHUTDOWN_WHAT: &str = "system event (PSCI power-off or reset)";
/// Guest memory is registered all at once: a first touch of an unregistered page by an
/// instruction without a valid syndrome (LDP, STP, ...) could not be completed by tender.
pub const LAZY_MEMORY: bool = false;
/// The net ring's doorbell: MMIO 0x1_0000_0100 (ABI.md §7).
pub const NET_RING_DOORBELL: kvm_ioctls::IoEventAddress =
    kvm_ioctls::IoEventAddress::Mmio(abi::netring::KICK_MMIO);

/// Checks the KVM capabilities this architecture needs.
pub fn check_capabilities(kvm: &Kvm) -> Result<(), ArchError> {
    if !kvm.check_extension(Cap::OneReg) {
        return Err(ArchError::MissingCapability("KVM_CAP_ONE_REG"));
    }
    Ok(())
}

/// Writes the page tables into low guest memory.
pub fn setup_memory(mem: &mut GuestMemory) -> Result<(), ArchError> {
    let mut result = Ok(());
    let size = mem.size();
    paging::for_each_entry(size, |gpa, v| {
        if result.is_ok() {
            result = mem.write_u64(gpa, v);
        }
    });
    Ok(result?)
}

/// Initializes the vCPU as the host's preferred target, then sets the MMU
/// configuration and the entry registers.
pub fn setup_vcpu(_kvm: &Kvm, vm: &VmFd, vcpu: &VcpuFd, entry: u64, mem_size: u64) -> Result<(), ArchError> {
    let mut init = kvm_vcpu_init::default();
    vm.get_preferred_target(&mut init).map_err(ArchError::PreferredTarget)?;
    vcpu.vcpu_init(&init).map_err(ArchError::VcpuInit)?;
    for r in registers::boot_registers(entry, mem_size) {
        vcpu.set_one_reg(r.id, &r.value.to_le_bytes()).map_err(|e| ArchError::SetOneReg(r.name, e))?;
    }
    Ok(())
}

fn set_reg(vcpu: &VcpuFd, id: u64, v: u64) -> Result<(), kvm_ioctls::Error> {
    vcpu.set_one_reg(id, &v.to_le_bytes()).map(|_| ())
}

fn get_reg(vcpu: &VcpuFd, id: u64) -> Result<u64, kvm_ioctls::Error> {
    let mut b = [0u8; 8];
    vcpu.get_one_reg(id, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// This host's CNTFRQ_EL0, which is also what the guest reads: the register
/// is set once by firmware and not virtualized.
fn host_cntfrq() -> u64 {
    let v: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effect; Linux lets EL0 read it
    // (directly, or by emulating the trapped MRS).
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// `cpu_cycle_freq` for boot info: CNTFRQ_EL0 in Hz, never 0. Read through
/// KVM where the kernel exposes it through ONE_REG; Linux 6.1, for one, answers
/// ENOENT, and then the host's own CNTFRQ_EL0 is the value (the same register).
pub fn cpu_cycle_freq(vcpu: &VcpuFd) -> Result<u64, ArchError> {
    let (freq, err) = match get_reg(vcpu, onereg::CNTFRQ_EL0) {
        Ok(f) if f != 0 => return Ok(f),
        Ok(_) => (host_cntfrq(), kvm_ioctls::Error::new(libc::EINVAL)),
        Err(e) => (host_cntfrq(), e),
    };
    if freq == 0 {
        return Err(ArchError::GetOneReg("CNTFRQ_EL0", err));
    }
    Ok(freq)
}

/// Decodes one exit; hypercalls are 4-byte writes to `0x1_0000_0000 + 8·nr`.
pub fn decode_exit(exit: VcpuExit<'_>) -> Exit {
    let mmio = |gpa, write, data: &[u8]| match mmio::classify(gpa, write, data) {
        Access::Hypercall { nr, arg } => Exit::Hypercall { nr, arg: u64::from(arg) },
        Access::Doorbell => Exit::Doorbell,
        Access::Memory => Exit::Mmio { gpa, write, len: data.len() },
        Access::Invalid(bad) => Exit::BadAccess(bad.to_string()),
    };
    match exit {
        VcpuExit::MmioWrite(gpa, data) => mmio(gpa, true, data),
        VcpuExit::MmioRead(gpa, data) => mmio(gpa, false, data),
        // PSCI SYSTEM_OFF/RESET and the like: the guest stopped without HALT.
        VcpuExit::SystemEvent(..) => Exit::Shutdown,
        other => super::decode_common(other),
    }
}

/// Always `None`: KVM answers a guest's HVC/SMC itself (SMCCC "not supported"), so no fault
/// ever stops on one.
pub fn hypervisor_call_at(_mem: &GuestMemory, _pc: u64) -> Option<&'static str> {
    None
}

/// The vCPU's registers as the host's `elf_gregset_t` (`user_pt_regs`: x0..x30, sp, pc,
/// pstate), from guest-rt's trap frame at `cookie` when there is one (elr @16, spsr @32,
/// sp @40, x0..x30 @48).
pub fn core_registers(vcpu: &VcpuFd, mem: &GuestMemory, cookie: u64) -> Vec<u64> {
    let reg = |id| get_reg(vcpu, id).unwrap_or(0);
    let pstate = reg(onereg::PSTATE);
    // PSTATE.SPSel: the EL1 stack pointer is in use, else SP_EL0.
    let sp = if pstate & 1 != 0 { reg(onereg::SP_EL1) } else { reg(onereg::SP_EL0) };
    let mut g: Vec<u64> = (0..31).map(|n| reg(onereg::x(n))).collect();
    g.extend([sp, reg(onereg::PC), pstate]);
    if cookie != 0 {
        let word = |i: u64| {
            mem.slice(cookie + 8 * i, 8).ok().map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
        };
        for n in 0..31 {
            if let Some(v) = word(6 + n) {
                g[n as usize] = v;
            }
        }
        for (slot, i) in [(31, 5), (32, 2), (33, 4)] {
            if let Some(v) = word(i) {
                g[slot] = v;
            }
        }
    }
    g
}

/// The stack pointer in use: SP_EL1 when PSTATE.SPSel is set, else SP_EL0.
fn sp_id(pstate: u64) -> u64 {
    if pstate & 1 != 0 {
        onereg::SP_EL1
    } else {
        onereg::SP_EL0
    }
}

/// The registers as GDB shows them.
pub fn gdb_registers(
    vcpu: &VcpuFd,
) -> Result<gdbstub_arch::aarch64::reg::AArch64CoreRegs, kvm_ioctls::Error> {
    let pstate = get_reg(vcpu, onereg::PSTATE)?;
    let mut k = [0u64; 34];
    for (n, slot) in k.iter_mut().take(31).enumerate() {
        *slot = get_reg(vcpu, onereg::x(n as u64))?;
    }
    k[31] = get_reg(vcpu, sp_id(pstate))?;
    k[32] = get_reg(vcpu, onereg::PC)?;
    k[33] = pstate;
    Ok(crate::gdb::regs::arm_to_gdb(&k))
}

/// Writes the registers GDB changed (x0..x30, sp, pc, pstate).
pub fn gdb_set_registers(
    vcpu: &VcpuFd,
    g: &gdbstub_arch::aarch64::reg::AArch64CoreRegs,
) -> Result<(), kvm_ioctls::Error> {
    let k = crate::gdb::regs::arm_from_gdb(g);
    for (n, &value) in k.iter().take(31).enumerate() {
        set_reg(vcpu, onereg::x(n as u64), value)?;
    }
    set_reg(vcpu, sp_id(k[33]), k[31])?;
    set_reg(vcpu, onereg::PC, k[32])?;
    set_reg(vcpu, onereg::PSTATE, k[33])
}

/// Turns KVM's guest debugging on (software breakpoints trap to tender; `single_step` stops
/// after each instruction). `_breakpoints` is empty: they are in the code.
pub fn set_guest_debug(
    vcpu: &VcpuFd,
    single_step: bool,
    _breakpoints: &[u64],
) -> Result<(), kvm_ioctls::Error> {
    let control = super::guest_debug_control(single_step, kvm_bindings::KVM_GUESTDBG_USE_SW_BP);
    vcpu.set_guest_debug(&kvm_bindings::kvm_guest_debug { control, ..Default::default() })
}

/// The guest's program counter, for diagnostics.
pub fn instruction_pointer(vcpu: &VcpuFd) -> Option<u64> {
    get_reg(vcpu, onereg::PC).ok()
}
