//! An OCI bundle: `config.json` read with the `oci-spec` crate (typed, validated), and kept
//! as JSON too, so that the bundle handed to runc is the engine's own with only our edits:
//! fields oci-spec does not model pass through untouched.

use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

/// Problems with the bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("bundle {0}: no such directory")]
    NoBundle(PathBuf),
    #[error("{path}: could not read")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid OCI runtime config")]
    Invalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}: process.args is missing or empty")]
    NoArgs(PathBuf),
    #[error("{0}: root.path is missing")]
    NoRoot(PathBuf),
}

/// A loaded bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory, absolute.
    pub dir: PathBuf,
    pub spec: Spec,
    /// `config.json` as JSON, for a faithful rewrite.
    pub raw: serde_json::Value,
    /// The root filesystem, absolute (root.path is relative to the bundle).
    pub rootfs: PathBuf,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Bundle, BundleError> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        if !dir.is_dir() {
            return Err(BundleError::NoBundle(dir));
        }
        let path = dir.join("config.json");
        let text = std::fs::read(&path).map_err(|source| BundleError::Read { path: path.clone(), source })?;
        let invalid = |source| BundleError::Invalid { path: path.clone(), source };
        let raw: serde_json::Value = serde_json::from_slice(&text).map_err(invalid)?;
        let spec: Spec = serde_json::from_value(raw.clone()).map_err(invalid)?;
        if spec.process().as_ref().and_then(|p| p.args().as_ref()).is_none_or(|a| a.is_empty()) {
            return Err(BundleError::NoArgs(path));
        }
        let root = spec.root().as_ref().ok_or_else(|| BundleError::NoRoot(path.clone()))?;
        let rootfs = dir.join(root.path());
        Ok(Bundle { dir, spec, raw, rootfs })
    }

    /// `process.args` (never empty after [`Bundle::load`]).
    pub fn args(&self) -> &[String] {
        self.spec.process().as_ref().and_then(|p| p.args().as_deref()).unwrap_or_default()
    }

    /// `process.env`.
    pub fn env(&self) -> &[String] {
        self.spec.process().as_ref().and_then(|p| p.env().as_deref()).unwrap_or_default()
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.spec.annotations().as_ref()?.get(key).map(String::as_str)
    }

    /// All annotations whose key starts with `prefix`, with the prefix removed.
    pub fn annotations_with(&self, prefix: &str) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .spec
            .annotations()
            .iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v.clone())))
            .collect();
        v.sort();
        v
    }

    /// The cgroup memory limit in bytes, if one is set.
    pub fn memory_limit(&self) -> Option<u64> {
        let limit = self.spec.linux().as_ref()?.resources().as_ref()?.memory().as_ref()?.limit()?;
        u64::try_from(limit).ok().filter(|l| *l > 0)
    }

    /// The host uid of the container's process (through the user-namespace mapping, if any).
    pub fn host_uid(&self) -> u32 {
        let uid = self.spec.process().as_ref().map_or(0, |p| p.user().uid());
        let maps = self.spec.linux().as_ref().and_then(|l| l.uid_mappings().clone()).unwrap_or_default();
        maps.iter()
            .find(|m| uid >= m.container_id() && uid - m.container_id() < m.size())
            .map_or(uid, |m| m.host_id() + (uid - m.container_id()))
    }

    /// True if a mount at `/dev` is declared (runc then puts a tmpfs there).
    pub fn has_dev_mount(&self) -> bool {
        self.spec.mounts().iter().flatten().any(|m| m.destination() == Path::new("/dev"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn write_bundle(name: &str, config: &serde_json::Value) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tender-oci-bundle-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        dir
    }

    #[test]
    fn reads_what_engines_write() {
        let cfg = serde_json::json!({
            "ociVersion": "1.0.2-dev",
            "process": { "user": { "uid": 5, "gid": 0 }, "args": ["/hello.hvt", "a"], "cwd": "/",
                         "env": ["PATH=/bin"] },
            "root": { "path": "rootfs" },
            "mounts": [ { "destination": "/dev", "type": "tmpfs", "source": "tmpfs" } ],
            "annotations": { "tender.mem": "64", "tender.block.disk": "/d", "other": "x" },
            "linux": { "resources": { "memory": { "limit": 67108864 } },
                       "uidMappings": [ { "containerID": 0, "hostID": 100000, "size": 65536 } ],
                       "futureField": { "kept": true } }
        });
        let dir = write_bundle("ok", &cfg);
        let b = Bundle::load(&dir).unwrap();
        assert_eq!(b.args(), ["/hello.hvt", "a"]);
        assert_eq!(b.rootfs, dir.join("rootfs"));
        assert_eq!(b.annotation("tender.mem"), Some("64"));
        assert_eq!(b.annotations_with("tender.block."), vec![("disk".to_string(), "/d".to_string())]);
        assert_eq!(b.memory_limit(), Some(64 << 20));
        assert_eq!(b.host_uid(), 100_005);
        assert!(b.has_dev_mount());
        assert_eq!(b.raw["linux"]["futureField"]["kept"], true);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_bundles_say_what_is_wrong() {
        let e = Bundle::load(Path::new("/nonexistent/bundle")).unwrap_err();
        assert_eq!(e.to_string(), "bundle /nonexistent/bundle: no such directory");
        let dir = write_bundle(
            "noargs",
            &serde_json::json!({ "ociVersion": "1.0.2", "root": { "path": "rootfs" } }),
        );
        assert!(Bundle::load(&dir).unwrap_err().to_string().ends_with("process.args is missing or empty"));
        std::fs::write(dir.join("config.json"), "{ not json").unwrap();
        assert!(Bundle::load(&dir).unwrap_err().to_string().ends_with("invalid OCI runtime config"));
        std::fs::remove_file(dir.join("config.json")).unwrap();
        assert!(Bundle::load(&dir).unwrap_err().to_string().ends_with("config.json: could not read"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
