//! TAP interfaces: open by name or adopt a passed-in fd, `IFF_TAP | IFF_NO_PI`,
//! non-blocking, offloads off, MTU read from the interface (ABI.md §6). The ioctls go
//! through rust-vmm's `vmm-sys-util` helpers (typed argument, fd borrowed).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use vmm_sys_util::ioctl::{ioctl_with_mut_ref, ioctl_with_val};

/// Why a TAP could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error("TAP interface name '{0}' is too long (at most {max} characters)", max = libc::IFNAMSIZ - 1)]
    NameTooLong(String),
    #[error("TAP interface '{0}' does not exist (create it with: ip tuntap add {0} mode tap)")]
    NoSuchInterface(String),
    #[error("TAP interface '{0}' is down (bring it up with: ip link set {0} up)")]
    Down(String),
    #[error("Could not query interface '{name}'")]
    Query {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("Could not open /dev/net/tun")]
    OpenTun(#[source] io::Error),
    #[error("Could not attach to TAP interface '{name}' (is it a TAP device, and free?)")]
    Attach {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("TAP interface '{wanted}' came back as '{got}'")]
    NameMismatch { wanted: String, got: String },
    #[error("File descriptor {fd} is not an open TAP device")]
    NotTapFd {
        fd: RawFd,
        #[source]
        source: io::Error,
    },
    #[error("File descriptor {0} is a TUN device, not a TAP device")]
    TunNotTap(RawFd),
    #[error(
        "File descriptor {0} is a TAP opened with packet headers (it needs IFF_NO_PI and no IFF_VNET_HDR)"
    )]
    Headers(RawFd),
    #[error("File descriptor {0} is not open")]
    NotOpen(RawFd),
    #[error("Could not configure TAP '{name}'")]
    Configure {
        name: String,
        #[source]
        source: io::Error,
    },
}

/// An open, non-blocking TAP.
#[derive(Debug)]
pub struct Tap {
    pub name: String,
    pub mtu: u32,
    file: File,
}

fn ifreq(name: &str) -> Result<libc::ifreq, TapError> {
    if name.len() >= libc::IFNAMSIZ || name.as_bytes().contains(&0) {
        return Err(TapError::NameTooLong(name.into()));
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    Ok(req)
}

fn ifreq_name(req: &libc::ifreq) -> String {
    // c_char is i8 on x86_64 and u8 on AArch64: the cast is a no-op on one of them.
    #[allow(clippy::unnecessary_cast)]
    let bytes: Vec<u8> = req.ifr_name.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Runs a `SIOCGIF*` query on a throwaway socket.
fn query(name: &str, request: libc::c_ulong) -> Result<libc::ifreq, TapError> {
    let mut req = ifreq(name)?;
    // SAFETY: a plain socket(2) call; the result is checked and owned below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(TapError::Query { name: name.into(), source: io::Error::last_os_error() });
    }
    // SAFETY: `sock` is a fresh descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    // SAFETY: SIOCGIF* requests read the name from and write one field of `req`,
    // a properly sized ifreq that lives across the call.
    let rc = unsafe { ioctl_with_mut_ref(&sock, request as _, &mut req) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ENODEV) => TapError::NoSuchInterface(name.into()),
            _ => TapError::Query { name: name.into(), source: e },
        });
    }
    Ok(req)
}

fn mtu_of(name: &str) -> Result<u32, TapError> {
    let req = query(name, libc::SIOCGIFMTU)?;
    // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member.
    Ok(unsafe { req.ifr_ifru.ifru_mtu } as u32)
}

fn configure(tap: BorrowedFd<'_>, name: &str) -> Result<(), TapError> {
    let err = |source| TapError::Configure { name: name.into(), source };
    let fd = tap.as_raw_fd();
    // SAFETY: fcntl on a descriptor we hold; no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    // No GRO/GSO: the guest sees plain frames of at most MTU bytes.
    // SAFETY: TUNSETOFFLOAD takes its argument by value.
    if unsafe { ioctl_with_val(&tap, libc::TUNSETOFFLOAD as _, 0) } < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    Ok(())
}

