//! `cargo xtask new DIR`: a new unikernel crate outside this repository, on guest-rt from this
//! checkout, in which plain `cargo run -- ARGS` builds the image and boots it with tender,
//! `cargo build --target aarch64-unknown-none` builds the arm64 image, and `cargo check`,
//! `cargo clippy` and `cargo doc` work with the cargo on PATH (rustup's prebuilt targets; where
//! rustup cannot fetch them, the crate is set up for Debian's `-Zbuild-std` instead, and the
//! xtask says how to call it).

use crate::guest_toolchain::{self, Toolchain};
use std::path::{Path, PathBuf};

/// The crate's name: the directory's, as cargo accepts it.
fn crate_name(dir: &Path) -> Result<String, String> {
    let base =
        dir.file_name().and_then(|n| n.to_str()).ok_or(format!("{}: no usable name", dir.display()))?;
    let name: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("{base}: a crate name must start with a letter"));
    }
    Ok(name)
}

fn cargo_toml(name: &str, guest_rt: &Path) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"

[dependencies]
# guest-rt from a tender checkout (it uses the checkout's abi/ crate beside it).
# Add `features = ["smoltcp"]` for a TCP/IP stack on net devices.
guest-rt = {{ path = "{guest_rt}" }}

# Guests abort on panic (guest-rt reports it and exits 255).
[profile.dev]
panic = "abort"

[profile.release]
panic = "abort"
opt-level = "s"
"#,
        guest_rt = guest_rt.display()
    )
}

fn config_toml(tender: &Path, toolchain: Toolchain) -> String {
    let mut text = format!(
        r#"# Written by `cargo xtask new`. `cargo run -- ARGS` boots the image with tender; to attach
# devices, give them to the runner: runner = ["{tender}", "--block:storage=disk.img"].
[build]
target = "x86_64-unknown-none"   # `cargo build --target aarch64-unknown-none` for arm64

# Every hvt guest: a fixed-address executable (not the target's static-pie), laid out by
# guest-rt's linker script (its build script puts it on the linker's search path).
[target.x86_64-unknown-none]
rustflags = ["-C", "relocation-model=static", "-C", "link-arg=-Tguest-rt.ld"]
runner = "{tender}"

# lld's AArch64 default of 64 KiB pages would overlap the segments' aligned ranges.
[target.aarch64-unknown-none]
rustflags = ["-C", "relocation-model=static", "-C", "link-arg=-Tguest-rt.ld", "-C", "link-arg=-zmax-page-size=4096"]
runner = "tender"   # on an arm64 host: the tender built there (cargo install --path tender)
"#,
        tender = tender.display()
    );
    if toolchain == Toolchain::BuildStd {
        text.push_str(
            r#"
# rustup could not fetch the *-unknown-none targets on this machine: core and alloc are built
# from Debian's library source. Build with `RUSTC_BOOTSTRAP=1 /usr/bin/cargo ...`.
[unstable]
build-std = ["core", "alloc"]
build-std-features = ["compiler-builtins-mem"]
"#,
        );
    }
    text
}

fn main_rs(name: &str) -> String {
    format!(
        r#"//! {name}: a unikernel on tender's guest-rt. `cargo run -- a b` boots it with `a b`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::time::Duration;
use guest_rt::clock;
use guest_rt::println;

// The devices this unikernel uses, by name, e.g.
//     guest_rt::manifest!(block "storage", net "service");
// then find them with guest_rt::block::BlockDevice::find("storage") and
// guest_rt::net::NetDevice::find("service"), and attach them when booting:
//     tender --block:storage=disk.img --net:service=tap0 IMAGE
guest_rt::manifest!();
guest_rt::entry!(main);

fn main() -> i32 {{
    println!("Hello from {name}!");
    // The arguments after the image on tender's command line.
    let args: Vec<&str> = guest_rt::args().collect();
    println!("{{}} argument(s): {{:?}}", args.len(), args);
    // The heap: alloc's collections work as usual.
    let squares: Vec<u64> = (1..=10).map(|i| i * i).collect();
    println!("sum of squares: {{}}", squares.iter().sum::<u64>());
    // Clocks: monotonic since boot, and the wall clock.
    let start = clock::monotonic_ns();
    clock::sleep(Duration::from_millis(10));
    println!("slept {{}} us; wall clock {{}} s since the epoch", (clock::monotonic_ns() - start) / 1000, clock::wallclock_ns() / 1_000_000_000);
    // The exit status: 0 success, 1 failure, 255 abort (a panic ends here with 255).
    0
}}
"#
    )
}

/// Writes the crate; refuses a directory that exists and is not empty.
pub fn new(root: &Path, args: &[String]) -> Result<PathBuf, String> {
    let [dir] = args else { return Err("new needs one DIR (the new crate's directory)".into()) };
    let dir = std::path::absolute(dir).map_err(|e| format!("{dir}: {e}"))?;
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(format!("{}: exists and is not empty", dir.display()));
    }
    if dir.starts_with(root) {
        return Err(format!(
            "{}: make it outside this repository (its own crate, its own target/)",
            dir.display()
        ));
    }
    let name = crate_name(&dir)?;
    let toolchain = if guest_toolchain::rustup_has_target("x86_64-unknown-none") {
        // Fetch the arm64 target too, so `--target aarch64-unknown-none` works at once.
        guest_toolchain::rustup_has_target("aarch64-unknown-none");
        Toolchain::Prebuilt
    } else {
        Toolchain::BuildStd
    };
    let tender = root.join("target/release/tender");
    let write = |rel: &str, text: String| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("inside dir"))
            .and_then(|()| std::fs::write(&p, text))
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    write("Cargo.toml", cargo_toml(&name, &root.join("guest-rt")))?;
    write(".cargo/config.toml", config_toml(&tender, toolchain))?;
    write("src/main.rs", main_rs(&name))?;
    write(".gitignore", "/target\n".into())?;
    println!("xtask: wrote the unikernel crate {name} in {}", dir.display());
    println!("xtask: it builds with {toolchain}");
    match toolchain {
        Toolchain::Prebuilt => println!("  cd {} && cargo run -- a b", dir.display()),
        Toolchain::BuildStd => println!(
            "  cd {} && RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc /usr/bin/cargo run -- a b",
            dir.display()
        ),
    }
    if !tender.exists() {
        println!("  (its runner is {}: run `cargo xtask build` here first)", tender.display());
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_directory() {
        assert_eq!(crate_name(Path::new("/tmp/my unikernel")).unwrap(), "my-unikernel");
        assert!(crate_name(Path::new("/tmp/1st")).is_err());
    }

    #[test]
    fn the_fallback_config_builds_std() {
        let c = config_toml(Path::new("/t/tender"), Toolchain::BuildStd);
        assert!(c.contains("build-std = [\"core\", \"alloc\"]") && c.contains("runner = \"/t/tender\""));
        assert!(!config_toml(Path::new("/t/tender"), Toolchain::Prebuilt).contains("[unstable]"));
    }
}
