//! Network devices: a TAP per device, with its MAC and MTU for the manifest.

pub mod config;
pub mod ring;
pub mod tap;

use crate::diag::Limited;
use abi::hypercall::Ret;
pub use config::{NetConfig, NetSource};
use std::os::fd::FromRawFd;
pub use tap::{Tap, TapError};

/// Why a network device could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("Network device '{name}'")]
    Tap {
        name: String,
        #[source]
        source: TapError,
    },
    #[error("Network device '{name}': could not read a random MAC from /dev/urandom")]
    RandomMac {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Network device '{name}': MTU {mtu} of '{iface}' is out of range")]
    Mtu { name: String, iface: String, mtu: u32 },
}

/// An attached network device.
#[derive(Debug)]
pub struct NetDevice {
    pub name: String,
    pub tap: Tap,
    pub mac: [u8; 6],
    pub mtu: u16,
    io_errors: Limited,
}

/// A random locally administered unicast MAC (ABI.md §6).
pub fn random_mac() -> std::io::Result<[u8; 6]> {
    use std::io::Read;
    let mut mac = [0u8; 6];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut mac)?;
    mac[0] = (mac[0] & 0xFE) | 0x02;
    Ok(mac)
}

impl NetDevice {
    /// Opens the TAP named or passed by `opt`.
    pub fn open(opt: &NetConfig) -> Result<NetDevice, NetError> {
        let name = opt.name.clone();
        let tap = match &opt.source {
            NetSource::Iface(iface) => Tap::open(iface),
            // SAFETY: `@FD` hands this descriptor to tender for the VM's life (solo5-hvt's
            // contract); `Devices::check_inherited_fds` proved it open before tender opened
            // any file of its own (so the number is the user's), and the command line lets
            // only one device name it: this is its one owner.
            NetSource::Fd(fd) => Tap::from_fd(unsafe { std::os::fd::OwnedFd::from_raw_fd(*fd) }),
        }
        .map_err(|source| NetError::Tap { name: name.clone(), source })?;
        let mtu = u16::try_from(tap.mtu).ok().filter(|m| *m >= 68).ok_or_else(|| NetError::Mtu {
            name: name.clone(),
            iface: tap.name.clone(),
            mtu: tap.mtu,
        })?;
        let mac = match opt.mac {
            Some(mac) => mac,
            None => random_mac().map_err(|source| NetError::RandomMac { name: name.clone(), source })?,
        };
        Ok(NetDevice { name, tap, mac, mtu, io_errors: Limited::new() })
    }

    /// Sends one frame for the guest.
    pub fn send(&self, frame: &[u8]) -> Ret {
        match self.tap.write(frame) {
            Ok(n) if n == frame.len() => Ret::Ok,
            Ok(n) => {
                self.io_errors.warn(format_args!(
                    "net device '{}': short write ({n} of {} bytes)",
                    self.name,
                    frame.len()
                ));
                Ret::Eunspec
            }
            Err(e) => {
                self.io_errors.warn(format_args!("net device '{}': write failed: {e}", self.name));
                Ret::Eunspec
            }
        }
    }

    /// Receives one frame into `buf`: `(Ok, len)`, or `Again` when none is pending.
    pub fn receive(&self, buf: &mut [u8]) -> (Ret, usize) {
        match self.tap.read(buf) {
            Ok(0) => (Ret::Again, 0),
            Ok(n) => (Ret::Ok, n),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::Interrupted =>
            {
                (Ret::Again, 0)
            }
            Err(e) => {
                self.io_errors.warn(format_args!("net device '{}': read failed: {e}", self.name));
                (Ret::Eunspec, 0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_macs_are_local_unicast_and_differ() {
        let a = random_mac().unwrap();
        let b = random_mac().unwrap();
        assert_eq!(a[0] & 0x03, 0x02);
        assert_ne!(a, b);
    }
}
