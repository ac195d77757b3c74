//! A network stack for guests (feature `smoltcp`): smoltcp's interface and
//! sockets on a net device, and a `wait` that sleeps in POLL until smoltcp
//! next needs to run or a frame arrives.
//!
//! ```ignore
//! let nic = NetDevice::find("service").unwrap();
//! let mut stack = Stack::new(nic, cidr_arg(guest_rt::args().next(), DEFAULT_CIDR)?);
//! loop {
//!     stack.poll();               // every pending frame in, every queued frame out
//!     /* serve stack.sockets */
//!     stack.wait(IDLE_NS);        // one POLL exit, none if smoltcp has work now
//! }
//! ```

use smoltcp::wire::Ipv4Cidr;

/// How long `wait` sleeps at most when smoltcp has no timer running.
pub const IDLE_NS: u64 = 10 * crate::clock::NANOS_PER_SEC;

/// The address given on the command line (`10.0.0.77/24`), or `default`;
/// `Err(arg)` if it is not an IPv4 address with a prefix length.
pub fn cidr_arg(arg: Option<&str>, default: Ipv4Cidr) -> Result<Ipv4Cidr, &str> {
    match arg {
        None => Ok(default),
        Some(a) => a.parse::<Ipv4Cidr>().map_err(|()| a),
    }
}

/// smoltcp's delay (whole microseconds) in nanoseconds, saturating.
fn micros_to_ns(micros: u64) -> u64 {
    micros.saturating_mul(1000)
}

#[cfg(target_os = "none")]
pub use self::guest::*;

#[cfg(target_os = "none")]
mod guest {
    use super::micros_to_ns;
    use crate::net::NetDevice;
    use crate::smoltcp_device::NetPhy;
    use crate::{clock, poll};
    use alloc::vec::Vec;
    use smoltcp::iface::{Config, Interface, PollIngressSingleResult, PollResult, SocketSet};
    use smoltcp::time::Instant;
    use smoltcp::wire::{EthernetAddress, IpCidr, Ipv4Cidr};

    /// smoltcp's clock: monotonic time since boot.
    pub fn now() -> Instant {
        Instant::from_micros(i64::try_from(clock::monotonic_ns() / 1000).unwrap_or(i64::MAX))
    }

    /// One interface with its device and sockets.
    pub struct Stack {
        /// The device (readiness hint, frame counters).
        pub phy: NetPhy<NetDevice>,
        /// The interface: the device's MAC and one IPv4 address.
        pub iface: Interface,
        /// The sockets served on it.
        pub sockets: SocketSet<'static>,
        /// POLL hypercalls made in [`wait`] for this stack.
        polls: u64,
    }

    impl core::fmt::Debug for Stack {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("Stack")
                .field("phy", &self.phy)
                .field("polls", &self.polls)
                .finish_non_exhaustive()
        }
    }

    impl Stack {
        /// An interface with `nic`'s MAC at `cidr`, with no sockets yet (it
        /// answers ARP and ping already).
        pub fn new(nic: NetDevice, cidr: Ipv4Cidr) -> Stack {
            let mut phy = NetPhy::new(nic);
            let mut config = Config::new(EthernetAddress(nic.mac().0).into());
            config.random_seed = clock::wallclock_ns() ^ clock::monotonic_ns().rotate_left(32);
            let mut iface = Interface::new(config, &mut phy, now());
            iface.update_ip_addrs(|addrs| {
                // One address on a fresh interface always fits.
                let _ = addrs.push(IpCidr::Ipv4(cidr));
            });
            Stack { phy, iface, sockets: SocketSet::new(Vec::new()), polls: 0 }
        }

        /// Runs smoltcp once: takes in every pending frame, sends everything the
        /// sockets queued. Returns whether a socket may have changed state.
        pub fn poll(&mut self) -> bool {
            self.iface.poll(now(), &mut self.phy, &mut self.sockets) == PollResult::SocketStateChanged
        }

        /// [`poll`](Self::poll), calling `changed` after each incoming frame
        /// that may have changed a socket's state, before the next frame is
        /// taken in: e.g. to listen again on a socket that just closed, so a
        /// client's next SYN in the same batch finds a listener, not a reset.
        pub fn poll_with(&mut self, mut changed: impl FnMut(&mut SocketSet<'static>)) -> bool {
            let t = now();
            self.iface.poll_maintenance(t);
            let mut any = false;
            loop {
                match self.iface.poll_ingress_single(t, &mut self.phy, &mut self.sockets) {
                    PollIngressSingleResult::None => break,
                    PollIngressSingleResult::PacketProcessed => {}
                    PollIngressSingleResult::SocketStateChanged => {
                        any = true;
                        changed(&mut self.sockets);
                    }
                }
            }
            while self.iface.poll_egress(t, &mut self.phy, &mut self.sockets)
                == PollResult::SocketStateChanged
            {
                any = true;
            }
            any
        }

        /// Nanoseconds until smoltcp wants to run again (0: now), or `None` when
        /// only an incoming frame can give it work.
        pub fn delay_ns(&mut self) -> Option<u64> {
            self.iface.poll_delay(now(), &self.sockets).map(|d| micros_to_ns(d.total_micros()))
        }

        /// How many POLLs [`wait`] made for this stack (with the frame counters
        /// of `phy.stats()`, the exits it cost).
        pub fn polls(&self) -> u64 {
            self.polls
        }

        /// [`wait`] for this stack alone.
        pub fn wait(&mut self, max_ns: u64) {
            wait(&mut [self], max_ns)
        }
    }

    /// Sleeps in one POLL until the first of `stacks` needs smoltcp to run, a
    /// frame arrives on any of them, or `max_ns` pass; then tells each stack's
    /// device whether it has frames pending. Returns at once, without an exit,
    /// when some stack has work now.
    pub fn wait(stacks: &mut [&mut Stack], max_ns: u64) {
        let delay = stacks.iter_mut().filter_map(|s| s.delay_ns()).min().unwrap_or(max_ns).min(max_ns);
        if delay == 0 {
            // No POLL, so no news about the devices: let the next poll look.
            stacks.iter_mut().for_each(|s| s.phy.set_readable(true));
            return;
        }
        let ready = poll::wait_until(clock::monotonic_ns().saturating_add(delay));
        for s in stacks.iter_mut() {
            let handle = s.phy.link().handle();
            s.phy.set_readable(ready.contains(handle));
            s.polls += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::Ipv4Address;

    #[test]
    fn address_from_the_command_line() {
        let default = Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 2), 24);
        assert_eq!(cidr_arg(None, default), Ok(default));
        let set = Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 77), 25);
        assert_eq!(cidr_arg(Some("10.0.0.77/25"), default), Ok(set));
        assert_eq!(cidr_arg(Some("10.0.0.77"), default), Err("10.0.0.77"));
        assert_eq!(cidr_arg(Some("10.0.0.777/24"), default), Err("10.0.0.777/24"));
        assert_eq!(cidr_arg(Some("10.0.0.7/33"), default), Err("10.0.0.7/33"));
    }

    #[test]
    fn delays_scale_to_nanoseconds() {
        assert_eq!(micros_to_ns(0), 0);
        assert_eq!(micros_to_ns(1500), 1_500_000);
        assert_eq!(micros_to_ns(u64::MAX), u64::MAX);
    }
}