impl Tap {
    /// Attaches to the existing, up TAP interface `name`.
    pub fn open(name: &str) -> Result<Tap, TapError> {
        let flags = query(name, libc::SIOCGIFFLAGS)?;
        // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member.
        if i32::from(unsafe { flags.ifr_ifru.ifru_flags }) & libc::IFF_UP == 0 {
            return Err(TapError::Down(name.into()));
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(TapError::OpenTun)?;
        let mut req = ifreq(name)?;
        req.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads and updates `req`, a valid ifreq on our stack.
        if unsafe { ioctl_with_mut_ref(&file, libc::TUNSETIFF as _, &mut req) } < 0 {
            return Err(TapError::Attach { name: name.into(), source: io::Error::last_os_error() });
        }
        let got = ifreq_name(&req);
        if got != name {
            return Err(TapError::NameMismatch { wanted: name.into(), got });
        }
        configure(file.as_fd(), name)?;
        Ok(Tap { name: name.into(), mtu: mtu_of(name)?, file })
    }

    /// Adopts an already-open TAP (`--net:NAME=@FD`, owned by tender from then on); the
    /// interface name and MTU are asked of the kernel (solo5-hvt never read the MTU here).
    pub fn from_fd(owned: OwnedFd) -> Result<Tap, TapError> {
        let fd = owned.as_raw_fd();
        // SAFETY: an all-zero ifreq is valid; TUNGETIFF fills it for a TUN/TAP fd and
        // fails with EBADF/EINVAL/ENOTTY for anything else, touching nothing.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { ioctl_with_mut_ref(&owned, libc::TUNGETIFF as _, &mut req) } < 0 {
            return Err(TapError::NotTapFd { fd, source: io::Error::last_os_error() });
        }
        // SAFETY: TUNGETIFF filled `ifru_flags`.
        let flags = i32::from(unsafe { req.ifr_ifru.ifru_flags });
        if flags & libc::IFF_TAP == 0 {
            return Err(TapError::TunNotTap(fd));
        }
        // Frames must be bare Ethernet both ways: no packet-info or virtio-net header.
        if flags & libc::IFF_NO_PI == 0 || flags & libc::IFF_VNET_HDR != 0 {
            return Err(TapError::Headers(fd));
        }
        let name = ifreq_name(&req);
        configure(owned.as_fd(), &name)?;
        let mtu = mtu_of(&name)?;
        Ok(Tap { name, mtu, file: File::from(owned) })
    }

    /// Fails unless `fd` is an open descriptor. Checked for every `@FD` before tender
    /// opens anything, so a closed number cannot be taken by one of tender's own files.
    pub fn check_open(fd: RawFd) -> Result<(), TapError> {
        // SAFETY: F_GETFD only reads the descriptor flags; no memory is passed.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(TapError::NotOpen(fd));
        }
        Ok(())
    }

    /// The descriptor, for polling.
    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Reads one frame; `Ok(0)` or `WouldBlock` when nothing is pending.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::Read;
        (&self.file).read(buf)
    }

    /// Writes one frame.
    pub fn write(&self, frame: &[u8]) -> io::Result<usize> {
        use std::io::Write;
        (&self.file).write(frame)
    }
}

use std::os::unix::fs::OpenOptionsExt;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(matches!(Tap::open("a-very-long-interface-name"), Err(TapError::NameTooLong(_))));
        assert!(matches!(Tap::open("tendernope0"), Err(TapError::NoSuchInterface(_))));
    }

    #[test]
    fn loopback_is_not_a_tap() {
        // `lo` exists and is up, but TUNSETIFF refuses it (or we lack the right).
        assert!(Tap::open("lo").is_err());
        let not_a_tap = OwnedFd::from(File::open("/dev/null").unwrap());
        assert!(matches!(Tap::from_fd(not_a_tap), Err(TapError::NotTapFd { .. })));
    }
}
