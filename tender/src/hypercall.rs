//! Hypercall handlers (ABI.md §5). Every guest address goes through
//! [`GuestMemory`]'s checked accessors; a bad one ends the VM, never the host.

use crate::devices::Devices;
use crate::memory::{GuestMemory, MemoryError};
use crate::signal;
use abi::hypercall::{BlockIo, Halt, NetIo, Nr, Poll, Puts, Ret, Walltime, HALT_COOKIE_MAX};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the vCPU loop does after a hypercall.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Resume the guest.
    Resume,
    /// The guest halted with this exit status and cookie (0, or the checked GPA of its
    /// 512-byte crash-state area).
    Exit { status: i32, cookie: u64 },
}

/// A hypercall the guest got wrong: fatal to the VM.
#[derive(Debug, thiserror::Error)]
pub enum HypercallError {
    #[error("Invalid hypercall number {0}")]
    UnknownNumber(u32),
    #[error("Hypercall {name}: bad guest address")]
    BadAddress {
        name: &'static str,
        #[source]
        source: MemoryError,
    },
    #[error("Could not write the guest's console output to tender's stdout")]
    Console(#[source] std::io::Error),
}

fn bad(name: &'static str) -> impl FnOnce(MemoryError) -> HypercallError {
    move |source| HypercallError::BadAddress { name, source }
}

/// Serves hypercall `nr` with its argument struct at guest address `arg`.
pub fn handle(mem: &mut GuestMemory, devices: &Devices, nr: u32, arg: u64) -> Result<Next, HypercallError> {
    match Nr::from_u32(nr).ok_or(HypercallError::UnknownNumber(nr))? {
        Nr::Walltime => walltime(mem, arg),
        Nr::Puts => puts(mem, arg),
        Nr::Poll => poll(mem, devices, arg),
        Nr::Halt => halt(mem, arg),
        Nr::BlockRead => block_io(mem, devices, arg, false),
        Nr::BlockWrite => block_io(mem, devices, arg, true),
        Nr::NetWrite => net_write(mem, devices, arg),
        Nr::NetRead => net_read(mem, devices, arg),
    }
}

/// BLOCK_READ / BLOCK_WRITE: handle and range checks (`EINVAL`) come before the
/// buffer check (fatal); host I/O errors are `EUNSPEC`.
fn block_io(mem: &mut GuestMemory, devices: &Devices, arg: u64, write: bool) -> Result<Next, HypercallError> {
    let name = if write { "BLOCK_WRITE" } else { "BLOCK_READ" };
    let mut a: BlockIo = mem.read_args_for_update(arg).map_err(bad(name))?;
    a.ret = match devices.block(a.handle) {
        Some(dev) if dev.in_range(a.offset, a.len) => {
            if write {
                dev.write(a.offset, mem.slice(a.data, a.len).map_err(bad(name))?)
            } else {
                dev.read(a.offset, mem.slice_mut(a.data, a.len).map_err(bad(name))?)
            }
        }
        _ => Ret::Einval,
    } as i32;
    mem.write_args(arg, &a).map_err(bad(name))?;
    Ok(Next::Resume)
}

fn net_write(mem: &mut GuestMemory, devices: &Devices, arg: u64) -> Result<Next, HypercallError> {
    let mut a: NetIo = mem.read_args_for_update(arg).map_err(bad("NET_WRITE"))?;
    a.ret = match devices.net(a.handle) {
        Some(dev) => dev.send(mem.slice(a.data, a.len).map_err(bad("NET_WRITE"))?),
        None => Ret::Einval,
    } as i32;
    mem.write_args(arg, &a).map_err(bad("NET_WRITE"))?;
    Ok(Next::Resume)
}

fn net_read(mem: &mut GuestMemory, devices: &Devices, arg: u64) -> Result<Next, HypercallError> {
    let mut a: NetIo = mem.read_args_for_update(arg).map_err(bad("NET_READ"))?;
    let (ret, len) = match devices.net(a.handle) {
        Some(dev) => dev.receive(mem.slice_mut(a.data, a.len).map_err(bad("NET_READ"))?),
        None => (Ret::Einval, 0),
    };
    (a.ret, a.len) = (ret as i32, len as u64);
    mem.write_args(arg, &a).map_err(bad("NET_READ"))?;
    Ok(Next::Resume)
}

fn walltime(mem: &mut GuestMemory, arg: u64) -> Result<Next, HypercallError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let nsecs = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
    mem.write_args(arg, &Walltime { nsecs }).map_err(bad("WALLTIME"))?;
    Ok(Next::Resume)
}

fn puts(mem: &mut GuestMemory, arg: u64) -> Result<Next, HypercallError> {
    let p: Puts = mem.read_args(arg).map_err(bad("PUTS"))?;
    let bytes = mem.slice(p.data, p.len).map_err(bad("PUTS"))?;
    write_console(bytes).map_err(HypercallError::Console)?;
    Ok(Next::Resume)
}

