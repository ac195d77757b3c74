//! x86_64: writes the ABI.md §3 page tables and GDT, sets up the vCPU, decodes
//! port-I/O hypercalls. The values themselves come from the `arch_x86_64` crate.

use super::Exit;
use crate::memory::GuestMemory;
use abi::hypercall::{MAX, PIO_BASE};
use abi::netring::KICK_PORT;
use arch_x86_64::{cpuid, gdt, paging, registers};
use kvm_bindings::{kvm_regs, kvm_segment, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Cap, Kvm, VcpuExit, VcpuFd, VmFd};

/// What can go wrong preparing an x86_64 vCPU.
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
}

/// ELF machine of images this host runs.
pub const ELF_MACHINE: u16 = 62; // EM_X86_64
/// Name of the program counter in diagnostics.
pub const PC_NAME: &str = "rip";
/// The vCPU ioctls made while the guest runs: KVM_RUN, and KVM_GET_REGS for the `rip` in
/// diagnostics (the seccomp filter allows exactly these).
pub const RUN_IOCTLS: [u64; 2] = [
    crate::arch::ioctl_nr(0, 0x80, 0),
    crate::arch::ioctl_nr(2, 0x81, std::mem::size_of::<kvm_bindings::kvm_regs>()),
];
/// The vCPU ioctls a core dump adds: KVM_GET_SREGS (segments, fs/gs bases).
pub const CORE_IOCTLS: [u64; 1] =
    [crate::arch::ioctl_nr(2, 0x83, std::mem::size_of::<kvm_bindings::kvm_sregs>())];
/// The vCPU ioctls a gdb session adds: KVM_SET_GUEST_DEBUG, KVM_SET_REGS, KVM_GET_SREGS.
pub const GDB_IOCTLS: [u64; 3] = [
    crate::arch::ioctl_nr(1, 0x9b, std::mem::size_of::<kvm_bindings::kvm_guest_debug>()),
    crate::arch::ioctl_nr(1, 0x82, std::mem::size_of::<kvm_bindings::kvm_regs>()),
    crate::arch::ioctl_nr(2, 0x83, std::mem::size_of::<kvm_bindings::kvm_sregs>()),
];
/// GDB's name for this architecture's registers.
pub type GdbArch = gdbstub_arch::x86::X86_64_SSE;
/// The software breakpoint instruction: `int3` (unused here: see [`HW_BREAKPOINTS`]).
pub const SW_BREAKPOINT: &[u8] = &[0xcc];
/// Breakpoints are the debug registers DR0-DR3: KVM's software-breakpoint interception does
/// not reach guest user mode on every host (kvm-pvm delivers the `int3` to the guest), the
/// debug registers do, and they leave the guest's code untouched.
pub const HW_BREAKPOINTS: usize = 4;
/// The seccomp filter's architecture.
pub const SECCOMP_ARCH: seccompiler::TargetArch = seccompiler::TargetArch::x86_64;
/// What a KVM shutdown / system-event exit means for a guest here.
pub const SHUTDOWN_WHAT: &str = "triple fault";
/// Large guest memory may be registered with KVM as the guest touches it (`vm`): a first
/// touch is an MMIO exit tender completes from memory, which works for any instruction KVM's
/// emulator decodes; one it cannot makes tender register everything and retry.
pub const LAZY_MEMORY: bool = true;
/// The net ring's doorbell: port 0x600 (ABI.md §7).
pub const NET_RING_DOORBELL: kvm_ioctls::IoEventAddress = kvm_ioctls::IoEventAddress::Pio(KICK_PORT as u64);

/// Checks the KVM capabilities this architecture needs.
pub fn check_capabilities(kvm: &Kvm) -> Result<(), ArchError> {
    if !kvm.check_extension(Cap::GetTscKhz) {
        return Err(ArchError::MissingCapability("KVM_CAP_GET_TSC_KHZ"));
    }
    Ok(())
}

/// Writes the page tables and GDT into low guest memory.
pub fn setup_memory(mem: &mut GuestMemory) -> Result<(), ArchError> {
    let mut result = Ok(());
    let size = mem.size();
    let mut write = |gpa, v| {
        if result.is_ok() {
            result = mem.write_u64(gpa, v);
        }
    };
    paging::for_each_entry(size, &mut write);
    gdt::for_each_entry(&mut write);
    Ok(result?)
}

