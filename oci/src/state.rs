//! What tender-oci keeps per unikernel container, under `<root>.tender-oci/<id>/` (beside runc's
//! `--root`, not inside it: runc takes every directory in its root for a container):
//! `lock` (held with flock while the container is created or deleted), `record.json`,
//! `bundle/config.json` (the bundle runc runs), `guest/args` (tender's argument file, visible
//! read-only in the container) and `netns` (the container's network namespace, pinned by a
//! bind mount so `delete` can remove the TAP devices after the container has exited).
//!
//! A directory is ours exactly when it exists; `record.json` says whether its `create`
//! finished. A create that crashed leaves an unfinished record and an unheld lock, which the
//! next create of the same id clears, so a crash never blocks a retry.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The suffix of the directory, beside `--root`, that holds our containers.
pub const SUFFIX: &str = ".tender-oci";

/// Problems with the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: could not create or use the state directory")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("container {0} is being created or deleted by another tender-oci")]
    Busy(String),
    #[error("{path}: unreadable record")]
    Record {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// A TAP device tender-oci made in the container's network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tap {
    pub name: String,
    /// The engine's interface joined to it.
    pub iface: String,
}

/// `record.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// The bundle the engine passed (reported by `state`).
    pub bundle: PathBuf,
    /// `create` finished: the container exists as far as the engine knows.
    pub complete: bool,
    /// runc created the container for this create (only then may a cleanup delete it).
    pub runc_created: bool,
    pub taps: Vec<Tap>,
    /// `netns` is a bind mount of the container's network namespace.
    pub netns_pinned: bool,
}

/// One container's state directory, locked for as long as this value lives.
#[derive(Debug)]
pub struct StateDir {
    pub dir: PathBuf,
    _lock: File,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io { path: path.to_path_buf(), source }
}

/// `<root>.tender-oci`: beside runc's root, named after it.
pub fn base(root: &Path) -> PathBuf {
    let mut name = root.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "runc".into());
    name.push(SUFFIX);
    root.parent().unwrap_or(Path::new("/")).join(name)
}

/// `<root>.tender-oci/<id>`.
pub fn path(root: &Path, id: &str) -> PathBuf {
    base(root).join(id)
}

/// True if `id` is one of our containers.
pub fn is_ours(root: &Path, id: &str) -> bool {
    path(root, id).is_dir()
}

/// Takes the lock of an existing directory; `wait` blocks until it is free. `None` if the
/// directory went away meanwhile (a delete removed it, lock file and all).
fn lock(dir: &Path, id: &str, wait: bool) -> Result<Option<File>, StateError> {
    let lock_path = dir.join("lock");
    loop {
        let f = match File::options().write(true).create(true).truncate(false).mode(0o600).open(&lock_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&lock_path)(e)),
        };
        let op = if wait { libc::LOCK_EX } else { libc::LOCK_EX | libc::LOCK_NB };
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        if unsafe { libc::flock(f.as_raw_fd(), op) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(if e.kind() == std::io::ErrorKind::WouldBlock {
                StateError::Busy(id.into())
            } else {
                io_err(&lock_path)(e)
            });
        }
        // The lock counts only if the file is still the directory's: a delete that held it
        // may have removed it while we waited, and a create made a new one.
        let ours = f.metadata().map(|m| (m.dev(), m.ino())).ok();
        let now = std::fs::metadata(&lock_path).map(|m| (m.dev(), m.ino())).ok();
        match now {
            None if !dir.is_dir() => return Ok(None),
            Some(_) if now == ours => return Ok(Some(f)),
            _ => continue,
        }
    }
}

/// Creates a directory only root can enter (the config inside holds the engine's env).
fn private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().mode(0o700).create(path)
}

