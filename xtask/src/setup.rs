//! Installs the Debian packages the build needs (shared/TOOLCHAIN.md §1):
//! idempotent, and a single `dpkg-query` when everything is already there.

use crate::run;
use std::process::Command;

/// Debian's Rust with its library source (for -Zbuild-std of the no_std guests),
/// and iproute2, ping and curl for the network tests (namespaces, TAPs, traffic).
pub const PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "iproute2",
    "iputils-ping",
    "curl",
    "acl",
    "util-linux",
    "gdb",
];

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

/// Installs whatever is missing, or says exactly what to run when not root.
pub fn ensure_packages() -> Result<(), String> {
    ensure(PACKAGES)
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