fn segment(s: &gdt::Segment) -> kvm_segment {
    kvm_segment {
        base: s.base,
        limit: s.limit,
        selector: s.selector,
        type_: s.type_,
        present: s.present,
        dpl: s.dpl,
        db: s.db,
        s: s.s,
        l: s.l,
        g: s.g,
        avl: 0,
        unusable: s.unusable,
        padding: 0,
    }
}

/// Sets CPUID, segment and control registers and the entry registers.
pub fn setup_vcpu(kvm: &Kvm, _vm: &VmFd, vcpu: &VcpuFd, entry: u64, mem_size: u64) -> Result<(), ArchError> {
    let mut ids = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).map_err(ArchError::GetCpuid)?;
    for e in ids.as_mut_slice() {
        e.ecx = cpuid::mask_ecx(e.function, e.ecx);
    }
    vcpu.set_cpuid2(&ids).map_err(ArchError::SetCpuid)?;

    let mut sregs = vcpu.get_sregs().map_err(ArchError::GetSregs)?;
    sregs.cs = segment(&gdt::CODE);
    let data = segment(&gdt::DATA);
    (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
    sregs.tr = segment(&gdt::TSS);
    sregs.ldt = segment(&gdt::LDT);
    (sregs.gdt.base, sregs.gdt.limit) = gdt::GDTR;
    (sregs.idt.base, sregs.idt.limit) = gdt::IDTR;
    sregs.cr0 = registers::CR0;
    sregs.cr3 = registers::CR3;
    sregs.cr4 = registers::CR4;
    sregs.efer = registers::EFER;
    vcpu.set_sregs(&sregs).map_err(ArchError::SetSregs)?;

    let r = registers::entry_regs(entry, mem_size);
    let regs = kvm_regs { rip: r.rip, rsp: r.rsp, rdi: r.rdi, rflags: r.rflags, ..Default::default() };
    vcpu.set_regs(&regs).map_err(ArchError::SetRegs)
}

/// `cpu_cycle_freq` for boot info: the TSC frequency in Hz.
pub fn cpu_cycle_freq(vcpu: &VcpuFd) -> Result<u64, ArchError> {
    let khz = vcpu.get_tsc_khz().map_err(ArchError::TscUnstable)?;
    Ok(u64::from(khz) * 1000)
}

/// Decodes one exit; hypercalls are `out dx, eax` to `0x500 + nr`.
pub fn decode_exit(exit: VcpuExit<'_>) -> Exit {
    match exit {
        VcpuExit::IoOut(KICK_PORT, _) => Exit::Doorbell,
        VcpuExit::IoOut(port, data) => {
            let nr = u32::from(port.wrapping_sub(PIO_BASE));
            if port < PIO_BASE || nr >= MAX {
                return Exit::BadAccess(format!("Invalid guest port access: OUT to port {port:#x}"));
            }
            match <[u8; 4]>::try_from(data) {
                Ok(b) => Exit::Hypercall { nr, arg: u64::from(u32::from_le_bytes(b)) },
                Err(_) => Exit::BadAccess(format!(
                    "Invalid guest port access: {}-byte OUT to port {port:#x} (hypercalls are 4 bytes)",
                    data.len()
                )),
            }
        }
        VcpuExit::IoIn(port, data) => {
            Exit::BadAccess(format!("Invalid guest port access: {}-byte IN from port {port:#x}", data.len()))
        }
        VcpuExit::MmioRead(gpa, data) => Exit::Mmio { gpa, write: false, len: data.len() },
        VcpuExit::MmioWrite(gpa, data) => Exit::Mmio { gpa, write: true, len: data.len() },
        other => super::decode_common(other),
    }
}

/// The hypervisor-call instruction (VMCALL/VMMCALL) at guest address `pc`, if there is one:
/// a fault there is the guest calling another hypervisor, not writing its code.
pub fn hypervisor_call_at(mem: &GuestMemory, pc: u64) -> Option<&'static str> {
    arch_x86_64::decode::hypervisor_call(mem.slice(pc, 3).ok()?)
}

