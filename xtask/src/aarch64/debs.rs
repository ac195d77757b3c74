//! The arm64 Debian packages the test VM is made of (the cloud kernel and
//! busybox), fetched once with `apt-get download` into a cache directory and
//! unpacked with `dpkg-deb -x`.

use crate::run;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The metapackage whose dependency names the current cloud kernel.
const KERNEL_META: &str = "linux-image-cloud-arm64:arm64";
/// A static busybox: shell, mount, insmod, ip/tunctl, ping, wget, poweroff.
pub const BUSYBOX: &str = "busybox-static:arm64";

/// The versioned kernel package, e.g. `linux-image-6.1.0-56-cloud-arm64:arm64`,
/// from `apt-cache depends` (local, no network).
pub fn kernel_package() -> Result<String, String> {
    let out = Command::new("apt-cache")
        .args(["depends", KERNEL_META])
        .output()
        .map_err(|e| format!("could not run apt-cache: {e}"))?;
    kernel_from_depends(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| format!("apt-cache depends {KERNEL_META} names no kernel (run apt-get update?)"))
}

/// Picks the versioned kernel out of `apt-cache depends` output.
fn kernel_from_depends(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-") && p.contains("-cloud-arm64"))
        .map(str::to_string)
}

/// The file-name prefix of `package`'s .deb: `name_` (without the `:arch`).
fn deb_prefix(package: &str) -> String {
    format!("{}_", package.split(':').next().unwrap_or(package))
}

/// The last (by name) cached arm64 .deb whose file name satisfies `pick`.
fn cached_where(cache: &Path, pick: impl Fn(&str) -> bool) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with("_arm64.deb") && pick(name)
        })
        .collect();
    found.sort();
    found.pop()
}

/// A cached .deb of `package`, if any.
fn cached(cache: &Path, package: &str) -> Option<PathBuf> {
    let prefix = deb_prefix(package);
    cached_where(cache, |name| name.starts_with(&prefix))
}

/// The .deb of `package` in `cache`, downloading it if it is not there yet.
pub fn fetch(cache: &Path, package: &str) -> Result<PathBuf, String> {
    if let Some(deb) = cached(cache, package) {
        return Ok(deb);
    }
    fs::create_dir_all(cache).map_err(|e| format!("could not create {}: {e}", cache.display()))?;
    println!("xtask: downloading {package} into {}", cache.display());
    let download = || {
        // As root, apt would drop to the _apt user, who cannot write here.
        run(Command::new("apt-get").current_dir(cache).args([
            "download",
            "-q",
            "-o",
            "APT::Sandbox::User=root",
            package,
        ]))
    };
    if download().is_err() {
        // Stale package lists name a version the mirror no longer has.
        run(Command::new("apt-get").args(["update", "-q"]))?;
        download()?;
    }
    cached(cache, package)
        .ok_or_else(|| format!("apt-get download {package} left no .deb in {}", cache.display()))
}

/// The kernel .deb: the current one, or (without package lists) the newest cached one.
pub fn fetch_kernel(cache: &Path) -> Result<PathBuf, String> {
    match kernel_package() {
        Ok(package) => fetch(cache, &package),
        Err(e) => {
            cached_where(cache, |n| n.starts_with("linux-image-") && n.contains("-cloud-arm64_")).ok_or(e)
        }
    }
}

/// Unpacks `deb` once into `<cache>/<deb stem>/` and returns that directory.
pub fn unpack(cache: &Path, deb: &Path) -> Result<PathBuf, String> {
    let stem = deb.file_stem().and_then(|s| s.to_str()).ok_or("bad .deb file name")?;
    let dir = cache.join(stem);
    let stamp = dir.join(".unpacked");
    if stamp.exists() {
        return Ok(dir);
    }
    let _ = fs::remove_dir_all(&dir);
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&dir))?;
    fs::write(&stamp, b"").map_err(|e| format!("could not write {}: {e}", stamp.display()))?;
    Ok(dir)
}

/// The kernel image and module tree inside an unpacked kernel package.
#[derive(Debug)]
pub struct Kernel {
    pub image: PathBuf,
    pub modules: PathBuf,
}

/// Finds `boot/vmlinuz-<v>` and `lib/modules/<v>` in the unpacked package.
pub fn kernel_files(dir: &Path) -> Result<Kernel, String> {
    let boot = dir.join("boot");
    let image = fs::read_dir(&boot)
        .map_err(|e| format!("{}: {e}", boot.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("vmlinuz-")))
        .ok_or_else(|| format!("no vmlinuz in {}", boot.display()))?;
    let version = image.file_name().and_then(|n| n.to_str()).unwrap_or("").trim_start_matches("vmlinuz-");
    let modules = dir.join("lib").join("modules").join(version);
    if !modules.is_dir() {
        return Err(format!("no module tree {}", modules.display()));
    }
    Ok(Kernel { image, modules })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_kernel_from_apt_cache_depends() {
        let out = "linux-image-cloud-arm64:arm64\n  Depends: linux-image-6.1.0-56-cloud-arm64:arm64\n";
        assert_eq!(kernel_from_depends(out).unwrap(), "linux-image-6.1.0-56-cloud-arm64:arm64");
        assert_eq!(kernel_from_depends("nothing here\n"), None);
    }

    #[test]
    fn deb_file_names() {
        assert_eq!(deb_prefix("busybox-static:arm64"), "busybox-static_");
        let dir = std::env::temp_dir().join(format!("xtask-debs-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("busybox-static_1%3a1.35.0-4_arm64.deb"), b"").unwrap();
        fs::write(dir.join("busybox_1%3a1.35.0-4_arm64.deb"), b"").unwrap();
        let found = cached(&dir, BUSYBOX).unwrap();
        assert!(found.ends_with("busybox-static_1%3a1.35.0-4_arm64.deb"));
        assert_eq!(cached(&dir, "linux-image-6.1.0-56-cloud-arm64:arm64"), None);
        fs::write(dir.join("linux-image-6.1.0-56-cloud-arm64_6.1.192-2_arm64.deb"), b"").unwrap();
        assert!(cached(&dir, "linux-image-6.1.0-56-cloud-arm64:arm64").is_some());
        fs::remove_dir_all(&dir).unwrap();
    }
}
