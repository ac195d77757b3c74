//! Network devices: a NIC declared in the manifest, Ethernet frames through the
//! net ring ([`crate::netring`]) or one per hypercall, and its bit in the POLL
//! ready set ([`crate::poll`]).
//!
//! ```ignore
//! guest_rt::manifest!(net "service");
//! let nic = NetDevice::find("service").expect("declared and attached");
//! let mut frame = vec![0u8; nic.frame_size()];
//! if let Some(len) = nic.recv(&mut frame)? { /* frame[..len] */ }
//! ```
//!
//! With the `smoltcp` feature, `smoltcp_device` puts a TCP/IP stack on it.

use crate::manifest::{self, Device, DeviceKind};
use core::fmt;

/// Bytes of the Ethernet header that frames carry on top of the MTU.
pub const ETH_HEADER_LEN: usize = 14;

/// A MAC address, displayed as `02:00:00:00:00:01`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

/// An attached network device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetDevice {
    handle: u64,
    mac: [u8; 6],
    mtu: u16,
}

impl NetDevice {
    /// The net device a manifest entry describes, if it is an attached one.
    pub fn from_device(d: &Device) -> Option<NetDevice> {
        match d.kind {
            DeviceKind::Net { mac, mtu } if d.entry.attached => {
                Some(NetDevice { handle: d.handle, mac, mtu })
            }
            _ => None,
        }
    }

    /// The attached net device declared as `name` (`None` if there is no such
    /// net device).
    pub fn find(name: &str) -> Option<NetDevice> {
        manifest::find(name).as_ref().and_then(NetDevice::from_device)
    }

    /// The handle of hypercalls and of the POLL ready set.
    pub fn handle(&self) -> u64 {
        self.handle
    }

    /// The device's MAC address (chosen by the host).
    pub fn mac(&self) -> Mac {
        Mac(self.mac)
    }

    /// The IP MTU of the host's interface.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// The largest frame the device carries: MTU plus the Ethernet header.
    pub fn frame_size(&self) -> usize {
        usize::from(self.mtu) + ETH_HEADER_LEN
    }
}

#[cfg(target_os = "none")]
mod guest {
    use super::NetDevice;
    use crate::io::IoError;

    impl NetDevice {
        /// Sends one Ethernet frame (header included): through the net ring when the
        /// host offers one, else by hypercall.
        pub fn send(&self, frame: &[u8]) -> Result<(), IoError> {
            let ret = crate::netring::send(self.handle, frame)
                .unwrap_or_else(|| crate::hypercall::net_write(self.handle, frame));
            IoError::check(ret)
        }

        /// Receives one frame into `buf` (at least [`frame_size`](Self::frame_size)
        /// bytes): `Some(len)`, or `None` when no frame is pending.
        pub fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, IoError> {
            if buf.len() < self.frame_size() {
                return Err(IoError::ShortBuffer);
            }
            let (ret, len) = match crate::netring::recv(self.handle, buf) {
                Some(result) => result,
                None => crate::hypercall::net_read(self.handle, buf),
            };
            match IoError::check(ret) {
                Ok(()) => Ok(Some(len)),
                Err(IoError::Again) => Ok(None),
                Err(e) => Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::manifest::{attach_net, encode_header, entry_range, Entry, ENTRY_SIZE, HEADER_SIZE};

    #[test]
    fn found_by_name_with_mac_and_mtu() {
        let entries = [Entry::RESERVED_FIRST, Entry::net("net0"), Entry::block("disk"), Entry::net("net1")];
        let mut b = vec![0u8; HEADER_SIZE + entries.len() * ENTRY_SIZE];
        encode_header(&mut b, 1, entries.len() as u32);
        for (i, e) in entries.iter().enumerate() {
            let r = entry_range(i);
            b[r.start..r.start + 68].copy_from_slice(&e.name);
            b[r.start + 68..r.start + 72].copy_from_slice(&e.ty.to_le_bytes());
        }
        attach_net(&mut b[entry_range(1)], [2, 0xab, 0, 0, 0, 1], 1500);
        attach_net(&mut b[entry_range(3)], [2, 0, 0, 0, 0, 2], 9000);
        let net = |n| manifest::find_in(&b, n).as_ref().and_then(NetDevice::from_device);
        let n0 = net("net0").unwrap();
        assert_eq!((n0.handle(), n0.mtu(), n0.frame_size()), (1, 1500, 1514));
        assert_eq!(n0.mac().to_string(), "02:ab:00:00:00:01");
        let n1 = net("net1").unwrap();
        assert_eq!((n1.handle(), n1.frame_size()), (3, 9014));
        assert_eq!(net("disk"), None);
        assert_eq!(net("net2"), None);
        assert_eq!(NetDevice::find("net0"), None, "no manifest before boot");
    }
}
