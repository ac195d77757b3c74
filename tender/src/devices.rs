//! The VM's devices by manifest handle: device options are checked against the
//! manifest (declared, same type), opened, and recorded in the manifest copy;
//! every declared device must end up attached (ABI.md §6).

use crate::block::{BlockConfig, BlockDevice, BlockError, DEFAULT_BLOCK_SIZE};
use crate::diag::Limited;
use crate::manifest::{DeviceKind, Manifest};
use crate::net::ring::{Backends, NetRing};
use crate::net::{NetConfig, NetDevice, NetError, NetSource, Tap};
use abi::hypercall::Ret;
use std::sync::Arc;

/// A device option that does not fit the image's manifest, or cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("Resource not declared in manifest: '{0}'")]
    NotDeclared(String),
    #[error("Resource '{name}' is declared in the manifest as a {declared} device, not {given}")]
    WrongKind { name: String, declared: &'static str, given: &'static str },
    #[error("Device(s) declared in the manifest but not attached: {0}")]
    NotAttached(String),
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error(transparent)]
    Net(#[from] NetError),
}

fn kind_name(k: DeviceKind) -> &'static str {
    match k {
        DeviceKind::Block => "block",
        DeviceKind::Net => "net",
    }
}

fn option_for(k: DeviceKind) -> &'static str {
    match k {
        DeviceKind::Block => "--block",
        DeviceKind::Net => "--net",
    }
}

/// One attached device, shared with the net ring's thread when there is one.
#[derive(Debug, Clone)]
pub enum Device {
    Block(Arc<BlockDevice>),
    Net(Arc<NetDevice>),
}

impl Device {
    fn block(&self) -> Option<&BlockDevice> {
        match self {
            Device::Block(b) => Some(b),
            Device::Net(_) => None,
        }
    }

    fn net(&self) -> Option<&NetDevice> {
        match self {
            Device::Net(n) => Some(n),
            Device::Block(_) => None,
        }
    }
}

/// The device at `handle` in a table indexed by manifest handle.
fn lookup(table: &[Option<Device>], handle: u32) -> Option<&Device> {
    table.get(handle as usize)?.as_ref()
}

/// Attached devices, indexed by their manifest handle, and the net ring serving them.
#[derive(Debug, Default)]
pub struct Devices {
    by_handle: Vec<Option<Device>>,
    ring: Option<NetRing>,
}

fn declared(manifest: &Manifest, name: &str, kind: DeviceKind) -> Result<usize, DeviceError> {
    let decl = manifest.find(name).ok_or_else(|| DeviceError::NotDeclared(name.into()))?;
    if decl.kind != kind {
        return Err(DeviceError::WrongKind {
            name: name.into(),
            declared: kind_name(decl.kind),
            given: kind_name(kind),
        });
    }
    Ok(decl.handle)
}

impl Devices {
    /// Checks that every `@FD` given for a net device is open, before tender opens any file
    /// of its own that could take a closed number (and make the error misleading).
    pub fn check_inherited_fds(nets: &[NetConfig]) -> Result<(), DeviceError> {
        for n in nets {
            if let NetSource::Fd(fd) = n.source {
                Tap::check_open(fd).map_err(|source| NetError::Tap { name: n.name.clone(), source })?;
            }
        }
        Ok(())
    }

    /// Checks every device option against the manifest, then opens each and fills
    /// in its manifest entry.
    pub fn attach(
        blocks: &[BlockConfig],
        nets: &[NetConfig],
        manifest: &mut Manifest,
    ) -> Result<Devices, DeviceError> {
        for b in blocks {
            declared(manifest, &b.name, DeviceKind::Block)?;
        }
        for n in nets {
            declared(manifest, &n.name, DeviceKind::Net)?;
        }
        // `launch` checked these before opening anything; a caller that did not gets it here.
        Self::check_inherited_fds(nets)?;
        let mut devices = Devices::default();
        for b in blocks {
            let handle = declared(manifest, &b.name, DeviceKind::Block)?;
            let dev = BlockDevice::open(&b.name, &b.path, b.sector_size.unwrap_or(DEFAULT_BLOCK_SIZE))?;
            manifest.attach_block(handle, dev.capacity, dev.block_size as u16);
            devices.insert(handle, Device::Block(Arc::new(dev)));
        }
        for n in nets {
            let handle = declared(manifest, &n.name, DeviceKind::Net)?;
            let dev = NetDevice::open(n)?;
            manifest.attach_net(handle, dev.mac, dev.mtu);
            devices.insert(handle, Device::Net(Arc::new(dev)));
        }
        Ok(devices)
    }

