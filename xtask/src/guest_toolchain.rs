//! Which toolchain builds the `*-unknown-none` guests: rustup's prebuilt `core`/`alloc` for the
//! target where rustup has them or can fetch them (a plain `cargo build --target`, seconds),
//! else Debian's Rust with `-Zbuild-std` (TOOLCHAIN.md §1; the fallback for machines where
//! rustup cannot download targets). `TENDER_GUEST_TOOLCHAIN=prebuilt|build-std` forces one.

use crate::cargo_env::must_clear;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How guests are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toolchain {
    /// rustup's `rust-std` for the target: stable cargo, no build-std.
    Prebuilt,
    /// Debian's cargo and rustc with `-Zbuild-std`.
    BuildStd,
}

impl std::fmt::Display for Toolchain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Toolchain::Prebuilt => "rustup's prebuilt target (stable cargo, no build-std)",
            Toolchain::BuildStd => "Debian's Rust with -Zbuild-std (rustup cannot fetch the target here)",
        })
    }
}

fn rustup(args: &[&str]) -> Option<std::process::Output> {
    Command::new("rustup").args(args).stdin(Stdio::null()).stderr(Stdio::null()).output().ok()
}

/// True if rustup's toolchain has `triple`'s standard library, fetching it if it can.
pub fn rustup_has_target(triple: &str) -> bool {
    let installed =
        |o: std::process::Output| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == triple);
    if rustup(&["target", "list", "--installed"]).is_some_and(installed) {
        return true;
    }
    rustup(&["target", "add", triple]).is_some_and(|o| o.status.success())
}

/// The toolchain for `triple` on this machine.
pub fn choose(triple: &str) -> Result<Toolchain, String> {
    match std::env::var("TENDER_GUEST_TOOLCHAIN").as_deref() {
        Ok("prebuilt") => return Ok(Toolchain::Prebuilt),
        Ok("build-std") => return Ok(Toolchain::BuildStd),
        Ok(other) if !other.is_empty() => {
            return Err(format!("TENDER_GUEST_TOOLCHAIN={other}: expected prebuilt or build-std"));
        }
        _ => {}
    }
    Ok(if rustup_has_target(triple) { Toolchain::Prebuilt } else { Toolchain::BuildStd })
}

/// Builds the examples with the cargo running xtask (rustup's) and returns where the
/// binaries are. The linker is rustup's `rust-lld`, which the targets name themselves.
pub fn build_prebuilt(root: &Path, triple: &str, release: bool) -> Result<PathBuf, String> {
    let target_dir = root.join("target").join("guest-prebuilt");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root.join("examples"));
    for (name, _) in std::env::vars_os() {
        if must_clear(&name) {
            cmd.env_remove(&name);
        }
    }
    cmd.args(["build", "--locked", "--target", triple]).arg("--target-dir").arg(&target_dir);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(|e| format!("could not start {}: {e}", env!("CARGO")))?;
    if !status.success() {
        return Err(format!("guest build for {triple} failed ({status}); see the cargo output above"));
    }
    Ok(target_dir.join(triple).join(if release { "release" } else { "debug" }))
}
