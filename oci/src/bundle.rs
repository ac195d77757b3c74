//! An OCI bundle: `config.json` read with the `oci-spec` crate (typed, validated) and kept as
//! JSON too. Deciding *whether* a container is a unikernel needs only a few fields, read from
//! the JSON, so a config that oci-spec is stricter about than runc (an unknown capability, a
//! new rlimit) still goes to runc unharmed; a unikernel's config must pass oci-spec. The
//! bundle handed to runc is the engine's JSON with only our edits.

use oci_spec::runtime::Spec;
use serde_json::Value;
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
    #[error("{path}: invalid OCI runtime config: {msg}")]
    InvalidSpec { path: PathBuf, msg: String },
    #[error("{0}: process.args is missing or empty")]
    NoArgs(PathBuf),
    #[error("{0}: root.path is missing")]
    NoRoot(PathBuf),
    #[error("{0}: the user-namespace mapping of the container's uid overflows")]
    UidMapping(PathBuf),
}

/// A loaded bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory, absolute.
    pub dir: PathBuf,
    /// `config.json` as JSON, for a faithful rewrite.
    pub raw: Value,
    /// The root filesystem, absolute (root.path is relative to the bundle).
    pub rootfs: PathBuf,
    /// The typed config, or why oci-spec refused it.
    spec: Result<Spec, String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Bundle, BundleError> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        if !dir.is_dir() {
            return Err(BundleError::NoBundle(dir));
        }
        let path = dir.join("config.json");
        let text = std::fs::read(&path).map_err(|source| BundleError::Read { path: path.clone(), source })?;
        let raw: Value = serde_json::from_slice(&text)
            .map_err(|source| BundleError::Invalid { path: path.clone(), source })?;
        if strings(&raw["process"]["args"]).is_empty() {
            return Err(BundleError::NoArgs(path));
        }
        let root = raw["root"]["path"].as_str().ok_or_else(|| BundleError::NoRoot(path.clone()))?;
        let rootfs = dir.join(root);
        let spec = serde_json::from_value::<Spec>(raw.clone()).map_err(|e| e.to_string());
        Ok(Bundle { dir, raw, rootfs, spec })
    }

    /// The typed config; a unikernel's must be valid to oci-spec.
    pub fn spec(&self) -> Result<&Spec, BundleError> {
        self.spec
            .as_ref()
            .map_err(|msg| BundleError::InvalidSpec { path: self.dir.join("config.json"), msg: msg.clone() })
    }

    /// `process.args` (never empty after [`Bundle::load`]).
    pub fn args(&self) -> Vec<String> {
        strings(&self.raw["process"]["args"])
    }

    /// `process.env`.
    pub fn env(&self) -> Vec<String> {
        strings(&self.raw["process"]["env"])
    }

    /// `process.cwd` (absolute in a valid config; `/` if absent).
    pub fn cwd(&self) -> PathBuf {
        PathBuf::from(self.raw["process"]["cwd"].as_str().unwrap_or("/"))
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.raw["annotations"][key].as_str()
    }

    /// All annotations whose key starts with `prefix`, with the prefix removed.
    pub fn annotations_with(&self, prefix: &str) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self.raw["annotations"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v.as_str()?.to_string())))
            .collect();
        v.sort();
        v
    }

    /// The cgroup memory limit in bytes, if one is set.
    pub fn memory_limit(&self) -> Result<Option<u64>, BundleError> {
        let linux = self.spec()?.linux().as_ref();
        let limit = linux.and_then(|l| l.resources().as_ref()?.memory().as_ref()?.limit());
        Ok(limit.and_then(|l| u64::try_from(l).ok()).filter(|l| *l > 0))
    }

    /// The host uid of the container's process (through the user-namespace mapping, if any).
    pub fn host_uid(&self) -> Result<u32, BundleError> {
        let spec = self.spec()?;
        let uid = spec.process().as_ref().map_or(0, |p| p.user().uid());
        let maps = spec.linux().as_ref().and_then(|l| l.uid_mappings().clone()).unwrap_or_default();
        match maps.iter().find(|m| uid >= m.container_id() && uid - m.container_id() < m.size()) {
            None => Ok(uid),
            Some(m) => m
                .host_id()
                .checked_add(uid - m.container_id())
                .ok_or_else(|| BundleError::UidMapping(self.dir.clone())),
        }
    }

    /// True if a mount at `/dev` is declared (runc then puts a tmpfs there).
    pub fn has_dev_mount(&self) -> bool {
        self.raw["mounts"].as_array().into_iter().flatten().any(|m| m["destination"] == "/dev")
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
        assert_eq!(b.cwd(), PathBuf::from("/"));
        assert_eq!(b.rootfs, dir.join("rootfs"));
        assert_eq!(b.annotation("tender.mem"), Some("64"));
        assert_eq!(b.annotations_with("tender.block."), vec![("disk".to_string(), "/d".to_string())]);
        assert_eq!(b.memory_limit().unwrap(), Some(64 << 20));
        assert_eq!(b.host_uid().unwrap(), 100_005);
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
        // What runc accepts and oci-spec does not is still readable for the decision.
        let strict = serde_json::json!({ "ociVersion": "1.0.2", "root": { "path": "rootfs" },
            "process": { "args": ["/bin/sh"], "cwd": "/", "user": { "uid": 0, "gid": 0 },
                         "capabilities": { "bounding": ["CAP_FUTURE_THING"] } } });
        std::fs::write(dir.join("config.json"), strict.to_string()).unwrap();
        let b = Bundle::load(&dir).unwrap();
        assert_eq!(b.args(), ["/bin/sh"]);
        assert!(b.spec().unwrap_err().to_string().contains("invalid OCI runtime config: "));
        std::fs::write(dir.join("config.json"), "{ not json").unwrap();
        assert!(Bundle::load(&dir).unwrap_err().to_string().ends_with("invalid OCI runtime config"));
        std::fs::remove_file(dir.join("config.json")).unwrap();
        assert!(Bundle::load(&dir).unwrap_err().to_string().ends_with("config.json: could not read"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
