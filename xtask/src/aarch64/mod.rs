//! The AArch64 port's build and test: the static aarch64 tender and guests
//! (`cargo xtask build --arch aarch64`), and the test suite run inside an arm64
//! Linux VM under QEMU with nested KVM (`cargo xtask test aarch64`).

mod cpio;
mod debs;
mod initramfs;
mod qemu;
mod toolchain;

use crate::tally::Tally;
use crate::{guests, setup};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The guests' architecture name.
const ARCH: &str = "aarch64";
/// Host packages the VM test needs: QEMU for arm64 (gzip and dpkg are always there).
const VM_PACKAGES: &[&str] = &["qemu-system-arm"];
/// The whole VM run, boot to poweroff, must end within this.
const VM_TIMEOUT: Duration = Duration::from_secs(12 * 60);

/// Builds the static aarch64 tender and every example for aarch64; returns
/// their paths.
pub fn build(root: &Path) -> Result<(PathBuf, Vec<PathBuf>), String> {
    setup::ensure_packages()?;
    toolchain::ensure_packages()?;
    let tender = toolchain::build_tender(root)?;
    println!("xtask: building the example unikernels for {ARCH}");
    let images = guests::build_guests(root, ARCH, true)?;
    Ok((tender, images))
}

/// The VM's kernel and busybox, fetched once into `target/aarch64-vm-cache`.
fn vm_parts(root: &Path) -> Result<(debs::Kernel, PathBuf), String> {
    setup::ensure(VM_PACKAGES)?;
    let cache = root.join("target").join("aarch64-vm-cache");
    let kernel_dir = debs::unpack(&cache, &debs::fetch_kernel(&cache)?)?;
    let kernel = debs::kernel_files(&kernel_dir)?;
    let busybox_dir = debs::unpack(&cache, &debs::fetch(&cache, debs::BUSYBOX)?)?;
    Ok((kernel, busybox_dir.join("bin").join("busybox")))
}

/// A shell word for the VM's script: single-quoted, quotes escaped.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `cargo xtask vm-run IMAGE [ARGS..]`: boots an arm64 image of yours with the static aarch64
/// tender in the test VM (QEMU with KVM inside) and returns its exit status.
pub fn vm_run(root: &Path, args: &[String]) -> Result<std::process::ExitCode, String> {
    let (image, guest_args) = args.split_first().ok_or("vm-run needs an arm64 IMAGE (and its ARGS)")?;
    let image = PathBuf::from(image);
    let bytes = std::fs::read(&image).map_err(|e| format!("{}: {e}", image.display()))?;
    toolchain::ensure_packages()?;
    let tender = toolchain::build_tender(root)?;
    let (kernel, busybox) = vm_parts(root)?;
    let words: Vec<String> = guest_args.iter().map(|a| sh_quote(a)).collect();
    let script = format!(
        "/tender /images/user.hvt {}\ncode=$?\necho \"{m} PASS exit-status-$code\"\necho \"{m} 1 passed, 0 failed\"\n",
        words.join(" "),
        m = qemu::MARK
    );
    let extra =
        vec![("run-tests.sh".to_string(), script.into_bytes()), ("images/user.hvt".to_string(), bytes)];
    let initrd = root.join("target").join("aarch64-vm-run-initrd.gz");
    let contents = initramfs::Contents {
        busybox: &busybox,
        tender: &tender,
        images: &[],
        extra: &extra,
        suite: &[],
        modules: &kernel.modules,
    };
    initramfs::write(&contents, &initrd)?;
    println!("xtask: booting the arm64 VM to run {}", image.display());
    let verdict = qemu::run(qemu::command(&kernel.image, &initrd), VM_TIMEOUT)?;
    let code = verdict
        .passed
        .iter()
        .find_map(|n| n.strip_prefix("exit-status-")?.parse::<u8>().ok())
        .ok_or("the VM ended without the guest's exit status")?;
    println!("xtask: the guest exited with status {code}");
    Ok(std::process::ExitCode::from(code))
}

/// Builds, then boots the arm64 VM and runs the test script in it; returns the
/// counts the VM reported (a VM that ends without its summary is an error).
pub fn test(root: &Path) -> Result<Tally, String> {
    let start = Instant::now();
    let (tender, images) = build(root)?;
    let (kernel, busybox) = vm_parts(root)?;

    let suite = toolchain::build_suite(root)?;
    let initrd = root.join("target").join("aarch64-vm-initrd.gz");
    let contents = initramfs::Contents {
        busybox: &busybox,
        tender: &tender,
        images: &images,
        extra: &[],
        suite: &suite,
        modules: &kernel.modules,
    };
    initramfs::write(&contents, &initrd)?;
    println!(
        "xtask: booting arm64 Linux ({}) under qemu-system-aarch64 with nested KVM; build took {} s",
        kernel.image.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
        start.elapsed().as_secs()
    );
    let vm_start = Instant::now();
    let verdict = qemu::run(qemu::command(&kernel.image, &initrd), VM_TIMEOUT)?;
    let scenarios = Tally { passed: verdict.passed.len(), failed: verdict.failed.len(), skipped: 0 };
    println!(
        "xtask: aarch64 VM: integration suite {}; shell scenarios {} in {} s (whole aarch64 test {} s)",
        verdict.suite,
        scenarios,
        vm_start.elapsed().as_secs(),
        start.elapsed().as_secs()
    );
    if !verdict.suite_failed.is_empty() {
        eprintln!("xtask: aarch64 VM: failed in the suite: {}", verdict.suite_failed.join(", "));
    }
    let mut tally = scenarios;
    tally += verdict.suite;
    if let Err(e) = verdict.check_suite(toolchain::VM_SUITE) {
        eprintln!("xtask: aarch64 VM: {e}");
        tally.failed += 1;
    }
    match verdict.check() {
        Ok(()) => Ok(tally),
        Err(e) if verdict.summary.is_some() => {
            eprintln!("xtask: aarch64 VM: {e}");
            Ok(Tally { failed: tally.failed.max(1), ..tally })
        }
        Err(e) => Err(e),
    }
}
