//! `cargo xtask`: one entry point for setting up, building, running and testing tender.
//!
//! - `cargo xtask run hello [ARGS...]`: install what is missing, build, boot an example.
//! - `cargo xtask build`: tender at `target/release/tender`, guests at
//!   `target/unikernels/<arch>/<example>.hvt`.
//! - `cargo xtask build --arch aarch64`: the static AArch64 tender at
//!   `target/aarch64-unknown-linux-gnu/release/tender`, guests at `target/unikernels/aarch64/`.
//! - `cargo xtask test`: every check and test (what CI runs), then the AArch64 suite.
//! - `cargo xtask test x86_64 [FILTER]` / `cargo xtask test aarch64`: one architecture only.
//! - `cargo xtask setup`: only install the Debian packages the guest build needs.

mod aarch64;
mod bench;
mod cargo_env;
mod fuzz;
mod guest_toolchain;
mod guests;
mod image;
mod new;
mod oci;
mod setup;
mod tally;
mod template;
mod test;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  setup                 install the Debian packages the guest build needs (idempotent)
  build                 build tender and tender-oci (target/release/, static) and every
                        example unikernel (target/unikernels/x86_64/<example>.hvt)
  build --arch aarch64  build the static AArch64 tender (target/aarch64-unknown-linux-gnu/
                        release/tender) and the examples (target/unikernels/aarch64/)
  run EXAMPLE [ARGS..]  build, then boot examples/EXAMPLE with tender, passing ARGS
  new DIR               write a new unikernel crate in DIR (outside this repository) on
                        guest-rt: `cargo run -- ARGS` there builds and boots it with tender
  vm-run IMAGE [ARGS..]  boot an arm64 unikernel image with the static aarch64 tender in the
                        arm64 VM (QEMU with KVM inside); exits with the guest's status
  image EXAMPLE [--arch aarch64]
                        build, then write the OCI image tarball target/oci/<arch>/EXAMPLE.tar
                        (tender/EXAMPLE:latest) for ctr image import, podman load, docker load
  test                  build, then run lints, unit tests and the KVM integration tests,
                        a short fuzzing run, then the AArch64 tests in an arm64 VM under QEMU
  test x86_64 [FILTER]  only the x86_64 part (FILTER goes to the test runner)
  test aarch64          only the AArch64 tests in the arm64 VM
  bench [--quick] [NAME..]
                        benchmarks against the floor of a KVM monitor, as ratios; tables in
                        target/bench/results.{md,csv} (--quick: few iterations, as `test` runs;
                        NAME: only boot, hypercall, block, net, memory or density)
  fuzz [--smoke] [TARGET..]
                        run the fuzz targets (elf, cli, hypercall, ring) with cargo-fuzz for 120 s
                        each (15 s with --smoke, as `test` does); a crash fails
  test template         only the check that `cargo xtask new` makes a crate that runs
  test oci              only the OCI suite: tender-oci under containerd, its CRI, podman,
                        Docker, and driven directly (tests/tests/oci_*.rs)
";

/// The repository root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the repository").to_path_buf()
}

/// Runs a command, failing with its description if it does not succeed.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("could not start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({status})"))
    }
}

/// Builds tender and tender-oci in release mode, statically linked (`+crt-static`): the same
/// tender then runs on the host and inside any container's root filesystem, where
/// tender-oci puts it. `--target` keeps the flag off build scripts and proc-macros; the
/// binaries are copied to `target/release/`, where users and the tests find them.
fn build_tender(root: &Path) -> Result<PathBuf, String> {
    println!("xtask: building tender and tender-oci (static)");
    let host = "x86_64-unknown-linux-gnu";
    run(Command::new(env!("CARGO"))
        .current_dir(root)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .args(["build", "--release", "--locked", "--target", host, "-p", "tender", "-p", "tender-oci"]))?;
    let release = root.join("target/release");
    std::fs::create_dir_all(&release).map_err(|e| format!("{}: {e}", release.display()))?;
    for bin in ["tender", "tender-oci"] {
        let from = root.join(format!("target/{host}/release/{bin}"));
        let to = release.join(bin);
        // Replace, never write through: a running tender may hold the old file open.
        let tmp = release.join(format!(".{bin}.new"));
        std::fs::copy(&from, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &to))
            .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))?;
    }
    Ok(release.join("tender"))
}

/// Everything `build` produces.
fn build_all(root: &Path) -> Result<(PathBuf, Vec<PathBuf>), String> {
    setup::ensure_packages()?;
    let tender = build_tender(root)?;
    println!("xtask: building the example unikernels for x86_64");
    let images = guests::build_guests(root, "x86_64", true)?;
    for hvt in &images {
        write_image(root, "x86_64", hvt)?;
    }
    Ok((tender, images))
}

/// `target/oci/<arch>/<example>.tar`: the OCI image of one built unikernel.
fn write_image(root: &Path, arch: &str, hvt: &Path) -> Result<PathBuf, String> {
    let name =
        hvt.file_stem().and_then(|s| s.to_str()).ok_or(format!("{}: odd image name", hvt.display()))?;
    let bytes = std::fs::read(hvt).map_err(|e| format!("{}: {e}", hvt.display()))?;
    let out = root.join(format!("target/oci/{arch}/{name}.tar"));
    image::write(&image::unikernel(name, arch, bytes), &out)?;
    Ok(out)
}

