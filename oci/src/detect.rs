//! Which containers are unikernels: `process.args[0]`, resolved inside the root filesystem
//! as the container would see it, is an ELF file with a Solo5 hvt ABI note.
//!
//! Only the file's head (headers and notes) is read, through tender's own ELF checks, so the
//! verdict is the one tender would reach, and a huge or hostile file costs nothing.

use std::path::{Component, Path, PathBuf};
use tender::elf::{self, ElfError, NoteKind};
use tender::manifest::Manifest;

/// Why the entrypoint cannot be run as a unikernel although it is meant to be one.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("{0}: not found in the container's root filesystem")]
    NotFound(String),
    #[error("{path}: could not read")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
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

/// Resolves `path` inside `root` as the kernel would after a chroot to it: symlinks are
/// followed, absolute targets and `..` stay inside `root`. `None` if it does not exist.
pub fn resolve_in_root(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut inside = PathBuf::from("/");
    let mut pending: Vec<PathBuf> = path.components().rev().map(|c| PathBuf::from(c.as_os_str())).collect();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.components().next()? {
            Component::RootDir => inside = PathBuf::from("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                inside.pop();
            }
            Component::Normal(name) => {
                let candidate = inside.join(name);
                let host = root.join(candidate.strip_prefix("/").ok()?);
                let meta = std::fs::symlink_metadata(&host).ok()?;
                if meta.file_type().is_symlink() {
                    links += 1;
                    if links > 40 {
                        return None;
                    }
                    let target = std::fs::read_link(&host).ok()?;
                    pending.extend(target.components().rev().map(|c| PathBuf::from(c.as_os_str())));
                } else {
                    inside = candidate;
                }
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(inside)
}

/// Finds `args0` in the container: a path as is, a bare name through `PATH` from `env`.
pub fn find_entrypoint(rootfs: &Path, args0: &str, env: &[String]) -> Option<Entrypoint> {
    let host = |inside: &Path| rootfs.join(inside.strip_prefix("/").unwrap_or(inside));
    let found = |inside: PathBuf| Some(Entrypoint { host_path: host(&inside), container_path: inside });
    if args0.contains('/') {
        let inside = resolve_in_root(rootfs, &Path::new("/").join(args0))?;
        return host(&inside).is_file().then_some(()).and_then(|()| found(inside));
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .filter_map(|dir| resolve_in_root(rootfs, &Path::new("/").join(dir).join(args0)))
        .find(|inside| host(inside).is_file())
        .and_then(found)
}

/// Decides whether `entry` is a unikernel for this host: `Ok(None)` for anything that is not
/// a Solo5 image (runc's job), an error for a Solo5 image tender cannot run (another
/// architecture, another Solo5 target, a broken manifest).
pub fn classify(entry: &Entrypoint) -> Result<Option<Unikernel>, DetectError> {
    let shown = entry.container_path.display().to_string();
    let read_err = |source| DetectError::Read { path: shown.clone(), source };
    let mut file = std::fs::File::open(&entry.host_path).map_err(read_err)?;
    let head = elf::read_head(&mut file).map_err(read_err)?;
    let image_err = |source| DetectError::Image { path: shown.clone(), source };
    match elf::check_header(&head) {
        Ok(()) => {}
        Err(ElfError::Machine { found, expected }) => {
            // Read the notes as this host would: a Solo5 image for another machine is an
            // error to report, any other foreign binary is runc's business.
            let mut as_host = head.clone();
            as_host[18..20].copy_from_slice(&expected.to_le_bytes());
            return match elf::read_abi_note(&as_host) {
                Err(ElfError::NoteMissing(NoteKind::Abi)) => Ok(None),
                _ => Err(image_err(ElfError::Machine { found, expected })),
            };
        }
        Err(_) => return Ok(None),
    }
    match elf::read_abi_note(&head) {
        Err(ElfError::NoteMissing(NoteKind::Abi)) => return Ok(None),
        Err(e) => return Err(image_err(e)),
        Ok(_) => {}
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
        r
    }

    #[test]
    fn paths_resolve_inside_the_root() {
        let r = rootfs("resolve");
        std::fs::write(r.join("usr/bin/app"), b"x").unwrap();
        symlink("/usr/bin/app", r.join("bin/abs")).unwrap();
        symlink("../usr/bin/app", r.join("bin/rel")).unwrap();
        symlink("../../../../etc/passwd", r.join("bin/escape")).unwrap();
        symlink("loop", r.join("bin/loop")).unwrap();
        let p = |s: &str| resolve_in_root(&r, Path::new(s));
        assert_eq!(p("/bin/abs"), Some(PathBuf::from("/usr/bin/app")));
        assert_eq!(p("/bin/rel"), Some(PathBuf::from("/usr/bin/app")));
        assert_eq!(p("/../../usr/./bin/app"), Some(PathBuf::from("/usr/bin/app")));
        // An escaping link stays inside: /etc/passwd of the rootfs, which does not exist.
        assert_eq!(p("/bin/escape"), None);
        assert_eq!(p("/bin/loop"), None);
        let e = find_entrypoint(&r, "app", &["PATH=/bin:/usr/bin".into()]).unwrap();
        assert_eq!(e.container_path, PathBuf::from("/usr/bin/app"));
        assert_eq!(e.host_path, r.join("usr/bin/app"));
        assert_eq!(
            find_entrypoint(&r, "abs", &["PATH=/bin".into()]).unwrap().container_path,
            PathBuf::from("/usr/bin/app")
        );
        assert!(find_entrypoint(&r, "/usr/bin", &[]).is_none(), "a directory is no entrypoint");
        assert!(find_entrypoint(&r, "missing", &[]).is_none());
        let _ = std::fs::remove_dir_all(&r);
    }

    #[test]
    fn only_solo5_images_are_unikernels() {
        let r = rootfs("classify");
        let entry = |name: &str, bytes: &[u8]| {
            std::fs::write(r.join(name), bytes).unwrap();
            find_entrypoint(&r, &format!("/{name}"), &[]).unwrap()
        };
        assert!(classify(&entry("script", b"#!/bin/sh\necho hi\n")).unwrap().is_none());
        let me = std::fs::read("/proc/self/exe").unwrap();
        assert!(classify(&entry("linux-binary", &me)).unwrap().is_none(), "a Linux program goes to runc");
        let _ = std::fs::remove_dir_all(&r);
    }
}
