//! What tender-oci keeps per unikernel container, under `<root>/.tender-oci/<id>/`:
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
use std::path::{Path, PathBuf};

/// The directory under `--root` that holds our containers.
pub const DIR: &str = ".tender-oci";

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
    #[error("container with id {0} already exists")]
    Exists(String),
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
pub struct Record {
    /// The bundle the engine passed (reported by `state`).
    pub bundle: PathBuf,
    /// `create` finished: the container exists as far as the engine knows.
    pub complete: bool,
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

/// `<root>/.tender-oci/<id>`.
pub fn path(root: &Path, id: &str) -> PathBuf {
    root.join(DIR).join(id)
}

/// True if `id` is one of our containers.
pub fn is_ours(root: &Path, id: &str) -> bool {
    path(root, id).is_dir()
}

/// Takes the lock of an existing directory; `wait` blocks until it is free.
fn lock(dir: &Path, id: &str, wait: bool) -> Result<File, StateError> {
    let lock_path = dir.join("lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path))?;
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
    Ok(f)
}

impl StateDir {
    /// Claims `id` for a new container. An unfinished directory left by a crashed create is
    /// handed back with `stale = true` for the caller to clear; a finished one is an error.
    pub fn claim(root: &Path, id: &str) -> Result<(StateDir, bool), StateError> {
        let parent = root.join(DIR);
        std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
        let dir = parent.join(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                let lock = lock(&dir, id, false)?;
                Ok((StateDir { dir, _lock: lock }, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let lock = lock(&dir, id, false)?;
                let state = StateDir { dir, _lock: lock };
                match state.record() {
                    Ok(r) if r.complete => Err(StateError::Exists(id.into())),
                    _ => Ok((state, true)),
                }
            }
            Err(e) => Err(io_err(&dir)(e)),
        }
    }

    /// Opens an existing container's directory, waiting for a create or delete in progress.
    pub fn open(root: &Path, id: &str) -> Result<Option<StateDir>, StateError> {
        let dir = path(root, id);
        if !dir.is_dir() {
            return Ok(None);
        }
        let lock = lock(&dir, id, true)?;
        // It may have been deleted while we waited.
        Ok(dir.is_dir().then_some(StateDir { dir, _lock: lock }))
    }

    pub fn record(&self) -> Result<Record, StateError> {
        let path = self.dir.join("record.json");
        let text = std::fs::read(&path).map_err(io_err(&path))?;
        serde_json::from_slice(&text).map_err(|source| StateError::Record { path, source })
    }

    /// Writes `record.json` atomically (a crash leaves the old or the new record).
    pub fn save(&self, record: &Record) -> Result<(), StateError> {
        let path = self.dir.join("record.json");
        let tmp = self.dir.join("record.json.tmp");
        let text = serde_json::to_vec_pretty(record).unwrap_or_default();
        std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path)).map_err(io_err(&path))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn root(name: &str) -> PathBuf {
        let r = std::env::temp_dir().join(format!("tender-oci-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&r);
        r
    }

    #[test]
    fn claim_save_open_remove() {
        let r = root("cycle");
        let (s, stale) = StateDir::claim(&r, "c1").unwrap();
        assert!(!stale && is_ours(&r, "c1") && !is_ours(&r, "c2"));
        // Another claim while this one holds the lock is refused, not blocked.
        assert!(matches!(StateDir::claim(&r, "c1"), Err(StateError::Busy(_))));
        let rec = Record { bundle: "/b".into(), complete: true, ..Record::default() };
        s.save(&rec).unwrap();
        drop(s);
        assert!(matches!(StateDir::claim(&r, "c1"), Err(StateError::Exists(_))));
        let s = StateDir::open(&r, "c1").unwrap().unwrap();
        assert_eq!(s.record().unwrap(), rec);
        s.remove().unwrap();
        assert!(!is_ours(&r, "c1"));
        assert!(StateDir::open(&r, "c1").unwrap().is_none());
        let _ = std::fs::remove_dir_all(&r);
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
        let _ = std::fs::remove_dir_all(&r);
    }
}
