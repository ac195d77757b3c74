//! `--gdb[=PORT]`: a GDB remote stub (the `gdbstub` crate). tender waits on 127.0.0.1:PORT
//! before the guest's first instruction; the debugger then reads and writes registers and
//! memory, sets software breakpoints, single-steps and continues. Hypercalls are served as
//! always between stops; the guest's HALT ends the session with its exit status.
//!
//! Guest addresses are physical: hvt guests run identity-mapped (ABI.md §3, §4). Breakpoints
//! are the debug registers on x86_64 (four at most; the code stays untouched) and `brk`
//! instructions on AArch64, written into the read-only image through
//! [`GuestMemory::write_through`], so the guest itself still cannot write its code. Between two stops the vCPU runs undisturbed: an
//! interrupt from GDB (Ctrl-C) is seen at the guest's next exit (a hypercall, a breakpoint).

mod conn;
pub mod regs;

use crate::arch::{self, GdbArch};
use crate::devices::Devices;
use crate::memory::GuestMemory;
use crate::run::{self, Halted, RunError, Stop};
use crate::vm::Vm;
use gdbstub::arch::Arch;
use gdbstub::common::Signal;
use gdbstub::conn::{Connection, ConnectionExt};
use gdbstub::stub::{run_blocking, DisconnectReason, GdbStub, SingleThreadStopReason};
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep,
    SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{Breakpoints, BreakpointsOps, SwBreakpoint, SwBreakpointOps};
use gdbstub::target::{Target, TargetError, TargetResult};
use kvm_ioctls::VcpuFd;
use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};

/// Why the debugging session failed.
#[derive(Debug, thiserror::Error)]
pub enum GdbError {
    #[error("--gdb: could not listen on 127.0.0.1:{port}")]
    Listen {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("--gdb: no debugger connected")]
    Accept(#[source] std::io::Error),
    #[error("Could not enable guest debugging (KVM_SET_GUEST_DEBUG)")]
    Debug(#[source] kvm_ioctls::Error),
    #[error("The debugger's connection failed")]
    Connection(#[source] std::io::Error),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("Guest killed by the debugger")]
    Killed,
    #[error("The GDB stub failed: {0}")]
    Stub(String),
}

/// A listening socket, opened before the guest starts (and before the seccomp filter).
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    pub port: u16,
}

impl Listener {
    /// Listens on 127.0.0.1:`port` (loopback only: the stub gives full control of the guest).
    pub fn bind(port: u16) -> Result<Listener, GdbError> {
        let listener =
            TcpListener::bind(("127.0.0.1", port)).map_err(|source| GdbError::Listen { port, source })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        Ok(Listener { listener, port })
    }

    /// Waits for the debugger; SIGINT/SIGTERM end the wait (accept(2) alone would restart).
    pub fn accept(&self) -> Result<TcpStream, GdbError> {
        use std::os::fd::AsRawFd;
        crate::signal::wait_readable(self.listener.as_raw_fd())
            .map_err(|sig| GdbError::Run(RunError::Signal(sig)))?;
        self.listener.accept().map(|(s, _)| s).map_err(GdbError::Accept)
    }
}

/// How the guest is to run when resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exec {
    Continue,
    Step,
}

/// What the debugger debugs: the one vCPU, guest memory, the devices behind hypercalls.
struct Guest<'a> {
    vm: &'a Vm,
    vcpu: &'a mut VcpuFd,
    mem: &'a mut GuestMemory,
    devices: &'a Devices,
    exec: Exec,
    /// Breakpoint address → the bytes the breakpoint instruction replaced (a BTreeMap: a
    /// HashMap's random seed would need getrandom, which the seccomp filter does not allow).
    breakpoints: BTreeMap<u64, Vec<u8>>,
    /// What ended the run, for the caller once the session is over.
    outcome: Option<Result<Halted, RunError>>,
}

/// The target's fatal error: the guest stopped for a reason the session cannot go on from.
#[derive(Debug)]
struct Ended;

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the guest cannot be debugged further (KVM refused a debug or register call)")
    }
}

impl Target for Guest<'_> {
    type Arch = GdbArch;
    type Error = Ended;

    fn base_ops(&mut self) -> BaseOps<'_, GdbArch, Ended> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadBase for Guest<'_> {
    fn read_registers(&mut self, regs: &mut <GdbArch as Arch>::Registers) -> TargetResult<(), Self> {
        *regs = arch::gdb_registers(self.vcpu).map_err(|_| TargetError::NonFatal)?;
        Ok(())
    }

    fn write_registers(&mut self, regs: &<GdbArch as Arch>::Registers) -> TargetResult<(), Self> {
        arch::gdb_set_registers(self.vcpu, regs).map_err(|_| TargetError::NonFatal)
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8]) -> TargetResult<usize, Self> {
        // As much as lies inside guest memory.
        let n = (self.mem.size().saturating_sub(start)).min(data.len() as u64) as usize;
        if n == 0 {
            return Err(TargetError::NonFatal);
        }
        data[..n].copy_from_slice(self.mem.slice(start, n as u64).map_err(|_| TargetError::NonFatal)?);
        Ok(n)
    }

    fn write_addrs(&mut self, start: u64, data: &[u8]) -> TargetResult<(), Self> {
        match self.mem.write_through(start, data) {
            Ok(()) => Ok(()),
            // Code left writable for the guest must not outlive the session.
            Err(crate::memory::MemoryError::Protect { .. }) => Err(TargetError::Fatal(Ended)),
            Err(_) => Err(TargetError::NonFatal),
        }
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadResume for Guest<'_> {
    fn resume(&mut self, _signal: Option<Signal>) -> Result<(), Ended> {
        self.exec = Exec::Continue;
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadSingleStep for Guest<'_> {
    fn step(&mut self, _signal: Option<Signal>) -> Result<(), Ended> {
        self.exec = Exec::Step;
        Ok(())
    }
}

impl Breakpoints for Guest<'_> {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for Guest<'_> {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        if self.breakpoints.contains_key(&addr) {
            return Ok(true);
        }
        // (A constant per architecture: one of the branches is dead on each.)
        #[allow(clippy::absurd_extreme_comparisons)]
        let in_registers = arch::HW_BREAKPOINTS > 0;
        if in_registers {
            // In debug registers: nothing is written to the guest; only addresses of guest
            // memory (a non-canonical one would make KVM refuse the debug registers).
            if addr >= self.mem.size() {
                return Ok(false);
            }
            #[allow(clippy::absurd_extreme_comparisons)]
            let full = self.breakpoints.len() >= arch::HW_BREAKPOINTS;
            if full {
                return Ok(false);
            }
            self.breakpoints.insert(addr, Vec::new());
            return Ok(true);
        }
        let len = arch::SW_BREAKPOINT.len() as u64;
        let Ok(original) = self.mem.slice(addr, len).map(<[u8]>::to_vec) else { return Ok(false) };
        if self.mem.write_through(addr, arch::SW_BREAKPOINT).is_err() {
            return Ok(false);
        }
        self.breakpoints.insert(addr, original);
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        match self.breakpoints.remove(&addr) {
            Some(original) if original.is_empty() => Ok(true),
            Some(original) => Ok(self.mem.write_through(addr, &original).is_ok()),
            None => Ok(false),
        }
    }
}