/// `image EXAMPLE [--arch A]`: builds, then names the example's OCI image tarball.
fn image_of(root: &Path, args: &[String]) -> Result<ExitCode, String> {
    let (name, rest) = args.split_first().ok_or("image needs an EXAMPLE name (e.g. hello)")?;
    if !guests::EXAMPLES.contains(&name.as_str()) {
        return Err(format!("unknown example '{name}' (examples: {})", guests::EXAMPLES.join(", ")));
    }
    let (arch, images) = match rest.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] | ["--arch", "x86_64"] | ["--arch=x86_64"] => ("x86_64", build_all(root)?.1),
        ["--arch", "aarch64"] | ["--arch=aarch64"] => ("aarch64", aarch64::build(root)?.1),
        _ => return Err(format!("image takes EXAMPLE [--arch x86_64|aarch64], not {args:?}")),
    };
    let hvt = images.iter().find(|i| i.file_stem().is_some_and(|s| s == name.as_str()));
    let out = write_image(root, arch, hvt.ok_or(format!("{name} was not built"))?)?;
    println!("xtask: wrote {} (image tender/{name}:latest, entrypoint /{name}.hvt)", out.display());
    println!("  ctr image import {0}  |  podman load -i {0}  |  docker load -i {0}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// `build [--arch x86_64|aarch64]`.
fn build_for(root: &Path, args: &[String]) -> Result<(PathBuf, Vec<PathBuf>), String> {
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] | ["--arch", "x86_64"] | ["--arch=x86_64"] => build_all(root),
        ["--arch", "aarch64"] | ["--arch=aarch64"] => aarch64::build(root),
        _ => Err(format!("build takes no argument or --arch x86_64|aarch64, not {args:?}\n{USAGE}")),
    }
}

fn run_example(root: &Path, args: &[String]) -> Result<ExitCode, String> {
    let (name, guest_args) = args.split_first().ok_or("run needs an EXAMPLE name (e.g. hello)")?;
    if !guests::EXAMPLES.contains(&name.as_str()) {
        return Err(format!("unknown example '{name}' (examples: {})", guests::EXAMPLES.join(", ")));
    }
    let (tender, _) = build_all(root)?;
    let image = root.join(format!("target/unikernels/x86_64/{name}.hvt"));
    println!("xtask: {} {} {}", tender.display(), image.display(), guest_args.join(" "));
    let status = Command::new(&tender)
        .arg(&image)
        .args(guest_args)
        .status()
        .map_err(|e| format!("could not start {}: {e}", tender.display()))?;
    Ok(ExitCode::from(status.code().unwrap_or(1) as u8))
}

/// Prints the closing `tests: N passed, N failed, N skipped` line; fails if any failed.
fn report(total: tally::Tally) -> ExitCode {
    println!("tests: {total}");
    if total.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::ensure_packages().map(|_| ExitCode::SUCCESS),
        Some("build") => build_for(&root, &args[1..]).map(|(t, images)| {
            println!("xtask: built {}", t.display());
            for i in images {
                println!("xtask: built {}", i.display());
            }
            ExitCode::SUCCESS
        }),
        Some("run") => run_example(&root, &args[1..]),
        Some("image") => image_of(&root, &args[1..]),
        Some("fuzz") => fuzz::fuzz(&root, &args[1..]).map(report),
        Some("bench") => build_all(&root).and_then(|_| bench::bench(&root, &args[1..])).map(report),
        Some("new") => new::new(&root, &args[1..]).map(|_| ExitCode::SUCCESS),
        Some("vm-run") => aarch64::vm_run(&root, &args[1..]),
        Some("test") => match args.get(1).map(String::as_str) {
            Some("aarch64") => aarch64::test(&root).map(report),
            Some("template") => build_all(&root).and_then(|_| template::check(&root)).map(report),
            // The OCI suite alone: the tests/tests/oci_*.rs binaries (engines and tender-oci).
            Some("oci") => build_all(&root)
                .and_then(|_| oci::prepare(&root))
                .and_then(|_| test::run_all(&root, &["-E".into(), "binary(/^oci_/)".into()]))
                .map(report),
            Some("x86_64") => build_all(&root)
                .and_then(|_| oci::prepare(&root))
                .and_then(|_| test::run_all(&root, &args[2..]))
                .map(report),
            None => build_all(&root).and_then(|_| oci::prepare(&root)).and_then(|_| {
                let mut total = test::run_all(&root, &[])?;
                total += template::check(&root)?;
                total += bench::bench(&root, &["--quick".into()])?;
                total += fuzz::fuzz(&root, &["--smoke".into()])?;
                total += aarch64::test(&root)?;
                Ok(report(total))
            }),
            Some(_) => build_all(&root)
                .and_then(|_| oci::prepare(&root))
                .and_then(|_| test::run_all(&root, &args[1..]))
                .map(report),
        },
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => Err(format!("unknown command '{other}'\n{USAGE}")),
        None => Err(format!("missing command\n{USAGE}")),
    };
    result.unwrap_or_else(|e| {
        eprintln!("xtask: error: {e}");
        ExitCode::from(1)
    })
}
