//! Runs a unikernel from a parsed command line, in solo5-hvt's order of checks
//! (ABI.md §6), so users see the same first error as with solo5-hvt.

use crate::cli::Config;
use crate::coredump::{CoreError, CoreFile};
use crate::devices::{self, DeviceError, Devices};
use crate::elf::{self, ElfError};
use crate::gdb::{self, GdbError};
use crate::manifest::{Manifest, ManifestError};
use crate::memory::{GuestMemory, MemoryError};
use crate::memsize::{self, MemSizeError};
use crate::net::ring::NetRing;
use crate::run::{self, RunError};
use crate::seccomp::{self, SeccompError};
use crate::vm::{Vm, VmError};
use crate::{arch, boot, signal};
use abi::netring;
use std::path::PathBuf;

/// Everything that can stop tender before or while running a guest.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{path}: Could not read the kernel image")]
    ReadKernel {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}")]
    Image {
        path: PathBuf,
        #[source]
        source: ElfError,
    },
    #[error("{path}: invalid manifest")]
    Manifest {
        path: PathBuf,
        #[source]
        source: ManifestError,
    },
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error("Could not install signal handlers")]
    Signals(#[source] std::io::Error),
    #[error(transparent)]
    MemSize(#[from] MemSizeError),
    #[error("Could not set up guest memory")]
    Memory(#[from] MemoryError),
    #[error(transparent)]
    Vm(#[from] VmError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Gdb(#[from] GdbError),
    #[error("Could not make the guest's block writes durable (see above)")]
    Flush,
    #[error("{path}: not a regular file")]
    KernelNotFile { path: PathBuf },
}

/// Opens the image: a regular file, opened without blocking (a FIFO is refused at once, not
/// waited on), with its length. Only its head and its segments are ever read.
fn open_kernel(path: &std::path::Path) -> Result<(std::fs::File, u64), LaunchError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| LaunchError::ReadKernel { path: path.into(), source };
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(err)?;
    let meta = f.metadata().map_err(err)?;
    if !meta.is_file() {
        return Err(LaunchError::KernelNotFile { path: path.into() });
    }
    Ok((f, meta.len()))
}

/// Where the net ring goes, if it is offered: right above the guest's memory, when the
/// guest has a net device (or, ours, a block device and tender's features note saying it
/// sends block requests on the ring: Solo5-built images have no such note, so they see
/// exactly solo5-hvt's boot info), `--no-net-ring` is not given and the slot stays within the
/// largest memory the page tables (and, on AArch64, the MMIO window above) allow.
fn net_ring_address(cfg: &Config, guest_features: u32, mem_size: u64) -> Option<u64> {
    let fits = mem_size + netring::RING_REGION <= abi::layout::MEM_MAX;
    let block_ring = guest_features & abi::note::FEATURE_BLOCK_RING != 0 && !cfg.blocks.is_empty();
    (fits && !cfg.no_net_ring && (!cfg.nets.is_empty() || block_ring)).then_some(mem_size)
}

/// Starts the ring's thread; if that fails, says why and lets the guest use the hypercalls.
fn start_net_ring(vm: &Vm, mem: &GuestMemory, at: u64, devices: &mut Devices) -> bool {
    match NetRing::start(&vm.fd, mem, at, devices.ring_devices()) {
        Ok(ring) => {
            devices.set_net_ring(ring);
            true
        }
        Err(e) => {
            crate::diag::error(format_args!("{} (devices use hypercalls instead)", crate::diag::chain(&e)));
            false
        }
    }
}

/// How much of the top of guest memory (the initial stack) is registered with KVM at once.
const STACK_EAGER: u64 = 8 << 20;

/// The exit status of an aborting guest (panic, failed assertion, CPU exception).
const ABORTED: i32 = 255;

/// Boots the unikernel and returns its exit status.
pub fn launch(cfg: &Config) -> Result<i32, LaunchError> {
    // Inherited TAP fds first, while no file of tender's can have taken a closed number; then
    // signals: a SIGINT/SIGTERM during a slow step still ends tender with its message.
    Devices::check_inherited_fds(&cfg.nets)?;
    signal::install().map_err(LaunchError::Signals)?;
    let path = cfg.kernel.clone();
    let (file, file_len) = open_kernel(&path)?;
    let head = elf::read_head(&mut &file)
        .map_err(|source| LaunchError::ReadKernel { path: path.clone(), source })?;
    let image_err = |source| LaunchError::Image { path: path.clone(), source };
    elf::check_header(&head).map_err(image_err)?;
    elf::read_abi_note(&head).map_err(image_err)?;
    let mft = elf::read_manifest_note(&head).map_err(image_err)?;
    let guest_features = elf::read_tender_features(&head);
    let mut manifest =
        Manifest::parse(mft).map_err(|source| LaunchError::Manifest { path: path.clone(), source })?;
    let mut devices = Devices::attach(&cfg.blocks, &cfg.nets, &mut manifest)?;

    let (mem_size, warning) = memsize::guest_mem_size(cfg.mem_mib)?;
    if let Some(w) = warning {
        crate::diag::error(format_args!("{w}"));
    }
    let ring_at = net_ring_address(cfg, guest_features, mem_size);
    // The slot holds the net ring's 2 MiB above the guest's memory (ABI.md §2). The VM keeps
    // the mapping alive once it is registered (`Vm::add_memory`).
    let mut mem = GuestMemory::new(mem_size + ring_at.map_or(0, |_| netring::RING_REGION))?;
    let mut vm = Vm::new()?;
    let image = elf::plan_load_from(&head, file_len, mem_size).map_err(image_err)?;
    boot::load_segments(&mut mem, &file, &image).map_err(|e| match e {
        boot::LoadError::Memory(m) => LaunchError::Memory(m),
        boot::LoadError::Read(source) => LaunchError::ReadKernel { path: path.clone(), source },
    })?;
    // The guest never needs the file again: closed before it runs.
    drop(file);
    // What the guest touches first, registered with KVM at once (the rest, in a large guest,
    // when first touched: `vm`): the image and the boot data below it, the stack at the top,
    // the net ring above.
    let eager = [0..image.kernel_end, mem_size.saturating_sub(STACK_EAGER)..mem.size()];
    vm.add_memory(&mem, &eager)?;
    let mut vcpu = vm.create_vcpu(image.entry, mem_size)?;
    devices::check_all_attached(&manifest)?;
    arch::setup_memory(&mut mem).map_err(VmError::from)?;
    let cpu_cycle_freq = arch::cpu_cycle_freq(&vcpu).map_err(VmError::from)?;
    // The ring is offered only once its doorbell and thread are in place.
    let net_ring = ring_at.filter(|&at| start_net_ring(&vm, &mem, at, &mut devices));
    let machine = boot::Machine { mem_size, cpu_cycle_freq, net_ring };
    boot::write_boot_info(&mut mem, &image, machine, manifest.as_bytes(), &cfg.cmdline)?;
    let core = cfg.dumpcore.as_deref().map(CoreFile::prepare).transpose()?;
    let debugger = match cfg.gdb {
        Some(port) => {
            let listener = gdb::Listener::bind(port)?;
            crate::diag::error(format_args!("waiting for gdb on 127.0.0.1:{}", listener.port));
            Some(listener.accept()?)
        }
        None => None,
    };
    let (blocks, taps) = devices.fds();
    let vcpu_fd = std::os::fd::AsRawFd::as_raw_fd(&*vcpu);
    let fds = seccomp::Fds {
        vcpu: vcpu_fd,
        blocks,
        taps,
        wake: signal::wake_fds(),
        core: core.as_ref().map(CoreFile::fds),
        gdb: debugger.as_ref().map(std::os::fd::AsRawFd::as_raw_fd),
        ring: devices.net_ring().map(NetRing::fds),
        lazy_memory_vm: vm.has_lazy_memory().then(|| std::os::fd::AsRawFd::as_raw_fd(&vm.fd)),
    };
    seccomp::confine(&fds, cfg.seccomp)?;
    if seccomp::test_violation_requested() {
        seccomp::violate();
    }
    let result = match debugger {
        Some(conn) => gdb::serve(conn, &vm, &mut vcpu, &mut mem, &devices).map_err(LaunchError::from),
        None => run::run(&vm, &mut vcpu, &mut mem, &devices).map_err(LaunchError::from),
    };
    // The guest has stopped: so does the net ring's thread, before anything reads guest
    // memory for a core dump.
    devices.stop_net_ring();
    // Whatever stopped the guest (HALT, a fault, a signal), what it wrote and was
    // acknowledged must reach the disk.
    let flushed = devices.flush_all();
    if let (Some(core), Ok(h)) = (&core, &result) {
        if h.status == ABORTED {
            let regs = arch::core_registers(&vcpu, &mem, h.cookie);
            match core.write(&mem, arch::ELF_MACHINE, &regs) {
                Ok(path) => {
                    crate::diag::error(format_args!("Guest aborted: core dumped to {}", path.display()))
                }
                Err(e) => crate::diag::error(format_args!("{}", crate::diag::chain(&e))),
            }
        }
    }
    // The guest is gone: close its vCPU and VM before reporting.
    drop(vcpu);
    drop(vm);
    let status = result?.status;
    if !flushed {
        return Err(LaunchError::Flush);
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockConfig;
    use abi::note::FEATURE_BLOCK_RING;

    #[test]
    fn the_ring_goes_to_net_guests_and_to_block_guests_that_ask_for_it() {
        let disk = BlockConfig { name: "storage".into(), path: "/d".into(), sector_size: None };
        let blocks = Config { blocks: vec![disk], ..Config::default() };
        let mib = 1 << 20;
        assert_eq!(net_ring_address(&blocks, 0, 512 * mib), None, "a Solo5-built disk guest: as solo5-hvt");
        assert_eq!(net_ring_address(&blocks, FEATURE_BLOCK_RING, 512 * mib), Some(512 * mib));
        let off = Config { no_net_ring: true, ..blocks };
        assert_eq!(net_ring_address(&off, FEATURE_BLOCK_RING, 512 * mib), None, "--no-net-ring");
        let none = Config::default();
        assert_eq!(net_ring_address(&none, FEATURE_BLOCK_RING, 512 * mib), None, "no devices, no ring");
        assert_eq!(
            net_ring_address(
                &Config { blocks: off.blocks, ..Config::default() },
                FEATURE_BLOCK_RING,
                4096 * mib
            ),
            None,
            "no room"
        );
    }
}
