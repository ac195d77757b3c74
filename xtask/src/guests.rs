//! Builds the example unikernels (guest-rt + examples/) for `<arch>-unknown-none`.
//!
//! With rustup's prebuilt `core`/`alloc` for the target (see `guest_toolchain`), this is a
//! plain `cargo build --target`. Where rustup cannot fetch targets, the guests need
//! `-Zbuild-std`, which only Debian's Rust has the library source for (TOOLCHAIN.md §1):
//! then this runs `/usr/bin/cargo` with
//! `RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1`, in `examples/` (whose
//! `.cargo/config.toml` adds the static relocation model and guest-rt's linker
//! script), with a linker found on this machine, its own target directory
//! `target/guest-build`, and none of the host cargo's environment. Each binary
//! is then copied to `target/unikernels/<arch>/<example>.hvt`.
//!
//! Crates from crates.io come from one local directory source, so Debian's cargo
//! builds offline: `target/guest-vendor/source` holds the standard library's
//! dependencies (the source package's `vendor/`) next to the examples' own
//! (smoltcp and its dependencies, pinned by the committed `examples/Cargo.lock`),
//! which the host's cargo vendors into `target/guest-vendor/crates` when the lock
//! file changes (the only step that may need the network). Nothing third-party
//! is committed.

use crate::cargo_env::must_clear;
use crate::guest_toolchain::{self, Toolchain};
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The example unikernels, in the order they are built and listed.
pub const EXAMPLES: &[&str] =
    &["hello", "time", "abort", "fault", "globals", "blk", "ping", "http", "echo", "multi", "bench"];

/// Architectures guest-rt has a port for.
const PORTED_ARCHES: &[&str] = &["x86_64", "aarch64"];
/// Debian's cargo and rustc (rustup's have no library source for build-std).
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
/// The standard library source from `rust-web-src`, and its vendored dependencies.
const STD_SOURCE: &str = "/usr/lib/rustlib/src/rust/library";
/// Debian's LLVM linker, used when rustup's rust-lld is not there.
const FALLBACK_LINKERS: &[&str] = &["ld.lld-16", "ld.lld"];
/// What to install when the toolchain is missing.
const APT_HINT: &str = "apt-get install rustc-web cargo-web rust-web-src lld-16 (or `cargo xtask setup`)";

/// Builds every example for `arch` and returns the `.hvt` images it wrote.
pub fn build_guests(root: &Path, arch: &str, release: bool) -> Result<Vec<PathBuf>, String> {
    let triple = target_triple(arch)?;
    let built_dir = match guest_toolchain::choose(&triple)? {
        Toolchain::Prebuilt => guest_toolchain::build_prebuilt(root, &triple, release)?,
        Toolchain::BuildStd => build_std(root, &triple, release)?,
    };
    let out_dir = root.join("target").join("unikernels").join(arch);
    fs::create_dir_all(&out_dir).map_err(|e| format!("could not create {}: {e}", out_dir.display()))?;
    let mut images = Vec::with_capacity(EXAMPLES.len());
    for example in EXAMPLES {
        let from = built_dir.join(example);
        let to = out_dir.join(format!("{example}.hvt"));
        fs::copy(&from, &to)
            .map_err(|e| format!("could not copy {} to {}: {e}", from.display(), to.display()))?;
        images.push(to);
    }
    Ok(images)
}

