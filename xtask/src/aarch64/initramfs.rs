//! The test VM's initramfs: busybox, `/init` and the test script, the static
//! tender, the guest images and the kernel modules the tests need, as a
//! gzip-compressed newc cpio archive.

use super::cpio::Archive;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The VM's `/init`: mounts, loads modules, runs the tests, powers off.
const INIT: &str = include_str!("../../vm/init.sh");
/// The scenarios, run by `/init`.
const RUN_TESTS: &str = include_str!("../../vm/run-tests.sh");
/// Kernel modules the tests load (TAP devices), dependencies first.
pub const MODULES: &[&str] = &["tun"];

/// What goes into the VM.
#[derive(Debug)]
pub struct Contents<'a> {
    pub busybox: &'a Path,
    pub tender: &'a Path,
    /// AArch64 images, installed as `/images/<file name>`.
    pub images: &'a [PathBuf],
    /// More files, as (path without the leading slash, bytes); their directories must exist.
    pub extra: &'a [(String, Vec<u8>)],
    /// The cross-built integration-test binaries, installed as `/tests/<name>`.
    pub suite: &'a [(String, PathBuf)],
    /// `lib/modules/<version>` of the kernel package.
    pub modules: &'a Path,
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("could not read {}: {e}", path.display()))
}

fn file_name(path: &Path) -> Result<&str, String> {
    path.file_name().and_then(|n| n.to_str()).ok_or_else(|| format!("bad file name {}", path.display()))
}

/// The `depends=` list in a module's `.modinfo` section (comma-separated names).
fn module_depends(ko: &[u8]) -> Vec<String> {
    let key = b"\0depends=";
    let Some(at) = ko.windows(key.len()).position(|w| w == key) else {
        return Vec::new();
    };
    let rest = &ko[at + key.len()..];
    let value = &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())];
    String::from_utf8_lossy(value).split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Finds `<name>.ko` under `dir` (module names treat `-` and `_` alike).
fn find_module(dir: &Path, name: &str) -> Option<PathBuf> {
    let want = format!("{}.ko", name.replace('-', "_"));
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_module(&path, name) {
                return Some(found);
            }
        } else if path.file_name().and_then(|n| n.to_str()).map(|n| n.replace('-', "_")) == Some(want.clone())
        {
            return Some(path);
        }
    }
    None
}

/// `names` and their dependencies as (name, bytes), each after what it needs.
fn modules_in_load_order(dir: &Path, names: &[&str]) -> Result<Vec<(String, Vec<u8>)>, String> {
    fn visit(dir: &Path, name: &str, out: &mut Vec<(String, Vec<u8>)>, depth: u32) -> Result<(), String> {
        let name = &name.replace('-', "_");
        if out.iter().any(|(n, _)| n == name) {
            return Ok(());
        }
        if depth > 16 {
            return Err(format!("module dependencies of {name} are too deep"));
        }
        let path = find_module(dir, name).ok_or_else(|| format!("no {name}.ko under {}", dir.display()))?;
        let bytes = read(&path)?;
        for dep in module_depends(&bytes) {
            visit(dir, &dep, out, depth + 1)?;
        }
        out.push((name.to_string(), bytes));
        Ok(())
    }
    let mut out = Vec::new();
    for name in names {
        visit(dir, name, &mut out, 0)?;
    }
    Ok(out)
}

/// The uncompressed archive.
pub fn archive(c: &Contents<'_>) -> Result<Vec<u8>, String> {
    let mut a = Archive::new();
    for d in ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "run"] {
        a.dir(d);
    }
    a.char_device("dev/console", 5, 1);
    a.char_device("dev/null", 1, 3);
    a.file("bin/busybox", 0o755, &read(c.busybox)?);
    a.symlink("bin/sh", "busybox");
    a.file("init", 0o755, INIT.as_bytes());
    a.file("run-tests.sh", 0o755, RUN_TESTS.as_bytes());
    a.file("tender", 0o755, &read(c.tender)?);
    a.dir("images");
    for image in c.images {
        a.file(&format!("images/{}", file_name(image)?), 0o644, &read(image)?);
    }
    for (path, bytes) in c.extra {
        a.file(path, 0o644, bytes);
    }
    a.dir("tests");
    for (name, path) in c.suite {
        a.file(&format!("tests/{name}"), 0o755, &read(path)?);
    }
    a.dir("modules");
    let mut order = String::new();
    for (name, bytes) in modules_in_load_order(c.modules, MODULES)? {
        a.file(&format!("modules/{name}.ko"), 0o644, &bytes);
        order.push_str(&format!("{name}\n"));
    }
    a.file("modules/load-order", 0o644, order.as_bytes());
    Ok(a.finish())
}

/// Writes the gzip-compressed archive to `out`.
pub fn write(c: &Contents<'_>, out: &Path) -> Result<(), String> {
    let cpio = archive(c)?;
    let file = fs::File::create(out).map_err(|e| format!("could not create {}: {e}", out.display()))?;
    let mut gzip = Command::new("gzip")
        .args(["-1", "-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(file)
        .spawn()
        .map_err(|e| format!("could not start gzip: {e}"))?;
    let fed = gzip.stdin.take().expect("stdin is piped").write_all(&cpio);
    let status = gzip.wait().map_err(|e| format!("gzip: {e}"))?;
    fed.map_err(|e| format!("could not feed gzip: {e}"))?;
    if !status.success() {
        return Err(format!("gzip failed ({status})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_dependencies_come_from_modinfo() {
        let ko = b"\x7fELF...\0license=GPL\0depends=tap,vhost_iotlb\0vermagic=6.1\0";
        assert_eq!(module_depends(ko), ["tap", "vhost_iotlb"]);
        assert!(module_depends(b"\0depends=\0name=tun\0").is_empty());
        assert!(module_depends(b"no modinfo").is_empty());
    }

    #[test]
    fn modules_load_after_their_dependencies() {
        let dir = std::env::temp_dir().join(format!("xtask-modules-{}", std::process::id()));
        fs::create_dir_all(dir.join("kernel/net")).unwrap();
        fs::write(dir.join("kernel/net/a.ko"), b"\0depends=b,c-d\0").unwrap();
        fs::write(dir.join("kernel/net/b.ko"), b"\0depends=c_d\0").unwrap();
        fs::write(dir.join("kernel/c_d.ko"), b"\0depends=\0").unwrap();
        let order: Vec<String> =
            modules_in_load_order(&dir, &["a"]).unwrap().into_iter().map(|m| m.0).collect();
        assert_eq!(order, ["c_d", "b", "a"]);
        assert!(modules_in_load_order(&dir, &["missing"]).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
