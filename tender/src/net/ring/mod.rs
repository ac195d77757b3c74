//! The optional net ring (ABI.md §7): a host thread beside the vCPU serves the guest's
//! network requests (and, ours, guest-rt's block requests) from shared memory, so a frame or a
//! block request costs no exit. The guest rings a doorbell
//! (an ioeventfd: KVM handles it without leaving the kernel) only when the thread sleeps.
//!
//! The thread spins for a short while after its last work before it sleeps, so a busy guest
//! rarely needs the doorbell. A ring it cannot serve (a bad buffer, an unknown op) is fatal:
//! the thread records why and interrupts the vCPU, whose loop reports it.

mod colocation;
mod serve;

use crate::arch;
use crate::memory::{GuestMemory, MemoryError};
use abi::netring;
use colocation::VcpuCpu;
pub use serve::{Backends, RingFault, RingServer};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// How long the thread keeps polling the ring after its last entry before it sleeps: long
/// enough to see the guest's next request of a burst without a doorbell exit.
const SPIN: Duration = Duration::from_micros(200);

/// How long the thread spins after its last entry before it looks where it runs.
const PLACEMENT_CHECK_AFTER: Duration = Duration::from_micros(5);

/// Why the ring could not be offered.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("Could not create an eventfd for the net ring")]
    EventFd(#[source] std::io::Error),
    #[error("Could not register the net ring's doorbell with KVM (KVM_IOEVENTFD)")]
    Doorbell(#[source] kvm_ioctls::Error),
    #[error("Could not start the net ring's thread")]
    Thread(#[source] std::io::Error),
    #[error("The net ring does not fit in guest memory")]
    Outside(#[source] MemoryError),
}

/// The descriptors the ring's thread uses (for the seccomp filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingFds {
    pub doorbell: RawFd,
    pub stop: RawFd,
    /// The vCPU thread's `/proc` stat file (read with pread), if it could be opened.
    pub vcpu_stat: Option<RawFd>,
}

/// A running ring: its thread stops and is joined on drop.
#[derive(Debug)]
pub struct NetRing {
    doorbell: Arc<EventFd>,
    stop: Arc<EventFd>,
    stopping: Arc<AtomicBool>,
    fault: Arc<OnceLock<String>>,
    /// The vCPU thread's stat file the ring's thread reads (owned by that thread).
    vcpu_stat: Option<RawFd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NetRing {
    /// Registers the doorbell with `vm` and starts serving the ring at guest address `ring`
    /// with `devices`, offering block requests too (`HOST_OPS`).
    pub fn start<B: Backends + Send + 'static>(
        vm: &kvm_ioctls::VmFd,
        mem: &GuestMemory,
        ring: u64,
        devices: B,
    ) -> Result<NetRing, RingError> {
        mem.check(ring, netring::RING_SIZE).map_err(RingError::Outside)?;
        let shared = mem.shared();
        shared
            .store_u32(ring + netring::HOST_OPS, netring::BLOCK_OPS, Ordering::Relaxed)
            .map_err(RingError::Outside)?;
        let eventfd =
            || EventFd::new(EFD_NONBLOCK | libc::EFD_CLOEXEC).map(Arc::new).map_err(RingError::EventFd);
        let (doorbell, stop) = (eventfd()?, eventfd()?);
        // Only the ABI's "4-byte write of 0" is caught in the kernel; any other write there
        // reaches the vCPU loop, which rings the same eventfd (`ring_doorbell`).
        vm.register_ioevent(&doorbell, &arch::NET_RING_DOORBELL, 0u32).map_err(RingError::Doorbell)?;
        let fault = Arc::new(OnceLock::new());
        let stopping = Arc::new(AtomicBool::new(false));
        let server = RingServer::new(shared, ring, devices).stop_when(Arc::clone(&stopping));
        // Called on the vCPU's thread: this is its CPU the ring's thread compares with.
        let vcpu_cpu = VcpuCpu::of_this_thread();
        let vcpu_stat = vcpu_cpu.as_ref().map(VcpuCpu::fd);
        let wake = Wake {
            doorbell: Arc::clone(&doorbell),
            stop: Arc::clone(&stop),
            stopping: Arc::clone(&stopping),
            vcpu_cpu,
        };
        let f = Arc::clone(&fault);
        // The thread must be running its own code before the seccomp filter goes on: std's
        // thread start-up (its signal stack, its guard page) makes calls the filter forbids.
        let (started, running) = std::sync::mpsc::sync_channel(0);
        let thread = std::thread::Builder::new()
            .name("net-ring".into())
            .spawn(move || {
                block_vcpu_signals();
                let _ = started.send(());
                if let Err(e) = serve_until_stopped(server, &wake) {
                    let _ = f.set(crate::diag::chain(&e));
                    crate::signal::interrupt_vcpu();
                }
            })
            .map_err(RingError::Thread)?;
        let _ = running.recv();
        Ok(NetRing { doorbell, stop, stopping, fault, vcpu_stat, thread: Some(thread) })
    }

    /// Why the thread gave up on the guest's ring, if it did.
    pub fn fault(&self) -> Option<&str> {
        self.fault.get().map(String::as_str)
    }

    /// A doorbell write KVM did not catch itself (not the ABI's exact form): wake the thread.
    pub fn ring_doorbell(&self) {
        let _ = self.doorbell.write(1);
    }

    /// The descriptors its thread uses.
    pub fn fds(&self) -> RingFds {
        RingFds {
            doorbell: self.doorbell.as_raw_fd(),
            stop: self.stop.as_raw_fd(),
            vcpu_stat: self.vcpu_stat,
        }
    }
}

impl Drop for NetRing {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.stop.write(1);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How long the thread sleeps at most while reads wait for the guest to consume commits
/// (the guest rings no doorbell for that).
const COMMIT_WAIT: Duration = Duration::from_millis(1);

/// Serves the ring until stopped; an error is the guest's fault.
fn serve_until_stopped<B: Backends>(mut server: RingServer<B>, wake: &Wake) -> Result<(), RingFault> {
    let mut idle_since: Option<Instant> = None;
    let (mut spin, mut placed) = (true, false);
    while !wake.stopping.load(Ordering::Acquire) {
        if server.serve()? > 0 {
            idle_since = None;
            continue;
        }
        if idle_since.is_none() {
            placed = false;
        }
        let idle = idle_since.get_or_insert_with(Instant::now).elapsed();
        // Spinning is only worth it on a CPU of its own (see `colocation`). Looking costs a
        // few µs, so a thread that had one looks only once the guest's next request is late:
        // back-to-back requests (block I/O) then cost no look at all.
        if !placed && (!spin || idle >= PLACEMENT_CHECK_AFTER) {
            spin = wake.vcpu_cpu.as_ref().is_none_or(VcpuCpu::keep_caller_off_vcpu_cpu);
            placed = true;
        }
        let blocked = server.waiting_on_commits();
        if spin && !blocked && idle < SPIN {
            std::hint::spin_loop();
            continue;
        }
        // About to sleep: ask for the doorbell, then look once more, so an entry published
        // before the guest saw the flag is not left waiting.
        server.set_needs_kick(true)?;
        if blocked || !server.has_work()? {
            let timeout = blocked.then_some(COMMIT_WAIT);
            if !sleep(wake, timeout).map_err(RingFault::Wait)? {
                return Ok(());
            }
        }
        server.set_needs_kick(false)?;
        idle_since = None;
    }
    Ok(())
}

/// What wakes the sleeping thread: the doorbell, or the stop request.
struct Wake {
    doorbell: Arc<EventFd>,
    stop: Arc<EventFd>,
    stopping: Arc<AtomicBool>,
    vcpu_cpu: Option<VcpuCpu>,
}

/// Sleeps until the doorbell rings or `timeout` passes (true), or a stop is requested (false).
fn sleep(wake: &Wake, timeout: Option<Duration>) -> std::io::Result<bool> {
    let mut fds = [wake.doorbell.as_raw_fd(), wake.stop.as_raw_fd()].map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    let ts = timeout
        .map(|t| libc::timespec { tv_sec: t.as_secs() as libc::time_t, tv_nsec: t.subsec_nanos() as _ });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    loop {
        // SAFETY: `fds` is a valid array of two pollfd and `ts_ptr` null or a live timespec;
        // no signal mask.
        let n = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, ts_ptr, std::ptr::null()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[1].revents != 0 {
            return Ok(false);
        }
        if fds[0].revents != 0 {
            let _ = wake.doorbell.read();
        }
        return Ok(true);
    }
}

/// Blocks the signals the vCPU's thread handles (SIGINT, SIGTERM, the interrupt signal) in
/// the calling thread, so they are always delivered where they get the vCPU out of the guest.
fn block_vcpu_signals() {
    // SAFETY: a zeroed sigset_t is valid input to sigemptyset; pthread_sigmask only changes
    // this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, crate::signal::interrupt_signal()] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
