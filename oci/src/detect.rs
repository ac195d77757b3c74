//! Which containers are unikernels: `process.args[0]`, resolved inside the root filesystem
//! as the container would see it, is an ELF file with a Solo5 hvt ABI note.
//!
//! Only the file's head (headers and notes) is read, through tender's own ELF checks, so the
//! verdict is the one tender would reach, and a huge or hostile file costs nothing.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tender::elf::{self, ElfError};
use tender::manifest::Manifest;

/// Why the entrypoint cannot be run as a unikernel although it is meant to be one.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("{0}: not found in the container's root filesystem")]
    NotFound(String),
    #[error("{path}")]
    Image {
        path: String,
        #[source]
        source: ElfError,
    },
    #[error("{path}: invalid manifest")]
    Manifest {
        path: String,
        #[source]
        source: tender::manifest::ManifestError,
    },
    #[error("{0}: annotation tender.unikernel=true, but this is not a Solo5 hvt unikernel")]
    NotUnikernel(String),
}

/// The entrypoint, found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entrypoint {
    /// Its path inside the container (what tender opens there).
    pub container_path: PathBuf,
    /// The same file seen from the host.
    pub host_path: PathBuf,
}

/// A unikernel entrypoint and its manifest.
#[derive(Debug, Clone)]
pub struct Unikernel {
    pub entry: Entrypoint,
    pub manifest: Manifest,
}

/// Opens `inside` (a path in the container) under `root` as the kernel resolves it after a
/// chroot there: `openat2(RESOLVE_IN_ROOT)`, so symlinks and `..` can never leave `root`, even
/// if the root filesystem changes meanwhile; never blocking on a FIFO, never taking a
/// terminal, no magic links. `extra` adds open flags (`O_PATH` to test existence only).
pub fn open_in_root(root: &Path, inside: &Path, extra: libc::c_int) -> std::io::Result<File> {
    let dir = File::options().read(true).custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC).open(root)?;
    let rel = inside.strip_prefix("/").unwrap_or(inside);
    let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    let c = CString::new(rel.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // openat2 refuses flags O_PATH does not take.
    let flags = if extra & libc::O_PATH != 0 {
        libc::O_PATH | libc::O_CLOEXEC
    } else {
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC | extra
    };
    // SAFETY: open_how is plain integers; all-zero is a valid value before we set fields.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 reads `how` (its size passed along) and the NUL-terminated path, both
    // alive for the call; it returns a new fd we then own, or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor from openat2 that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd as RawFd) })
}

/// True if `inside` exists in the container seen through `root` (followed as it would be).
pub fn exists_in_root(root: &Path, inside: &Path) -> bool {
    open_in_root(root, inside, libc::O_PATH).is_ok()
}

