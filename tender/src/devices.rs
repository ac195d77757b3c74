//! Device options against the manifest: every device given must be declared with
//! the matching type, and every declared device must be attached (ABI.md §6).

use crate::cli::Config;
use crate::manifest::{DeviceKind, Manifest};

/// A device option that does not fit the image's manifest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("Resource not declared in manifest: '{0}'")]
    NotDeclared(String),
    #[error("Resource '{name}' is declared in the manifest as a {declared} device, not {given}")]
    WrongKind { name: String, declared: &'static str, given: &'static str },
    #[error("{0} devices are not supported yet by this tender")]
    NotSupported(&'static str),
    #[error("Device(s) declared in the manifest but not attached: {0}")]
    NotAttached(String),
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

/// Checks each device option against the manifest and attaches it.
pub fn attach(cfg: &Config, manifest: &mut Manifest) -> Result<(), DeviceError> {
    let given = cfg
        .blocks
        .iter()
        .map(|b| (&b.name, DeviceKind::Block))
        .chain(cfg.nets.iter().map(|n| (&n.name, DeviceKind::Net)));
    for (name, kind) in given {
        let decl = manifest.find(name).ok_or_else(|| DeviceError::NotDeclared(name.clone()))?;
        if decl.kind != kind {
            return Err(DeviceError::WrongKind {
                name: name.clone(),
                declared: kind_name(decl.kind),
                given: kind_name(kind),
            });
        }
    }
    if !cfg.blocks.is_empty() {
        return Err(DeviceError::NotSupported("Block"));
    }
    if !cfg.nets.is_empty() {
        return Err(DeviceError::NotSupported("Network"));
    }
    Ok(())
}

/// Fails naming each declared device that no option attached.
pub fn check_all_attached(manifest: &Manifest) -> Result<(), DeviceError> {
    let missing: Vec<String> = manifest
        .unattached()
        .iter()
        .map(|d| format!("'{}' ({} {}:{}=...)", d.name, kind_name(d.kind), option_for(d.kind), d.name))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DeviceError::NotAttached(missing.join(", ")))
    }
}
