//! The environment a host `cargo xtask` run must not hand down to the builds it starts with
//! another toolchain or for another target (guests, the aarch64 tender, the template crate).

use std::ffi::OsStr;

/// Environment a host `cargo xtask` run carries that must not reach the guest
/// build: cargo's own variables for the running package, build overrides
/// (target dir, target, flags, wrappers) and rustup's toolchain choice. Kept:
/// CARGO_HOME and the network/registry/terminal settings.
pub fn must_clear(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else { return false };
    const KEEP: &[&str] = &["CARGO_HOME", "CARGO_NET_", "CARGO_HTTP_", "CARGO_REGISTRIES_", "CARGO_TERM_"];
    const CLEAR: &[&str] = &[
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTUP_TOOLCHAIN",
    ];
    if CLEAR.contains(&name) || name.starts_with("__CARGO") {
        return true;
    }
    name.starts_with("CARGO_")
        && !KEEP.iter().any(|k| name == *k || (k.ends_with('_') && name.starts_with(k)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_cargo_environment_is_cleared() {
        for name in [
            "CARGO",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_TARGET_X86_64_UNKNOWN_NONE_LINKER",
            "RUSTFLAGS",
            "RUSTC_WRAPPER",
            "RUSTUP_TOOLCHAIN",
            "__CARGO_FIX_PLZ",
        ] {
            assert!(must_clear(OsStr::new(name)), "{name} should be cleared");
        }
        for name in
            ["CARGO_HOME", "CARGO_NET_OFFLINE", "CARGO_HTTP_PROXY", "CARGO_TERM_COLOR", "PATH", "HOME"]
        {
            assert!(!must_clear(OsStr::new(name)), "{name} should be kept");
        }
    }
}