/// The vCPU's registers as the host's `elf_gregset_t` (`user_regs_struct`: r15 r14 r13 r12
/// rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base ds
/// es fs gs), with rip, cs, rflags, rsp and ss from the trap frame at `cookie` (its words
/// 2 to 6, in Solo5's and guest-rt's frames alike) when there is one.
pub fn core_registers(vcpu: &VcpuFd, mem: &GuestMemory, cookie: u64) -> Vec<u64> {
    let r = vcpu.get_regs().unwrap_or_default();
    let s = vcpu.get_sregs().unwrap_or_default();
    let sel = |seg: &kvm_segment| u64::from(seg.selector);
    let mut g = vec![
        r.r15,
        r.r14,
        r.r13,
        r.r12,
        r.rbp,
        r.rbx,
        r.r11,
        r.r10,
        r.r9,
        r.r8,
        r.rax,
        r.rcx,
        r.rdx,
        r.rsi,
        r.rdi,
        u64::MAX,
        r.rip,
        sel(&s.cs),
        r.rflags,
        r.rsp,
        sel(&s.ss),
        s.fs.base,
        s.gs.base,
        sel(&s.ds),
        sel(&s.es),
        sel(&s.fs),
        sel(&s.gs),
    ];
    if cookie != 0 {
        let word = |i: u64| {
            mem.slice(cookie + 8 * i, 8).ok().map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
        };
        for (slot, i) in [(16, 2), (17, 3), (18, 4), (19, 5), (20, 6)] {
            if let Some(v) = word(i) {
                g[slot] = v;
            }
        }
    }
    g
}

/// The registers as GDB shows them.
pub fn gdb_registers(vcpu: &VcpuFd) -> Result<gdbstub_arch::x86::reg::X86_64CoreRegs, kvm_ioctls::Error> {
    let r = vcpu.get_regs()?;
    let s = vcpu.get_sregs()?;
    let kvm = [
        r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13,
        r.r14, r.r15, r.rip, r.rflags,
    ];
    let sel = [s.cs.selector, s.ss.selector, s.ds.selector, s.es.selector, s.fs.selector, s.gs.selector];
    Ok(crate::gdb::regs::x86_to_gdb(&kvm, sel.map(u32::from)))
}

/// Writes the registers GDB changed (general registers, rip, rflags).
pub fn gdb_set_registers(
    vcpu: &VcpuFd,
    g: &gdbstub_arch::x86::reg::X86_64CoreRegs,
) -> Result<(), kvm_ioctls::Error> {
    let mut r = vcpu.get_regs()?;
    let mut k = [
        r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13,
        r.r14, r.r15, r.rip, r.rflags,
    ];
    crate::gdb::regs::x86_from_gdb(g, &mut k);
    [
        r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13,
        r.r14, r.r15, r.rip, r.rflags,
    ] = k;
    vcpu.set_regs(&r)
}

/// Turns KVM's guest debugging on: execution breakpoints at `breakpoints` (at most
/// [`HW_BREAKPOINTS`], in DR0-DR3), and with `single_step` a stop after each instruction.
pub fn set_guest_debug(
    vcpu: &VcpuFd,
    single_step: bool,
    breakpoints: &[u64],
) -> Result<(), kvm_ioctls::Error> {
    let control = super::guest_debug_control(single_step, kvm_bindings::KVM_GUESTDBG_USE_HW_BP);
    let mut arch = kvm_bindings::kvm_guest_debug_arch::default();
    // Bit 10 of DR7 is reserved and reads as 1.
    let mut dr7 = 1u64 << 10;
    for (i, &addr) in breakpoints.iter().take(HW_BREAKPOINTS).enumerate() {
        arch.debugreg[i] = addr;
        // Local enable; condition 00 (execution) and length 00 are the zero bits.
        dr7 |= 1 << (2 * i);
    }
    arch.debugreg[7] = dr7;
    vcpu.set_guest_debug(&kvm_bindings::kvm_guest_debug { control, pad: 0, arch })
}

/// The guest's instruction pointer, for diagnostics.
pub fn instruction_pointer(vcpu: &VcpuFd) -> Option<u64> {
    vcpu.get_regs().ok().map(|r| r.rip)
}