/// The blocking event loop: run the guest until it stops, or hand over what GDB sent.
struct EventLoop<'a>(std::marker::PhantomData<&'a ()>);

impl<'a> run_blocking::BlockingEventLoop for EventLoop<'a> {
    type Target = Guest<'a>;
    type Connection = conn::Conn;
    type StopReason = SingleThreadStopReason<u64>;

    fn wait_for_stop_reason(
        guest: &mut Guest<'a>,
        conn: &mut conn::Conn,
    ) -> Result<
        run_blocking::Event<Self::StopReason>,
        run_blocking::WaitForStopReasonError<Ended, <conn::Conn as Connection>::Error>,
    > {
        use run_blocking::{Event, WaitForStopReasonError as W};
        if ConnectionExt::peek(conn).map_err(W::Connection)?.is_some() {
            return Ok(Event::IncomingData(ConnectionExt::read(conn).map_err(W::Connection)?));
        }
        let step = guest.exec == Exec::Step;
        let hw: Vec<u64> = guest.breakpoints.iter().filter(|(_, o)| o.is_empty()).map(|(a, _)| *a).collect();
        arch::set_guest_debug(guest.vcpu, step, &hw).map_err(|_| W::Target(Ended))?;
        match run::run_until_stop(guest.vm, guest.vcpu, guest.mem, guest.devices) {
            Ok(Stop::Debug) if step => Ok(Event::TargetStopped(SingleThreadStopReason::DoneStep)),
            Ok(Stop::Debug) => Ok(Event::TargetStopped(SingleThreadStopReason::SwBreak(()))),
            Ok(Stop::Halted(h)) => {
                guest.outcome = Some(Ok(h));
                Ok(Event::TargetStopped(SingleThreadStopReason::Exited((h.status & 0xff) as u8)))
            }
            Err(e) => {
                guest.outcome = Some(Err(e));
                Ok(Event::TargetStopped(SingleThreadStopReason::Terminated(Signal::SIGSEGV)))
            }
        }
    }

    fn on_interrupt(_guest: &mut Guest<'a>) -> Result<Option<Self::StopReason>, Ended> {
        Ok(Some(SingleThreadStopReason::Signal(Signal::SIGINT)))
    }
}

/// Serves one debugger over `conn` until the guest halts (its status) or stops with an error
/// (that error). If the debugger detaches first, the guest runs on undebugged.
pub fn serve(
    conn: TcpStream,
    vm: &Vm,
    vcpu: &mut VcpuFd,
    mem: &mut GuestMemory,
    devices: &Devices,
) -> Result<Halted, GdbError> {
    let mut guest =
        Guest { vm, vcpu, mem, devices, exec: Exec::Continue, breakpoints: BTreeMap::new(), outcome: None };
    let result = run_session(conn, &mut guest);
    let Guest { vm, vcpu, mem, devices, breakpoints, outcome, .. } = guest;
    // Breakpoints a detaching debugger left behind come out of the code.
    for (addr, original) in breakpoints.into_iter().filter(|(_, o)| !o.is_empty()) {
        let _ = mem.write_through(addr, &original);
    }
    match (result?, outcome) {
        (_, Some(Ok(h))) => Ok(h),
        (_, Some(Err(e))) => Err(e.into()),
        (DisconnectReason::Kill, None) => Err(GdbError::Killed),
        (_, None) => {
            arch::clear_guest_debug(vcpu).map_err(GdbError::Debug)?;
            Ok(run::run(vm, vcpu, mem, devices)?)
        }
    }
}

fn run_session<'a>(conn: TcpStream, guest: &mut Guest<'a>) -> Result<DisconnectReason, GdbError> {
    GdbStub::new(conn::Conn(conn)).run_blocking::<EventLoop<'a>>(guest).map_err(|e| {
        if let Some(sig) = crate::signal::pending() {
            return GdbError::Run(RunError::Signal(sig));
        }
        if e.is_connection_error() {
            let io = e.into_connection_error().map(|(io, _kind)| io);
            GdbError::Connection(io.unwrap_or_else(|| std::io::Error::other("connection")))
        } else {
            GdbError::Stub(e.to_string())
        }
    })
}