/// Finds `args0` as the container would exec it: a path (relative ones from `cwd`), or a bare
/// name through `PATH` from `env` (an empty entry is `cwd`; the file must be executable).
/// Returns the entrypoint and its file, opened, a regular file.
pub fn find_entrypoint(rootfs: &Path, args0: &str, env: &[String], cwd: &Path) -> Option<(Entrypoint, File)> {
    let host = |inside: &Path| rootfs.join(inside.strip_prefix("/").unwrap_or(inside));
    let regular = |inside: PathBuf, need_exec: bool| {
        let f = open_in_root(rootfs, &inside, 0).ok()?;
        let m = f.metadata().ok()?;
        (m.is_file() && (!need_exec || m.permissions().mode() & 0o111 != 0))
            .then(|| (Entrypoint { host_path: host(&inside), container_path: inside }, f))
    };
    if args0.contains('/') {
        return regular(cwd.join(args0), false);
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .map(|dir| if dir.is_empty() { cwd.to_path_buf() } else { Path::new("/").join(dir) })
        .find_map(|dir| regular(dir.join(args0), true))
}

/// Decides whether `entry` (opened as `file`) is a unikernel for this host. Anything that does
/// not carry a Solo5 ABI note — a Linux program, a script, an unreadable file — is `Ok(None)`:
/// runc's business. A file that carries one but cannot run here (another architecture,
/// another Solo5 target or ABI version, a broken note or manifest) is an error to report.
pub fn classify(entry: &Entrypoint, file: &mut File) -> Result<Option<Unikernel>, DetectError> {
    let shown = entry.container_path.display().to_string();
    let Ok(head) = elf::read_head(file) else { return Ok(None) };
    let image_err = |source| DetectError::Image { path: shown.clone(), source };
    // A note the reader found and found wanting: this is a Solo5 image.
    let solo5_broken = |e: &ElfError| {
        matches!(
            e,
            ElfError::Target { .. }
                | ElfError::AbiVersion { .. }
                | ElfError::NoteDescSize { .. }
                | ElfError::NoteTruncated { .. }
        )
    };
    match elf::check_header(&head) {
        Ok(()) => {}
        Err(ElfError::Machine { found, expected }) => {
            // Read the notes as this host would: a Solo5 image for another machine is an
            // error to report, any other foreign binary is runc's business.
            let mut as_host = head.clone();
            as_host[18..20].copy_from_slice(&expected.to_le_bytes());
            return match elf::read_abi_note(&as_host) {
                Ok(_) => Err(image_err(ElfError::Machine { found, expected })),
                Err(e) if solo5_broken(&e) => Err(image_err(ElfError::Machine { found, expected })),
                Err(_) => Ok(None),
            };
        }
        Err(_) => return Ok(None),
    }
    match elf::read_abi_note(&head) {
        Ok(_) => {}
        Err(e) if solo5_broken(&e) => return Err(image_err(e)),
        Err(_) => return Ok(None),
    }
    let mft = elf::read_manifest_note(&head).map_err(image_err)?;
    let manifest =
        Manifest::parse(mft).map_err(|source| DetectError::Manifest { path: shown.clone(), source })?;
    Ok(Some(Unikernel { entry: entry.clone(), manifest }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn rootfs(name: &str) -> PathBuf {
        let r = std::env::temp_dir().join(format!("tender-oci-detect-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&r);
        std::fs::create_dir_all(r.join("usr/bin")).unwrap();
        std::fs::create_dir_all(r.join("bin")).unwrap();
        std::fs::create_dir_all(r.join("app")).unwrap();
        r
    }

    fn exec_file(p: &Path, bytes: &[u8]) {
        std::fs::write(p, bytes).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn found(r: &Path, args0: &str, path: &str, cwd: &str) -> Option<PathBuf> {
        find_entrypoint(r, args0, &[format!("PATH={path}")], Path::new(cwd)).map(|(e, _)| e.container_path)
    }

    #[test]
    fn paths_resolve_inside_the_root() {
        let r = rootfs("resolve");
        exec_file(&r.join("usr/bin/app"), b"x");
        exec_file(&r.join("app/local"), b"x");
        std::fs::write(r.join("usr/bin/noexec"), b"x").unwrap();
        symlink("/usr/bin/app", r.join("bin/abs")).unwrap();
        symlink("../usr/bin/app", r.join("bin/rel")).unwrap();
        symlink("../../../../../../etc/passwd", r.join("bin/escape")).unwrap();
        symlink("loop", r.join("bin/loop")).unwrap();
        assert!(exists_in_root(&r, Path::new("/bin/abs")) && exists_in_root(&r, Path::new("/bin/rel")));
        assert!(exists_in_root(&r, Path::new("/../../usr/./bin/app")));
        // An escaping link stays inside: /etc/passwd of the rootfs, which does not exist.
        assert!(!exists_in_root(&r, Path::new("/bin/escape")));
        assert!(!exists_in_root(&r, Path::new("/bin/loop")));
        assert_eq!(found(&r, "app", "/bin:/usr/bin", "/"), Some(PathBuf::from("/usr/bin/app")));
        assert_eq!(
            found(&r, "abs", "/bin", "/"),
            Some(PathBuf::from("/bin/abs")),
            "the path as exec sees it"
        );
        assert_eq!(found(&r, "noexec", "/usr/bin", "/"), None, "PATH lookups need an executable");
        assert_eq!(
            found(&r, "local", ":/bin", "/app"),
            Some(PathBuf::from("/app/local")),
            "empty PATH entry is cwd"
        );
        assert_eq!(
            found(&r, "./local", "/bin", "/app"),
            Some(PathBuf::from("/app/./local")),
            "relative to cwd"
        );
        assert_eq!(found(&r, "/usr/bin", "/bin", "/"), None, "a directory is no entrypoint");
        assert_eq!(found(&r, "missing", "/bin", "/"), None);
        let (e, _) = find_entrypoint(&r, "/bin/rel", &[], Path::new("/")).unwrap();
        assert_eq!(e.host_path, r.join("bin/rel"));
        let _ = std::fs::remove_dir_all(&r);
    }

    #[test]
    fn only_solo5_images_are_unikernels() {
        let r = rootfs("classify");
        let verdict = |name: &str, bytes: &[u8]| {
            exec_file(&r.join(name), bytes);
            let (e, mut f) = find_entrypoint(&r, &format!("/{name}"), &[], Path::new("/")).unwrap();
            classify(&e, &mut f).map(|u| u.is_some())
        };
        assert!(!verdict("script", b"#!/bin/sh\necho hi\n").unwrap());
        let me = std::fs::read("/proc/self/exe").unwrap();
        assert!(!verdict("linux-binary", &me).unwrap(), "a Linux program goes to runc");
        assert!(!verdict("empty", b"").unwrap());
        let _ = std::fs::remove_dir_all(&r);
    }
}
