//! What a network device is attached to: the net device's own configuration,
//! built by the command line (or any other front end) and read by `NetDevice::open`.

/// Where a network device's TAP comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetSource {
    /// A TAP interface by name.
    Iface(String),
    /// An already-open TAP file descriptor (`@FD`).
    Fd(i32),
}

/// One network device: its manifest name, its TAP and an optional MAC (else one is made up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    pub name: String,
    pub source: NetSource,
    pub mac: Option<[u8; 6]>,
}
