//! The vCPU loop: enter the guest, decode each exit, serve hypercalls, and turn
//! every other exit into a one-line diagnostic.

use crate::arch::{self, Exit};
use crate::devices::Devices;
use crate::hypercall::{self, HypercallError, Next};
use crate::memory::GuestMemory;
use crate::signal;
use crate::vm::{Vm, VmError};
use kvm_ioctls::VcpuFd;

/// Why the guest stopped without a HALT hypercall.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("Exiting on signal {0}")]
    Signal(i32),
    #[error("Guest error at {at}")]
    Hypercall {
        at: GuestPc,
        #[source]
        source: HypercallError,
    },
    #[error("{msg} (guest {at})")]
    BadAccess { msg: String, at: GuestPc },
    #[error("Guest memory protection fault: {access} at {gpa:#x} (read-only guest memory), {at}")]
    ProtectionFault { access: &'static str, gpa: u64, at: GuestPc },
    #[error(
        "Guest executed {insn}, a call to another hypervisor (hvt hypercalls are port I/O or MMIO), {at}"
    )]
    HypervisorCall { insn: &'static str, at: GuestPc },
    #[error("Guest memory protection fault: KVM could not access guest memory (EFAULT), {at}")]
    HostFault { at: GuestPc },
    #[error("Guest accessed unbacked address {gpa:#x} ({access} of {len} bytes), {at}")]
    Unbacked { access: &'static str, gpa: u64, len: usize, at: GuestPc },
    #[error("Guest {what} (KVM shutdown exit), {at}")]
    Shutdown { what: &'static str, at: GuestPc },
    #[error("Guest halted the CPU (HLT) without the HALT hypercall, {at}")]
    Halted { at: GuestPc },
    #[error("KVM could not enter the guest (hardware entry failure reason {reason:#x})")]
    FailEntry { reason: u64 },
    #[error("KVM internal error, suberror {suberror} ({what}), {at}")]
    InternalError { suberror: u32, what: &'static str, at: GuestPc },
    #[error("Guest error: {0}")]
    NetRing(String),
    #[error("Guest wrote to the net ring's doorbell, but no net ring was offered, {at}")]
    NoNetRing { at: GuestPc },
    #[error("KVM_RUN failed")]
    Run(#[source] kvm_ioctls::Error),
    #[error("Could not register guest memory the guest touched with KVM")]
    LazyMemory(#[source] VmError),
    #[error("Unexpected vCPU exit: {0}")]
    Unexpected(String),
}

/// The guest's program counter, named as on its architecture (`rip=`, `pc=`).
#[derive(Debug, Clone, Copy)]
pub struct GuestPc(u64);

impl std::fmt::Display for GuestPc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={:#x}", arch::PC_NAME, self.0)
    }
}

fn pc(vcpu: &VcpuFd) -> GuestPc {
    GuestPc(arch::instruction_pointer(vcpu).unwrap_or(0))
}

fn access(write: bool) -> &'static str {
    if write {
        "write"
    } else {
        "read"
    }
}

/// A fault on a VMCALL-like instruction: KVM rewriting it for the host's CPU vendor touched
/// the read-only code page. Reported as what the guest did.
fn hypervisor_call(mem: &GuestMemory, vcpu: &VcpuFd) -> Option<RunError> {
    let at = pc(vcpu);
    arch::hypervisor_call_at(mem, at.0).map(|insn| RunError::HypervisorCall { insn, at })
}

/// How the guest ended: its HALT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Halted {
    pub status: i32,
    /// 0, or the GPA of its crash-state area (checked inside guest memory).
    pub cookie: u64,
}

/// Why [`run_until_stop`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The guest's HALT.
    Halted(Halted),
    /// A debug exit (breakpoint or single step): only with guest debugging enabled.
    Debug,
}

/// Runs the guest until it halts.
pub fn run(vm: &Vm, vcpu: &mut VcpuFd, mem: &mut GuestMemory, devices: &Devices) -> Result<Halted, RunError> {
    match run_until_stop(vm, vcpu, mem, devices)? {
        Stop::Halted(h) => Ok(h),
        Stop::Debug => Err(RunError::Unexpected("debug exit without a debugger".into())),
    }
}

/// Runs the guest until it halts or, under a debugger, stops; serves its hypercalls meanwhile.
pub fn run_until_stop(
    vm: &Vm,
    vcpu: &mut VcpuFd,
    mem: &mut GuestMemory,
    devices: &Devices,
) -> Result<Stop, RunError> {
    signal::with_vcpu_armed(vcpu, |vcpu| run_loop(vm, vcpu, mem, devices))
}

fn run_loop(vm: &Vm, vcpu: &mut VcpuFd, mem: &mut GuestMemory, devices: &Devices) -> Result<Stop, RunError> {
    loop {
        if let Some(sig) = signal::pending() {
            return Err(RunError::Signal(sig));
        }
        if let Some(fault) = devices.net_ring().and_then(|r| r.fault()) {
            return Err(RunError::NetRing(fault.into()));
        }
        let exit = match vcpu.run() {
            Ok(exit) => arch::decode_exit(exit),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Exit::Interrupted,
            Err(e) if e.errno() == libc::EFAULT => {
                // Standard KVM reports a guest write to a page the host mapped
                // read-only this way (kvm-pvm uses an MMIO exit instead).
                return Err(hypervisor_call(mem, vcpu).unwrap_or(RunError::HostFault { at: pc(vcpu) }));
            }
            Err(e) => return Err(RunError::Run(e)),
        };
        match exit {
            Exit::Hypercall { nr, arg } => match hypercall::handle(mem, devices, nr, arg) {
                Ok(Next::Resume) => {}
                Ok(Next::Exit { status, cookie }) => return Ok(Stop::Halted(Halted { status, cookie })),
                Err(source) => return Err(RunError::Hypercall { at: pc(vcpu), source }),
            },
            Exit::Interrupted => {}
            Exit::Doorbell => match devices.net_ring() {
                Some(ring) => ring.ring_doorbell(),
                None => return Err(RunError::NoNetRing { at: pc(vcpu) }),
            },
            Exit::Debug => return Ok(Stop::Debug),
            Exit::BadAccess(msg) => return Err(RunError::BadAccess { msg, at: pc(vcpu) }),
            Exit::MemoryFault { gpa, .. } if gpa < mem.size() => {
                let fault = RunError::ProtectionFault { access: "access", gpa, at: pc(vcpu) };
                return Err(hypervisor_call(mem, vcpu).unwrap_or(fault));
            }
            Exit::MemoryFault { gpa, len } => {
                return Err(RunError::Unbacked { access: "access", gpa, len, at: pc(vcpu) })
            }
            Exit::Mmio { gpa, write, .. } if gpa < mem.size() => {
                // An access to memory registered lazily (see `vm`): its first touch, or a later
                // piece of an access KVM split. Register it if need be and do the access.
                if vm.touch_lazy(gpa).map_err(RunError::LazyMemory)? {
                    complete_from_memory(vcpu, mem, gpa, write).map_err(|()| RunError::ProtectionFault {
                        access: access(write),
                        gpa,
                        at: pc(vcpu),
                    })?;
                    continue;
                }
                let fault = RunError::ProtectionFault { access: access(write), gpa, at: pc(vcpu) };
                return Err(hypervisor_call(mem, vcpu).unwrap_or(fault));
            }
            Exit::Mmio { gpa, write, len } => {
                return Err(RunError::Unbacked { access: access(write), gpa, len, at: pc(vcpu) })
            }
            Exit::Halted => return Err(RunError::Halted { at: pc(vcpu) }),
            Exit::Shutdown => return Err(RunError::Shutdown { what: arch::SHUTDOWN_WHAT, at: pc(vcpu) }),
            Exit::FailEntry { reason } => return Err(RunError::FailEntry { reason }),
            Exit::InternalError { .. } => {
                let suberror = internal_suberror(vcpu);
                // An instruction KVM's emulator cannot do (1), or an exception it could not
                // push (3), touching memory not registered yet: register all of it, and the
                // instruction runs again natively (the exception is delivered again).
                if matches!(suberror, 1 | 3) && vm.register_all_lazy().map_err(RunError::LazyMemory)? {
                    continue;
                }
                let what = match suberror {
                    1 => "instruction emulation failed",
                    2 => "simultaneous exception",
                    3 => "delivery event failed",
                    _ => "unknown",
                };
                return Err(RunError::InternalError { suberror, what, at: pc(vcpu) });
            }
            Exit::Unexpected(what) => return Err(RunError::Unexpected(what)),
        }
    }
}

/// Completes the last MMIO exit from guest memory at `gpa`: a read gets its bytes, a write
/// stores them (never into read-only memory: `Err`).
fn complete_from_memory(vcpu: &mut VcpuFd, mem: &mut GuestMemory, gpa: u64, write: bool) -> Result<(), ()> {
    let run = vcpu.get_kvm_run();
    // SAFETY: KVM set exit_reason to KVM_EXIT_MMIO, which selects the `mmio` member of the
    // exit union; it is plain integers and bytes, and KVM reads `data` back on the next entry.
    let mmio = unsafe { &mut run.__bindgen_anon_1.mmio };
    let len = (mmio.len as usize).min(mmio.data.len());
    if write {
        mem.write(gpa, &mmio.data[..len]).map_err(|_| ())
    } else {
        mmio.data[..len].copy_from_slice(mem.slice(gpa, len as u64).map_err(|_| ())?);
        Ok(())
    }
}

/// The `internal.suberror` of the last KVM_EXIT_INTERNAL_ERROR.
fn internal_suberror(vcpu: &mut VcpuFd) -> u32 {
    let run = vcpu.get_kvm_run();
    // SAFETY: KVM set exit_reason to KVM_EXIT_INTERNAL_ERROR, which selects the
    // `internal` member of the exit union; it is plain integers.
    unsafe { run.__bindgen_anon_1.internal.suberror }
}
