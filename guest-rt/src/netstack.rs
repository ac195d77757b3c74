//! A network stack for guests (feature `smoltcp`): smoltcp's interface and
//! sockets on a net device, and a `wait` that sleeps in POLL until smoltcp
//! next needs to run or a frame arrives.
//!
//! ```ignore
//! let nic = NetDevice::find("service").unwrap();
//! let mut stack = Stack::with_config(nic, ipv4_config(guest_rt::args(), DEFAULT_CIDR)?);
//! loop {
//!     stack.poll();               // every pending frame in, every queued frame out
//!     /* serve stack.sockets */
//!     stack.wait(IDLE_NS);        // one POLL exit, none if smoltcp has work now
//! }
//! ```

use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

/// How long `wait` sleeps at most when smoltcp has no timer running.
pub const IDLE_NS: u64 = 10 * crate::clock::NANOS_PER_SEC;

/// A guest's IPv4 settings: its address with prefix length, and a default gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Config {
    /// The interface's address, e.g. `10.0.0.2/24`.
    pub cidr: Ipv4Cidr,
    /// Where packets for other networks go, if anywhere.
    pub gateway: Option<Ipv4Address>,
}

/// Reads IPv4 settings from the command line the way MirageOS unikernels take them:
/// `--ipv4=ADDR/PREFIX` and `--ipv4-gateway=ADDR` anywhere among the arguments (what
/// tender-oci passes for a container's interface); a first argument of the form
/// `ADDR/PREFIX` also sets the address. Other arguments are left to the program; without
/// any, the address is `default` and there is no gateway. `Err(arg)` names a malformed one.
pub fn ipv4_config<'a>(
    args: impl Iterator<Item = &'a str>,
    default: Ipv4Cidr,
) -> Result<Ipv4Config, &'a str> {
    let mut config = Ipv4Config { cidr: default, gateway: None };
    for (i, arg) in args.enumerate() {
        if let Some(v) = arg.strip_prefix("--ipv4=") {
            config.cidr = v.parse().map_err(|()| arg)?;
        } else if let Some(v) = arg.strip_prefix("--ipv4-gateway=") {
            config.gateway = Some(v.parse().map_err(|_| arg)?);
        } else if i == 0 && !arg.starts_with('-') {
            config.cidr = arg.parse().map_err(|()| arg)?;
        }
    }
    Ok(config)
}

/// smoltcp's delay (whole microseconds) in nanoseconds, saturating.
fn micros_to_ns(micros: u64) -> u64 {
    micros.saturating_mul(1000)
}

#[cfg(any(doc, target_os = "none"))]
pub use self::guest::*;

#[cfg(any(doc, target_os = "none"))]
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

        /// An interface with `nic`'s MAC at `config`'s address, routing through its
        /// gateway (if any).
        pub fn with_config(nic: NetDevice, config: super::Ipv4Config) -> Stack {
            let mut stack = Stack::new(nic, config.cidr);
            if let Some(gw) = config.gateway {
                // Only fails when the route table is full; a fresh one is empty.
                let _ = stack.iface.routes_mut().add_default_ipv4_route(gw);
            }
            stack
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

    fn cfg(args: &str) -> Result<Ipv4Config, &str> {
        ipv4_config(
            args.split(' ').filter(|a| !a.is_empty()),
            Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 2), 24),
        )
    }

    #[test]
    fn address_from_the_command_line() {
        let default = Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 2), 24);
        assert_eq!(cfg(""), Ok(Ipv4Config { cidr: default, gateway: None }));
        let set = Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 77), 25);
        assert_eq!(cfg("10.0.0.77/25").map(|c| c.cidr), Ok(set));
        assert_eq!(cfg("10.0.0.77"), Err("10.0.0.77"));
        assert_eq!(cfg("10.0.0.777/24"), Err("10.0.0.777/24"));
        assert_eq!(cfg("10.0.0.7/33"), Err("10.0.0.7/33"));
        assert_eq!(
            cfg("10.0.0.7/24 x").map(|c| c.cidr.prefix_len()),
            Ok(24),
            "later arguments are the program's"
        );
        assert_eq!(cfg("x"), Err("x"), "a first argument is an address");
    }

    #[test]
    fn mirage_options_from_the_command_line() {
        let c = cfg("--ipv4=172.17.0.2/16 --ipv4-gateway=172.17.0.1 user-arg").unwrap();
        assert_eq!(c.cidr, Ipv4Cidr::new(Ipv4Address::new(172, 17, 0, 2), 16));
        assert_eq!(c.gateway, Some(Ipv4Address::new(172, 17, 0, 1)));
        let c = cfg("--ipv4-gateway=10.0.0.1").unwrap();
        assert_eq!((c.cidr.prefix_len(), c.gateway), (24, Some(Ipv4Address::new(10, 0, 0, 1))));
        assert_eq!(cfg("--ipv4=10.0.0.2"), Err("--ipv4=10.0.0.2"));
        assert_eq!(cfg("--ipv4-gateway=gw"), Err("--ipv4-gateway=gw"));
    }

    #[test]
    fn delays_scale_to_nanoseconds() {
        assert_eq!(micros_to_ns(0), 0);
        assert_eq!(micros_to_ns(1500), 1_500_000);
        assert_eq!(micros_to_ns(u64::MAX), u64::MAX);
    }
}