    fn insert(&mut self, handle: usize, dev: Device) {
        if self.by_handle.len() <= handle {
            self.by_handle.resize_with(handle + 1, || None);
        }
        self.by_handle[handle] = Some(dev);
    }

    /// The block device with this handle, if it is one (solo5-hvt truncates the guest's
    /// 64-bit handle to 32 bits before the lookup).
    pub fn block(&self, handle: u64) -> Option<&BlockDevice> {
        lookup(&self.by_handle, handle as u32)?.block()
    }

    /// The network device with this handle, if it is one (truncated as for `block`).
    pub fn net(&self, handle: u64) -> Option<&NetDevice> {
        lookup(&self.by_handle, handle as u32)?.net()
    }

    /// Every network device with its handle.
    pub fn nets(&self) -> impl Iterator<Item = (usize, &Arc<NetDevice>)> {
        self.by_handle.iter().enumerate().filter_map(|(h, d)| match d {
            Some(Device::Net(n)) => Some((h, n)),
            _ => None,
        })
    }

    /// The devices as the ring's thread reaches them.
    pub fn ring_devices(&self) -> RingDevices {
        RingDevices { by_handle: self.by_handle.clone(), drops: Limited::new() }
    }

    /// Hands the running net ring to the devices it serves (it stops when they go).
    pub fn set_net_ring(&mut self, ring: NetRing) {
        self.ring = Some(ring);
    }

    /// Stops the net ring's thread (and joins it), if there is one.
    pub fn stop_net_ring(&mut self) {
        self.ring = None;
    }

    /// The net ring, if one is offered.
    pub fn net_ring(&self) -> Option<&NetRing> {
        self.ring.as_ref()
    }

    /// The open files behind the devices, as (block fds, TAP fds): what the seccomp filter
    /// lets the guest's I/O reach.
    pub fn fds(&self) -> (Vec<std::os::fd::RawFd>, Vec<std::os::fd::RawFd>) {
        let (mut blocks, mut taps) = (Vec::new(), Vec::new());
        for dev in self.by_handle.iter().flatten() {
            match dev {
                Device::Block(b) => blocks.push(b.raw_fd()),
                Device::Net(n) => taps.push(n.tap.raw_fd()),
            }
        }
        (blocks, taps)
    }

    /// Makes all acknowledged block writes durable; logs (and returns false on) failure.
    pub fn flush_all(&self) -> bool {
        let mut ok = true;
        for dev in self.by_handle.iter().flatten() {
            if let Device::Block(b) = dev {
                if let Err(e) = b.flush() {
                    crate::diag::error(format_args!("block device '{}': flush failed: {e}", b.name));
                    ok = false;
                }
            }
        }
        ok
    }
}

/// The devices by manifest handle, as the ring's thread reaches them: a copy of the table,
/// the devices themselves shared.
#[derive(Debug)]
pub struct RingDevices {
    by_handle: Vec<Option<Device>>,
    drops: Limited,
}

impl Backends for RingDevices {
    fn send(&self, handle: u32, frame: &[u8]) -> Option<Ret> {
        Some(lookup(&self.by_handle, handle)?.net()?.send(frame))
    }
    fn receive(&self, handle: u32, buf: &mut [u8]) -> Option<(Ret, usize)> {
        Some(lookup(&self.by_handle, handle)?.net()?.receive(buf))
    }
    fn dropped(&self, why: std::fmt::Arguments<'_>) {
        self.drops.warn(why);
    }
    fn disk(&self, handle: u32) -> Option<&BlockDevice> {
        lookup(&self.by_handle, handle)?.block()
    }
}

/// Fails naming each declared device that no option attached.
pub fn check_all_attached(manifest: &Manifest) -> Result<(), DeviceError> {
    let missing: Vec<String> = manifest
        .unattached()
        .iter()
        .map(|d| format!("'{}' ({}, use {}:{}=...)", d.name, kind_name(d.kind), option_for(d.kind), d.name))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DeviceError::NotAttached(missing.join(", ")))
    }
}
