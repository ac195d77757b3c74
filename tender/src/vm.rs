//! KVM objects: the system fd, the VM with its one memory slot, the one vCPU.

use crate::arch::{self, ArchError};
use crate::memory::{GuestMemory, SharedMemory};
use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{Cap, Kvm, VcpuFd, VmFd};

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
    /// The mapping behind the memory slot: held by the VM, so it cannot be unmapped while
    /// KVM may still use it (fields drop in order: the VM's fd first).
    slot: Option<SharedMemory>,
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
        Ok(Vm { kvm, fd, slot: None })
    }

    /// Registers `mem` as slot 0 at guest-physical 0; the VM keeps the mapping alive.
    pub fn add_memory(&mut self, mem: &GuestMemory) -> Result<(), VmError> {
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: mem.size(),
            userspace_addr: mem.host_base(),
        };
        let mapping = mem.shared();
        // SAFETY: the region is our live anonymous mapping of exactly `memory_size` bytes,
        // and the VM holds it (`slot`) until after its own fd is closed.
        unsafe { self.fd.set_user_memory_region(region) }.map_err(VmError::SetMemory)?;
        self.slot = Some(mapping);
        Ok(())
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