impl StateDir {
    /// Claims `id` for a new container. A directory that already exists is handed back with
    /// `stale = true`: the caller decides (from the record and runc) whether a container still
    /// lives there or a crashed create left it, to be cleared.
    pub fn claim(root: &Path, id: &str) -> Result<(StateDir, bool), StateError> {
        let parent = base(root);
        match private_dir(&parent) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&parent)
                    .map_err(io_err(&parent))?;
            }
            Err(e) => return Err(io_err(&parent)(e)),
        }
        let dir = parent.join(id);
        let stale = match private_dir(&dir) {
            Ok(()) => false,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => true,
            Err(e) => return Err(io_err(&dir)(e)),
        };
        let lock = lock(&dir, id, false)?.ok_or_else(|| StateError::Busy(id.into()))?;
        Ok((StateDir { dir, _lock: lock }, stale))
    }

    /// Opens an existing container's directory, waiting for a create or delete in progress.
    pub fn open(root: &Path, id: &str) -> Result<Option<StateDir>, StateError> {
        let dir = path(root, id);
        if !dir.is_dir() {
            return Ok(None);
        }
        Ok(lock(&dir, id, true)?.map(|lock| StateDir { dir, _lock: lock }))
    }

    pub fn record(&self) -> Result<Record, StateError> {
        let path = self.dir.join("record.json");
        let text = std::fs::read(&path).map_err(io_err(&path))?;
        serde_json::from_slice(&text).map_err(|source| StateError::Record { path, source })
    }

    /// Writes `record.json` atomically (a crash leaves the old or the new record).
    pub fn save(&self, record: &Record) -> Result<(), StateError> {
        let path = self.dir.join("record.json");
        let text = serde_json::to_vec_pretty(record)
            .map_err(|source| StateError::Record { path: path.clone(), source })?;
        write_atomic(&path, &text, 0o600).map_err(io_err(&path))
    }

    /// A path inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Empties the directory (but for the lock we hold) for a fresh create.
    pub fn clear(&self) -> Result<(), StateError> {
        for entry in std::fs::read_dir(&self.dir).map_err(io_err(&self.dir))?.flatten() {
            let p = entry.path();
            if p.file_name() == Some("lock".as_ref()) {
                continue;
            }
            let r = if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            r.map_err(io_err(&p))?;
        }
        Ok(())
    }

    /// Removes the directory; the lock goes with this value.
    pub fn remove(self) -> Result<(), StateError> {
        std::fs::remove_dir_all(&self.dir).map_err(io_err(&self.dir))
    }
}

/// Writes `path` atomically with `mode` (readers see the old or the new file, never half).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::options().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
    std::io::Write::write_all(&mut f, bytes)?;
    // The mode given at creation is filtered by the umask: set it exactly.
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(name: &str) -> PathBuf {
        let r = std::env::temp_dir().join(format!("tender-oci-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(base(&r));
        r
    }

    #[test]
    fn claim_save_open_remove() {
        let r = root("cycle");
        let (s, stale) = StateDir::claim(&r, "c1").unwrap();
        assert!(!stale && is_ours(&r, "c1") && !is_ours(&r, "c2"));
        assert_eq!(
            s.dir,
            r.with_file_name(format!("{}.tender-oci", r.file_name().unwrap().to_str().unwrap())).join("c1")
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&s.dir).unwrap().permissions().mode() & 0o777, 0o700);
        // Another claim while this one holds the lock is refused, not blocked.
        assert!(matches!(StateDir::claim(&r, "c1"), Err(StateError::Busy(_))));
        let rec = Record { bundle: "/b".into(), complete: true, ..Record::default() };
        s.save(&rec).unwrap();
        assert_eq!(std::fs::metadata(s.file("record.json")).unwrap().permissions().mode() & 0o777, 0o600);
        drop(s);
        let (again, stale) = StateDir::claim(&r, "c1").unwrap();
        assert!(stale && again.record().unwrap().complete, "the caller decides what an existing one is");
        drop(again);
        let s = StateDir::open(&r, "c1").unwrap().unwrap();
        assert_eq!(s.record().unwrap(), rec);
        s.remove().unwrap();
        assert!(!is_ours(&r, "c1"));
        assert!(StateDir::open(&r, "c1").unwrap().is_none());
        let _ = std::fs::remove_dir_all(base(&r));
    }

    #[test]
    fn a_crashed_create_does_not_block_a_retry() {
        let r = root("crash");
        let (s, _) = StateDir::claim(&r, "c").unwrap();
        s.save(&Record { complete: false, ..Record::default() }).unwrap();
        std::fs::write(s.file("junk"), b"x").unwrap();
        drop(s); // the creator died: its lock is released with its fd
        let (s, stale) = StateDir::claim(&r, "c").unwrap();
        assert!(stale);
        s.clear().unwrap();
        assert!(!s.file("junk").exists() && s.file("lock").exists());
        let _ = std::fs::remove_dir_all(base(&r));
    }
}
