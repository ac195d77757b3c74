//! Installs the Debian packages the build needs (shared/TOOLCHAIN.md §1):
//! idempotent, and a single `dpkg-query` when everything is already there.

use crate::run;
use std::process::Command;

/// What the tests need besides Rust: iproute2, ping and curl for the network tests
/// (namespaces, TAPs, traffic), acl and util-linux (nsenter) for the unprivileged and engine
/// tests, gdb for the core-dump and debugger tests, strace for the benchmark's count of
/// KVM_RUNs per packet.
pub const PACKAGES: &[&str] = &["iproute2", "iputils-ping", "curl", "acl", "util-linux", "gdb", "strace"];

/// Debian's Rust with its library source: the guest build's fallback where rustup cannot
/// fetch the `*-unknown-none` targets (-Zbuild-std, TOOLCHAIN.md §1).
pub const BUILD_STD_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "rust-web-src"];

/// The packages of `wanted` that are not installed. A name with an `:arch`
/// qualifier (a foreign architecture) must match exactly, as dpkg prints it.
fn missing(wanted: &[&'static str]) -> Vec<&'static str> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${binary:Package} ${db:Status-Status}\\n"])
        .args(wanted)
        .output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    let installed = |p: &str| {
        text.lines()
            .filter_map(|l| l.strip_suffix(" installed"))
            .any(|name| name == p || (!p.contains(':') && name.split(':').next() == Some(p)))
    };
    wanted.iter().copied().filter(|p| !installed(p)).collect()
}

/// True when running as root (installing packages is possible).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// Installs whatever is missing, or says exactly what to run when not root; and says which
/// toolchain builds the guests (installing Debian's Rust only if it is the fallback's).
pub fn ensure_packages() -> Result<(), String> {
    ensure(PACKAGES)?;
    let toolchain = crate::guest_toolchain::choose("x86_64-unknown-none")?;
    if toolchain == crate::guest_toolchain::Toolchain::BuildStd {
        ensure(BUILD_STD_PACKAGES)?;
    }
    println!("xtask: guests build with {toolchain}");
    Ok(())
}

/// Installs whichever of `wanted` are missing (one `dpkg-query` when none is).
pub fn ensure(wanted: &[&'static str]) -> Result<(), String> {
    let missing = missing(wanted);
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root() {
        return Err(format!(
            "missing Debian packages: {list}\n  install them with: sudo apt-get update && sudo apt-get install -y {list}"
        ));
    }
    println!("xtask: installing Debian packages: {list} (about a minute, once)");
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get").args(["install", "-y", "-q", "--no-install-recommends"]).args(&missing))
}
