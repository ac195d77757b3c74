//! The optional net ring (ABI.md §7): a host thread beside the vCPU serves the guest's
//! network requests from shared memory, so a frame costs no exit. The guest rings a doorbell
//! (an ioeventfd: KVM handles it without leaving the kernel) only when the thread sleeps.
//!
//! The thread spins for a short while after its last work before it sleeps, so a busy guest
//! rarely needs the doorbell. A ring it cannot serve (a bad buffer, an unknown op) is fatal:
//! the thread records why and interrupts the vCPU, whose loop reports it.

mod serve;

use crate::arch;
use crate::diag::Limited;
use crate::memory::{GuestMemory, MemoryError};
use crate::net::NetDevice;
use abi::hypercall::Ret;
use abi::netring;
pub use serve::{Frames, RingFault, RingServer};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// How long the thread keeps polling the ring after its last entry before it sleeps: long
/// enough to see the guest's next request of a burst without a doorbell exit.
const SPIN: Duration = Duration::from_micros(200);

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

/// The net devices by manifest handle, as the ring thread reaches them.
#[derive(Debug, Default)]
pub struct RingDevices {
    by_handle: Vec<Option<Arc<NetDevice>>>,
    drops: Limited,
}

impl RingDevices {
    /// The table of `(handle, device)` pairs.
    pub fn new(nets: impl IntoIterator<Item = (usize, Arc<NetDevice>)>) -> RingDevices {
        let mut by_handle = Vec::new();
        for (h, dev) in nets {
            if by_handle.len() <= h {
                by_handle.resize(h + 1, None);
            }
            by_handle[h] = Some(dev);
        }
        RingDevices { by_handle, drops: Limited::new() }
    }

    fn get(&self, handle: u32) -> Option<&NetDevice> {
        self.by_handle.get(handle as usize)?.as_deref()
    }
}

impl Frames for RingDevices {
    fn send(&self, handle: u32, frame: &[u8]) -> Option<Ret> {
        Some(self.get(handle)?.send(frame))
    }
    fn receive(&self, handle: u32, buf: &mut [u8]) -> Option<(Ret, usize)> {
        Some(self.get(handle)?.receive(buf))
    }
    fn dropped(&self, why: std::fmt::Arguments<'_>) {
        self.drops.warn(why);
    }
}

/// The descriptors the ring's thread uses (for the seccomp filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingFds {
    pub doorbell: RawFd,
    pub stop: RawFd,
}

/// A running ring: its thread stops and is joined on drop.
#[derive(Debug)]
pub struct NetRing {
    doorbell: Arc<EventFd>,
    stop: Arc<EventFd>,
    fault: Arc<OnceLock<String>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NetRing {
    /// Registers the doorbell with `vm` and starts serving the ring at guest address `ring`.
    pub fn start(
        vm: &kvm_ioctls::VmFd,
        mem: &GuestMemory,
        ring: u64,
        nets: RingDevices,
    ) -> Result<NetRing, RingError> {
        mem.check(ring, netring::RING_SIZE).map_err(RingError::Outside)?;
        let eventfd =
            || EventFd::new(EFD_NONBLOCK | libc::EFD_CLOEXEC).map(Arc::new).map_err(RingError::EventFd);
        let (doorbell, stop) = (eventfd()?, eventfd()?);
        // Only the ABI's "4-byte write of 0" is caught in the kernel; any other write there
        // reaches the vCPU loop, which rings the same eventfd (`ring_doorbell`).
        vm.register_ioevent(&doorbell, &arch::NET_RING_DOORBELL, 0u32).map_err(RingError::Doorbell)?;
        let fault = Arc::new(OnceLock::new());
        let server = RingServer::new(mem.shared(), ring, nets);
        let (d, s, f) = (Arc::clone(&doorbell), Arc::clone(&stop), Arc::clone(&fault));
        // The thread must be running its own code before the seccomp filter goes on: std's
        // thread start-up (its signal stack, its guard page) makes calls the filter forbids.
        let (started, running) = std::sync::mpsc::sync_channel(0);
        let thread = std::thread::Builder::new()
            .name("net-ring".into())
            .spawn(move || {
                let _ = started.send(());
                if let Err(e) = serve_until_stopped(server, &d, &s) {
                    let _ = f.set(crate::diag::chain(&e));
                    crate::signal::interrupt_vcpu();
                }
            })
            .map_err(RingError::Thread)?;
        let _ = running.recv();
        Ok(NetRing { doorbell, stop, fault, thread: Some(thread) })
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
        RingFds { doorbell: self.doorbell.as_raw_fd(), stop: self.stop.as_raw_fd() }
    }
}

impl Drop for NetRing {
    fn drop(&mut self) {
        let _ = self.stop.write(1);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves the ring until `stop` is signalled; an error is the guest's fault.
fn serve_until_stopped<F: Frames>(
    mut server: RingServer<F>,
    doorbell: &EventFd,
    stop: &EventFd,
) -> Result<(), RingFault> {
    let mut idle_since: Option<Instant> = None;
    loop {
        if server.serve()? > 0 {
            idle_since = None;
            continue;
        }
        if idle_since.get_or_insert_with(Instant::now).elapsed() < SPIN {
            std::hint::spin_loop();
            continue;
        }
        // About to sleep: ask for the doorbell, then look once more, so an entry published
        // before the guest saw the flag is not left waiting.
        server.set_needs_kick(true)?;
        if !server.has_work()? && !sleep(doorbell, stop) {
            return Ok(());
        }
        server.set_needs_kick(false)?;
        idle_since = None;
    }
}

/// Sleeps until the doorbell rings (true) or `stop` is signalled (false).
fn sleep(doorbell: &EventFd, stop: &EventFd) -> bool {
    let mut fds = [doorbell.as_raw_fd(), stop.as_raw_fd()].map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    loop {
        // SAFETY: `fds` is a valid array of two pollfd; no timeout, no signal mask.
        let n = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, std::ptr::null(), std::ptr::null()) };
        if n < 0 {
            continue; // EINTR
        }
        if fds[1].revents != 0 {
            return false;
        }
        if fds[0].revents != 0 {
            let _ = doorbell.read();
            return true;
        }
    }
}
