//! The static AArch64 tender, cross-built on this x86_64 machine with Debian's
//! Rust and its arm64 standard library (shared/TOOLCHAIN.md §2).

use crate::cargo_env::must_clear;
use crate::{run, setup};
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust target of the AArch64 tender.
pub const TRIPLE: &str = "aarch64-unknown-linux-gnu";
/// Debian's arm64 standard library for rustc-web, and the cross C toolchain
/// that links the static binary.
pub const PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "libstd-rust-web-dev:arm64",
    "gcc-aarch64-linux-gnu",
    "libc6-dev-arm64-cross",
];
/// The cross linker (from gcc-aarch64-linux-gnu).
const LINKER: &str = "aarch64-linux-gnu-gcc";
/// Debian's cargo and rustc, the ones that have an arm64 standard library.
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";

/// Makes dpkg accept arm64 packages (`dpkg --add-architecture arm64`), once.
pub fn ensure_arm64_architecture() -> Result<(), String> {
    let out = Command::new("dpkg")
        .arg("--print-foreign-architectures")
        .output()
        .map_err(|e| format!("could not run dpkg: {e}"))?;
    if String::from_utf8_lossy(&out.stdout).lines().any(|a| a.trim() == "arm64") {
        return Ok(());
    }
    if !setup::is_root() {
        return Err("dpkg does not know the arm64 architecture: run `sudo dpkg --add-architecture arm64 \
                    && sudo apt-get update`"
            .to_string());
    }
    println!("xtask: adding the arm64 architecture to dpkg (once)");
    run(Command::new("dpkg").args(["--add-architecture", "arm64"]))?;
    // The arm64 package lists must exist before anything :arm64 can be found.
    run(Command::new("apt-get").args(["update", "-q"]))
}

/// Installs the cross toolchain if anything is missing.
pub fn ensure_packages() -> Result<(), String> {
    ensure_arm64_architecture()?;
    setup::ensure(PACKAGES)
}

/// Cargo's environment for the cross build: Debian's rustc, the cross linker,
/// a static C runtime, and none of the host cargo's own settings.
fn cross_cargo(root: &Path) -> Command {
    let mut cmd = Command::new(DEBIAN_CARGO);
    cmd.current_dir(root);
    for (name, _) in env::vars_os() {
        if must_clear(&name) {
            cmd.env_remove(&name);
        }
    }
    cmd.env("RUSTC", DEBIAN_RUSTC)
        .env(linker_env_var(), LINKER)
        .env("RUSTFLAGS", "-C target-feature=+crt-static");
    cmd
}

/// `CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER`.
fn linker_env_var() -> String {
    format!("CARGO_TARGET_{}_LINKER", TRIPLE.to_uppercase().replace('-', "_"))
}

/// Where the static tender lands.
pub fn tender_path(root: &Path) -> PathBuf {
    root.join("target").join(TRIPLE).join("release").join("tender")
}

/// Builds `target/aarch64-unknown-linux-gnu/release/tender` and `tender-oci` beside it,
/// statically linked.
pub fn build_tender(root: &Path) -> Result<PathBuf, String> {
    println!("xtask: building the static aarch64 tender and tender-oci");
    run(cross_cargo(root).args([
        "build",
        "--release",
        "--locked",
        "-p",
        "tender",
        "-p",
        "tender-oci",
        "--target",
        TRIPLE,
    ]))?;
    let path = tender_path(root);
    if !path.is_file() {
        return Err(format!("the aarch64 build did not produce {}", path.display()));
    }
    Ok(path)
}

/// The integration-test binaries (`tests/tests/NAME.rs`) the arm64 VM runs: those whose
/// tests need nothing the VM lacks (iproute2 namespaces, gdb, curl, container engines).
pub const VM_SUITE: &[&str] = &["examples", "hostile", "loader", "cli", "block", "bounds", "seccomp"];

/// Cross-builds [`VM_SUITE`] statically for aarch64 (test profile); returns each binary as
/// (its name, its path).
pub fn build_suite(root: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    println!("xtask: building the integration suite for aarch64 ({})", VM_SUITE.join(", "));
    let mut cmd = cross_cargo(root);
    cmd.args([
        "test",
        "--no-run",
        "--locked",
        "-p",
        "tender-tests",
        "--target",
        TRIPLE,
        "--message-format=json",
    ]);
    for t in VM_SUITE {
        cmd.args(["--test", t]);
    }
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("the aarch64 build of the integration suite failed ({})", out.status));
    }
    let mut bins = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let (Some(name), Some(exe)) = (v["target"]["name"].as_str(), v["executable"].as_str()) else {
            continue;
        };
        if v["profile"]["test"] == true && VM_SUITE.contains(&name) {
            bins.push((name.to_string(), PathBuf::from(exe)));
        }
    }
    if bins.len() != VM_SUITE.len() {
        return Err(format!(
            "the aarch64 suite build gave {} of {} test binaries",
            bins.len(),
            VM_SUITE.len()
        ));
    }
    Ok(bins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linker_variable_and_output_path() {
        assert_eq!(linker_env_var(), "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER");
        assert_eq!(
            tender_path(Path::new("/r")),
            Path::new("/r/target/aarch64-unknown-linux-gnu/release/tender")
        );
        assert!(PACKAGES.iter().any(|p| p.ends_with(":arm64")));
    }
}