/// The fallback where rustup cannot fetch the `*-unknown-none` targets: Debian's Rust builds
/// `core` and `alloc` from its library source. Returns where the binaries are.
fn build_std(root: &Path, triple: &str, release: bool) -> Result<PathBuf, String> {
    crate::setup::ensure(crate::setup::BUILD_STD_PACKAGES)?;
    let triple = triple.to_string();
    for tool in [DEBIAN_CARGO, DEBIAN_RUSTC, STD_SOURCE] {
        if !Path::new(tool).exists() {
            return Err(format!("guest build needs {tool}, which is missing: {APT_HINT}"));
        }
    }
    let linker = find_linker()?;
    let target_dir = root.join("target").join("guest-build");

    let mut cmd = Command::new(DEBIAN_CARGO);
    cmd.current_dir(root.join("examples"));
    for (name, _) in env::vars_os() {
        if must_clear(&name) {
            cmd.env_remove(&name);
        }
    }
    cmd.env("RUSTC", DEBIAN_RUSTC).env("RUSTC_BOOTSTRAP", "1").env(linker_env_var(&triple), &linker);
    cmd.args(["build", "--locked", "--target", &triple])
        .args(["-Zbuild-std=core,alloc", "-Zbuild-std-features=compiler-builtins-mem"])
        .arg("--target-dir")
        .arg(&target_dir);
    let std_vendor = Path::new(STD_SOURCE).join("vendor");
    if std_vendor.is_dir() {
        let source = guest_sources(root, &std_vendor)?;
        cmd.arg("--offline").args(vendor_config(&source));
    }
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(|e| format!("could not start {DEBIAN_CARGO}: {e}"))?;
    if !status.success() {
        return Err(format!("guest build for {triple} failed ({status}); see the cargo output above"));
    }
    Ok(built_dir(&target_dir, &triple, release))
}

/// `<arch>-unknown-none`, for the architectures guest-rt supports.
pub fn target_triple(arch: &str) -> Result<String, String> {
    if PORTED_ARCHES.contains(&arch) {
        Ok(format!("{arch}-unknown-none"))
    } else {
        Err(format!("unknown guest architecture '{arch}' (supported: {})", PORTED_ARCHES.join(", ")))
    }
}

/// Cargo's per-target linker variable, e.g. `CARGO_TARGET_X86_64_UNKNOWN_NONE_LINKER`.
fn linker_env_var(triple: &str) -> String {
    format!("CARGO_TARGET_{}_LINKER", triple.to_uppercase().replace(['-', '.'], "_"))
}

/// Where cargo leaves the binaries.
fn built_dir(target_dir: &Path, triple: &str, release: bool) -> PathBuf {
    target_dir.join(triple).join(if release { "release" } else { "debug" })
}

/// The directory source of every crates.io crate the guest build uses (see the
/// module docs): the examples' crates vendored by the host's cargo (again only
/// when `examples/Cargo.lock` changed), merged by symlinks with `std_vendor`.
fn guest_sources(root: &Path, std_vendor: &Path) -> Result<PathBuf, String> {
    let base = root.join("target").join("guest-vendor");
    let crates = base.join("crates");
    let stamp = base.join("vendored-from-Cargo.lock");
    let lock_path = root.join("examples").join("Cargo.lock");
    let lock = fs::read(&lock_path).map_err(|e| format!("could not read {}: {e}", lock_path.display()))?;
    if fs::read(&stamp).ok().as_ref() != Some(&lock) || !crates.is_dir() {
        vendor_examples(root, &crates)?;
        fs::write(&stamp, &lock).map_err(|e| format!("could not write {}: {e}", stamp.display()))?;
    }
    let merged = base.join("source");
    merge_sources(&[std_vendor, &crates], &merged)?;
    Ok(merged)
}

/// `cargo vendor` of the examples' crates.io dependencies into `into`, with the
/// cargo running xtask (rustup's: it can fetch; `--locked`: the committed lock
/// file decides every version).
fn vendor_examples(root: &Path, into: &Path) -> Result<(), String> {
    println!("xtask: vendoring the examples' crates.io dependencies into {}", into.display());
    let mut cmd = Command::new(env!("CARGO"));
    for (name, _) in env::vars_os() {
        if must_clear(&name) {
            cmd.env_remove(&name);
        }
    }
    let out = cmd
        .current_dir(root.join("examples"))
        .args(["vendor", "--locked", "--versioned-dirs", "--quiet"])
        .arg(into)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start {}: {e}", env!("CARGO")))?;
    if !out.status.success() {
        return Err(format!(
            "cargo vendor for the examples failed ({}); it needs crates.io once per change of \
             examples/Cargo.lock",
            out.status
        ));
    }
    Ok(())
}