/// Writes guest output to stdout, giving up as soon as a signal arrives (a full
/// pipe nobody reads must not keep tender from stopping on SIGTERM; the vCPU loop
/// then reports the signal and the rest of the output is dropped). Each chunk is
/// written only once stdout is writable or the wake-up pipe says "stop".
fn write_console(mut bytes: &[u8]) -> std::io::Result<()> {
    const CHUNK: usize = 4096; // PIPE_BUF: a POLLOUT pipe takes this much without blocking
    while !bytes.is_empty() {
        if signal::pending().is_some() {
            return Ok(());
        }
        let mut fds = vec![libc::pollfd { fd: libc::STDOUT_FILENO, events: libc::POLLOUT, revents: 0 }];
        if !wait_interruptibly(&mut fds, None) || fds[0].revents == 0 {
            continue;
        }
        let n = bytes.len().min(CHUNK);
        // SAFETY: writes `n` bytes from a live slice to our stdout.
        let rc = unsafe { libc::write(libc::STDOUT_FILENO, bytes.as_ptr().cast(), n) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted && e.kind() != std::io::ErrorKind::WouldBlock {
                return Err(e);
            }
            continue;
        }
        bytes = &bytes[rc as usize..];
    }
    Ok(())
}

/// POLL: wait for the deadline or a readable TAP; report which handles are ready.
fn poll(mem: &mut GuestMemory, devices: &Devices, arg: u64) -> Result<Next, HypercallError> {
    let mut p: Poll = mem.read_args_for_update(arg).map_err(bad("POLL"))?;
    let (handles, mut fds): (Vec<usize>, Vec<libc::pollfd>) = devices
        .nets()
        .map(|(h, n)| (h, libc::pollfd { fd: n.tap.raw_fd(), events: libc::POLLIN, revents: 0 }))
        .unzip();
    wait_interruptibly(&mut fds, Some(Duration::from_nanos(p.timeout_nsecs)));
    p.ready_set = 0;
    p.ret = 0;
    for (h, fd) in handles.iter().zip(&fds) {
        if fd.revents & libc::POLLIN != 0 {
            p.ready_set |= 1 << h;
            p.ret += 1;
        }
    }
    mem.write_args(arg, &p).map_err(bad("POLL"))?;
    Ok(Next::Resume)
}

/// Waits on `fds` for at most `d` (nanosecond precision; `None`: no limit), and
/// also on the signal wake-up pipe, so a SIGINT/SIGTERM that arrived before or
/// during the wait ends it at once for the vCPU loop to serve. Returns false (no fd
/// ready) if a signal is pending.
fn wait_interruptibly(fds: &mut Vec<libc::pollfd>, d: Option<Duration>) -> bool {
    if signal::pending().is_some() {
        fds.iter_mut().for_each(|f| f.revents = 0);
        return false;
    }
    let callers = fds.len();
    fds.extend(signal::wake_fd().map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }));
    let ts = d.map(|d| libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `fds` is a valid slice of pollfd for its length and `ts` lives on our
    // stack; ppoll writes only `revents`. On EINTR nothing is ready, which is correct.
    let rc = unsafe { libc::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, tsp, std::ptr::null()) };
    fds.truncate(callers);
    if rc < 0 || signal::pending().is_some() {
        fds.iter_mut().for_each(|f| f.revents = 0);
        return false;
    }
    true
}

fn halt(mem: &mut GuestMemory, arg: u64) -> Result<Next, HypercallError> {
    let h: Halt = mem.read_args(arg).map_err(bad("HALT"))?;
    if h.cookie != 0 {
        mem.check(h.cookie, HALT_COOKIE_MAX).map_err(bad("HALT"))?;
    }
    Ok(Next::Exit { status: h.exit_status & 0xff, cookie: h.cookie })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> GuestMemory {
        GuestMemory::new(2 << 20).unwrap()
    }

    #[test]
    fn halt_masks_status_and_checks_cookie() {
        let mut m = mem();
        m.write_args(0x1000, &Halt { cookie: 0, exit_status: 0x1ff }).unwrap();
        assert_eq!(
            handle(&mut m, &Devices::default(), 8, 0x1000).unwrap(),
            Next::Exit { status: 0xff, cookie: 0 }
        );
        m.write_args(0x1000, &Halt { cookie: (2 << 20) - 100, exit_status: 0 }).unwrap();
        assert!(matches!(
            handle(&mut m, &Devices::default(), 8, 0x1000),
            Err(HypercallError::BadAddress { .. })
        ));
    }

    #[test]
    fn walltime_is_now() {
        let mut m = mem();
        handle(&mut m, &Devices::default(), 1, 0x2000).unwrap();
        let w: Walltime = m.read_args(0x2000).unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        assert!(now - w.nsecs < 5_000_000_000);
    }

    #[test]
    fn bad_pointers_and_numbers_are_errors() {
        let mut m = mem();
        assert!(matches!(handle(&mut m, &Devices::default(), 0, 0), Err(HypercallError::UnknownNumber(0))));
        assert!(matches!(handle(&mut m, &Devices::default(), 42, 0), Err(HypercallError::UnknownNumber(42))));
        assert!(handle(&mut m, &Devices::default(), 1, (2 << 20) - 4).is_err());
        m.write_args(0x1000, &Puts { data: (2 << 20) - 4, len: 8 }).unwrap();
        assert!(handle(&mut m, &Devices::default(), 2, 0x1000).is_err());
        m.write_args(0x1000, &Puts { data: 0x3000, len: u64::MAX }).unwrap();
        assert!(handle(&mut m, &Devices::default(), 2, 0x1000).is_err());
    }

    #[test]
    fn poll_sleeps_for_the_timeout() {
        let mut m = mem();
        m.write_args(0x1000, &Poll { timeout_nsecs: 20_000_000, ready_set: 7, ret: 9 }).unwrap();
        let t = std::time::Instant::now();
        handle(&mut m, &Devices::default(), 3, 0x1000).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(20));
        let p: Poll = m.read_args(0x1000).unwrap();
        assert_eq!((p.ready_set, p.ret), (0, 0));
    }
}
