//! KVM objects: the system fd, the VM with its guest memory, the one vCPU.
//!
//! Guest memory is one slot, except for large guests on x86_64: KVM's bookkeeping of a slot
//! costs time in proportion to its size when it is registered and again when the VM goes
//! (on kvm-pvm ~2.3 ms and ~0.6 ms more for 4 GiB), however little of it the guest touches.
//! So memory above [`LAZY_ABOVE`] is registered in [`GRANULE`]-sized slots: at once where the
//! image, boot data, stack and net ring are, the rest when the guest first touches it (an
//! MMIO exit tender completes from the memory itself, see `run`).

use crate::arch::{self, ArchError};
use crate::memory::{GuestMemory, SharedMemory};
use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{Cap, Kvm, VcpuFd, VmFd};
use std::cell::Cell;
use std::ops::Range;

/// Size of the slots of a lazily registered guest memory.
pub const GRANULE: u64 = 64 << 20;
/// Guest memory larger than this is registered lazily (where the architecture allows).
pub const LAZY_ABOVE: u64 = 2 * GRANULE;

/// The KVM API version tender speaks.
const KVM_API_VERSION: i32 = 12;

/// Errors while creating the virtual machine.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("Could not open /dev/kvm")]
    OpenKvm(#[source] kvm_ioctls::Error),
    #[error("Unsupported KVM API version {0} (need {KVM_API_VERSION})")]
    ApiVersion(i32),
    #[error("KVM lacks a required capability: {0}")]
    MissingCapability(&'static str),
    #[error("Could not create the VM")]
    CreateVm(#[source] kvm_ioctls::Error),
    #[error("Could not register guest memory with KVM")]
    SetMemory(#[source] kvm_ioctls::Error),
    #[error("Could not create the vCPU")]
    CreateVcpu(#[source] kvm_ioctls::Error),
    #[error(transparent)]
    Arch(#[from] ArchError),
}

/// A VM with its memory registered, ready for a vCPU.
#[derive(Debug)]
pub struct Vm {
    pub kvm: Kvm,
    pub fd: VmFd,
    /// The mapping behind the memory slots: held by the VM, so it cannot be unmapped while
    /// KVM may still use it (fields drop in order: the VM's fd first).
    slot: Option<SharedMemory>,
    /// The slots registered only when the guest first touches them (lazy memory only).
    lazy: Vec<LazySlot>,
}

/// A slot of lazily registered memory, and whether KVM has it yet. It stays listed once
/// registered: KVM may report the later pieces of an access it split (page-crossing, wider
/// than 8 bytes) as MMIO after the first piece's exit registered the slot, so an MMIO exit in
/// its range is always a memory access.
#[derive(Debug)]
struct LazySlot {
    region: kvm_userspace_memory_region,
    registered: Cell<bool>,
}

impl LazySlot {
    fn holds(&self, gpa: u64) -> bool {
        (self.region.guest_phys_addr..self.region.guest_phys_addr + self.region.memory_size).contains(&gpa)
    }
}

impl Vm {
    /// Opens KVM, checks what tender needs, creates the VM.
    pub fn new() -> Result<Vm, VmError> {
        let kvm = Kvm::new().map_err(VmError::OpenKvm)?;
        let version = kvm.get_api_version();
        if version != KVM_API_VERSION {
            return Err(VmError::ApiVersion(version));
        }
        if !kvm.check_extension(Cap::UserMemory) {
            return Err(VmError::MissingCapability("KVM_CAP_USER_MEMORY"));
        }
        arch::check_capabilities(&kvm)?;
        let fd = kvm.create_vm().map_err(VmError::CreateVm)?;
        Ok(Vm { kvm, fd, slot: None, lazy: Vec::new() })
    }

    /// Registers `mem` at guest-physical 0, as one slot or, when large and the architecture
    /// allows, in granules of which only those meeting an `eager` range are registered now;
    /// the VM keeps the mapping alive.
    pub fn add_memory(&mut self, mem: &GuestMemory, eager: &[Range<u64>]) -> Result<(), VmError> {
        self.slot = Some(mem.shared());
        let lazy = arch::LAZY_MEMORY && mem.size() > LAZY_ABOVE && self.exit_on_emulation_failure();
        for (region, now) in plan_slots(mem.size(), mem.host_base(), if lazy { Some(eager) } else { None }) {
            if now {
                self.register(region)?;
            } else {
                self.lazy.push(LazySlot { region, registered: Cell::new(false) });
            }
        }
        Ok(())
    }

    /// Asks KVM to exit, not to inject #UD, when its emulator fails on an instruction
    /// (KVM_CAP_EXIT_ON_EMULATION_FAILURE): tender can then register the memory the
    /// instruction touched and let it run again. Without it, memory is registered at once.
    fn exit_on_emulation_failure(&self) -> bool {
        const CAP: u32 = 204;
        let cap = kvm_bindings::kvm_enable_cap { cap: CAP, args: [1, 0, 0, 0], ..Default::default() };
        self.fd.check_extension_raw(CAP.into()) > 0 && self.fd.enable_cap(&cap).is_ok()
    }

    fn register(&self, region: kvm_userspace_memory_region) -> Result<(), VmError> {
        // SAFETY: the region is part of our live anonymous mapping (`plan_slots` cuts it from
        // the mapping's base and size), which the VM holds (`slot`) until after its own fd is
        // closed; slots never overlap.
        unsafe { self.fd.set_user_memory_region(region) }.map_err(VmError::SetMemory)
    }

    /// Whether some guest memory is not registered with KVM yet.
    pub fn has_lazy_memory(&self) -> bool {
        self.lazy.iter().any(|s| !s.registered.get())
    }

    /// For an MMIO exit at `gpa`: true if `gpa` is in lazily registered memory (registering
    /// its slot if it is not yet), so the exit is an ordinary memory access to complete.
    pub fn touch_lazy(&self, gpa: u64) -> Result<bool, VmError> {
        let Some(slot) = self.lazy.iter().find(|s| s.holds(gpa)) else { return Ok(false) };
        self.register_lazy(slot)?;
        Ok(true)
    }

    /// Registers every slot not registered yet: true if there was one.
    pub fn register_all_lazy(&self) -> Result<bool, VmError> {
        let mut any = false;
        for slot in &self.lazy {
            any |= self.register_lazy(slot)?;
        }
        Ok(any)
    }

    /// Registers `slot` unless KVM has it already: true if it did.
    fn register_lazy(&self, slot: &LazySlot) -> Result<bool, VmError> {
        if slot.registered.get() {
            return Ok(false);
        }
        self.register(slot.region)?;
        slot.registered.set(true);
        Ok(true)
    }

    /// Creates vCPU 0 and sets it up to enter the image at `entry`.
    pub fn create_vcpu(&self, entry: u64, mem_size: u64) -> Result<Vcpu, VmError> {
        let fd = self.fd.create_vcpu(0).map_err(VmError::CreateVcpu)?;
        arch::setup_vcpu(&self.kvm, &self.fd, &fd, entry, mem_size)?;
        Ok(Vcpu { fd, _memory: self.slot.clone() })
    }
}

/// The vCPU. In the kernel an open vCPU keeps its VM, and so the memory slot, alive: it
/// holds the mapping too, so running it can never reach unmapped host memory, whatever is
/// dropped first. Derefs to kvm-ioctls' `VcpuFd`.
#[derive(Debug)]
pub struct Vcpu {
    // Fields drop in order: the fd is closed before the mapping may go.
    fd: VcpuFd,
    _memory: Option<SharedMemory>,
}

impl std::ops::Deref for Vcpu {
    type Target = VcpuFd;
    fn deref(&self) -> &VcpuFd {
        &self.fd
    }
}

impl std::ops::DerefMut for Vcpu {
    fn deref_mut(&mut self) -> &mut VcpuFd {
        &mut self.fd
    }
}

/// The slots for `size` bytes of guest memory at host address `host`, each with whether to
/// register it now: one slot when `eager` is `None`, else [`GRANULE`]-sized ones, now where
/// they meet an `eager` range.
fn plan_slots(
    size: u64,
    host: u64,
    eager: Option<&[Range<u64>]>,
) -> Vec<(kvm_userspace_memory_region, bool)> {
    let Some(eager) = eager else {
        let whole = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: size,
            userspace_addr: host,
        };
        return vec![(whole, true)];
    };
    (0..size.div_ceil(GRANULE))
        .map(|i| {
            let start = i * GRANULE;
            let len = GRANULE.min(size - start);
            let region = kvm_userspace_memory_region {
                slot: i as u32,
                flags: 0,
                guest_phys_addr: start,
                memory_size: len,
                userspace_addr: host + start,
            };
            let now = eager.iter().any(|r| r.start < start + len && start < r.end);
            (region, now)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_memory_is_cut_into_granules_registered_where_needed() {
        let mib = 1 << 20;
        let one = plan_slots(512 * mib, 0x7000_0000_0000, None);
        assert_eq!(one.len(), 1);
        assert_eq!(
            (one[0].0.memory_size, one[0].0.userspace_addr, one[0].1),
            (512 * mib, 0x7000_0000_0000, true)
        );

        let size = 4096 * mib + 2 * mib; // the net ring's 2 MiB above 4 GiB
        let eager = [0..(3 * mib), (size - 4 * mib)..size];
        let plan = plan_slots(size, 0x7000_0000_0000, Some(&eager));
        assert_eq!(plan.len(), 65, "64 granules and the ring's 2 MiB");
        let now: Vec<u32> = plan.iter().filter(|(_, now)| *now).map(|(r, _)| r.slot).collect();
        assert_eq!(now, vec![0, 63, 64], "the image's, the stack's and the ring's");
        let last = plan[64].0;
        assert_eq!((last.guest_phys_addr, last.memory_size), (4096 * mib, 2 * mib));
        assert_eq!(last.userspace_addr, 0x7000_0000_0000 + 4096 * mib);
        let mut end = 0;
        for (r, _) in &plan {
            assert_eq!(r.guest_phys_addr, end, "contiguous, no overlap");
            end += r.memory_size;
        }
        assert_eq!(end, size);
    }
}