/// Makes `merged` a directory with a symlink to every crate directory of
/// `sources`; the first source wins a name both have (same name and version,
/// with `--versioned-dirs`: the same crate).
fn merge_sources(sources: &[&Path], merged: &Path) -> Result<(), String> {
    let err = |what: &str, p: &Path, e: std::io::Error| format!("could not {what} {}: {e}", p.display());
    if merged.exists() {
        fs::remove_dir_all(merged).map_err(|e| err("remove", merged, e))?;
    }
    fs::create_dir_all(merged).map_err(|e| err("create", merged, e))?;
    for source in sources {
        for entry in fs::read_dir(source).map_err(|e| err("read", source, e))? {
            let entry = entry.map_err(|e| err("read", source, e))?;
            let link = merged.join(entry.file_name());
            if entry.path().join("Cargo.toml").is_file() && !link.exists() {
                std::os::unix::fs::symlink(entry.path(), &link).map_err(|e| err("create", &link, e))?;
            }
        }
    }
    Ok(())
}

/// `--config` arguments that take crates.io crates from the directory source
/// `source` (see [`guest_sources`]).
fn vendor_config(source: &Path) -> [String; 4] {
    [
        "--config".to_string(),
        "source.crates-io.replace-with='guest-vendor'".to_string(),
        "--config".to_string(),
        format!("source.guest-vendor.directory='{}'", source.display()),
    ]
}

/// rustup's rust-lld (inside the stable toolchain's sysroot), else `ld.lld-16`.
fn find_linker() -> Result<PathBuf, String> {
    if let Some(lld) = rustup_lld() {
        return Ok(lld);
    }
    let path = env::var_os("PATH").unwrap_or_default();
    for name in FALLBACK_LINKERS {
        if let Some(found) = env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()) {
            return Ok(found);
        }
    }
    Err(format!("no linker for guests: neither rustup's rust-lld nor ld.lld-16 was found: {APT_HINT}"))
}

fn rustup_lld() -> Option<PathBuf> {
    let out = Command::new("rustup")
        .args(["run", "stable", "rustc", "--print", "sysroot"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let sysroot = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    // The host triple's directory: lib/rustlib/<host>/bin/rust-lld.
    fs::read_dir(sysroot.join("lib").join("rustlib"))
        .ok()?
        .filter_map(|d| Some(d.ok()?.path().join("bin").join("rust-lld")))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triples_and_linker_variables() {
        assert_eq!(target_triple("x86_64").unwrap(), "x86_64-unknown-none");
        assert_eq!(target_triple("aarch64").unwrap(), "aarch64-unknown-none");
        assert!(target_triple("riscv64").is_err());
        assert_eq!(linker_env_var("x86_64-unknown-none"), "CARGO_TARGET_X86_64_UNKNOWN_NONE_LINKER");
        assert_eq!(
            built_dir(Path::new("/r/target/guest-build"), "x86_64-unknown-none", true),
            Path::new("/r/target/guest-build/x86_64-unknown-none/release")
        );
    }

    #[test]
    fn merged_source_links_every_crate_once() {
        let dir = env::temp_dir().join(format!("xtask-merge-{}", std::process::id()));
        let (std_vendor, crates, merged) = (dir.join("std"), dir.join("crates"), dir.join("source"));
        for (src, name) in
            [(&std_vendor, "cfg-if-1.0.4"), (&crates, "cfg-if-1.0.4"), (&crates, "smoltcp-0.14.0")]
        {
            fs::create_dir_all(src.join(name)).unwrap();
            fs::write(src.join(name).join("Cargo.toml"), format!("# {}", src.display())).unwrap();
        }
        fs::create_dir_all(crates.join("not-a-crate")).unwrap();
        fs::create_dir_all(merged.join("stale-1.0.0")).unwrap();
        merge_sources(&[&std_vendor, &crates], &merged).unwrap();
        let mut names: Vec<String> =
            fs::read_dir(&merged).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["cfg-if-1.0.4", "smoltcp-0.14.0"]);
        assert_eq!(fs::read_link(merged.join("cfg-if-1.0.4")).unwrap(), std_vendor.join("cfg-if-1.0.4"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn examples_are_unique() {
        let mut names = EXAMPLES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EXAMPLES.len());
    }
}
