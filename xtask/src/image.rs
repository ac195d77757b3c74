//! OCI image tarballs without a registry: `cargo xtask image EXAMPLE` writes
//! `target/oci/<arch>/<example>.tar`, which `ctr image import`, `podman load` and
//! `docker load` all accept.
//!
//! One tarball holds the image twice over the same blobs: as an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/…`, for containerd and podman) and as
//! Docker's archive index (`manifest.json`, which Docker 20.10's `docker load` needs).
//! The single layer is an uncompressed tar of the given files; the config's
//! `Entrypoint` is the unikernel, so `docker run IMAGE a b` boots it with arguments `a b`.

use sha2::{Digest, Sha256};
use std::path::Path;

/// One file of the image's root filesystem.
#[derive(Debug, Clone)]
pub struct File {
    /// Path inside the image, without a leading slash.
    pub path: String,
    pub mode: u32,
    pub data: Vec<u8>,
}

/// An image to write.
#[derive(Debug, Clone)]
pub struct Image {
    /// Repository and tag, e.g. `tender/hello:latest` (Docker's short form).
    pub name: String,
    /// The OCI architecture (`amd64`, `arm64`).
    pub arch: &'static str,
    pub files: Vec<File>,
    pub entrypoint: Vec<String>,
}

/// The OCI architecture name of a Rust one.
pub fn oci_arch(arch: &str) -> &'static str {
    if arch == "aarch64" {
        "arm64"
    } else {
        "amd64"
    }
}

/// A ustar archive being built in memory.
#[derive(Debug, Default)]
struct Tar(Vec<u8>);

impl Tar {
    fn octal(field: &mut [u8], value: u64) {
        let digits = field.len() - 1;
        let text = format!("{value:0digits$o}");
        field[..digits].copy_from_slice(text.as_bytes());
    }

    fn entry(&mut self, path: &str, mode: u32, typeflag: u8, data: &[u8]) {
        let mut h = [0u8; 512];
        assert!(path.len() < 100, "tar path too long: {path}");
        h[..path.len()].copy_from_slice(path.as_bytes());
        Tar::octal(&mut h[100..108], u64::from(mode));
        Tar::octal(&mut h[108..116], 0);
        Tar::octal(&mut h[116..124], 0);
        Tar::octal(&mut h[124..136], data.len() as u64);
        Tar::octal(&mut h[136..148], 0);
        h[156] = typeflag;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        self.0.extend_from_slice(&h);
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().next_multiple_of(512), 0);
    }

    fn dir(&mut self, path: &str) {
        self.entry(&format!("{path}/"), 0o755, b'5', &[]);
    }

    fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
        self.entry(path, mode, b'0', data);
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        self.0
    }
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// The layer: the files, with their parent directories.
fn layer(files: &[File]) -> Vec<u8> {
    let mut tar = Tar::default();
    let mut dirs: Vec<&str> = Vec::new();
    for f in files {
        let mut parent = Path::new(&f.path).parent();
        let mut chain = Vec::new();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            chain.push(p.to_str().expect("UTF-8 path"));
            parent = p.parent();
        }
        for d in chain.into_iter().rev() {
            if !dirs.contains(&d) {
                dirs.push(d);
                tar.dir(d);
            }
        }
        tar.file(&f.path, f.mode, &f.data);
    }
    tar.finish()
}

/// The whole tarball.
pub fn tarball(image: &Image) -> Vec<u8> {
    let layer = layer(&image.files);
    let layer_digest = sha256(&layer);
    let config = serde_json::json!({
        "architecture": image.arch,
        "os": "linux",
        "config": {
            "Entrypoint": image.entrypoint,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "WorkingDir": "/",
        },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_digest}")] },
        "history": [{ "created_by": "cargo xtask image" }],
    })
    .to_string()
    .into_bytes();
    let config_digest = sha256(&config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": format!("sha256:{config_digest}"), "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar",
                     "digest": format!("sha256:{layer_digest}"), "size": layer.len() }],
    })
    .to_string()
    .into_bytes();
    let manifest_digest = sha256(&manifest);
    let full_name = format!("docker.io/{}", image.name);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest.len(),
            "platform": { "architecture": image.arch, "os": "linux" },
            "annotations": {
                "io.containerd.image.name": full_name,
                "org.opencontainers.image.ref.name": full_name,
            },
        }],
    })
    .to_string()
    .into_bytes();
    let docker = serde_json::json!([{
        "Config": format!("blobs/sha256/{config_digest}"),
        "RepoTags": [image.name],
        "Layers": [format!("blobs/sha256/{layer_digest}")],
    }])
    .to_string()
    .into_bytes();

    let mut tar = Tar::default();
    tar.file("oci-layout", 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#);
    tar.file("index.json", 0o644, &index);
    tar.file("manifest.json", 0o644, &docker);
    tar.dir("blobs");
    tar.dir("blobs/sha256");
    for (digest, blob) in [(&layer_digest, &layer), (&config_digest, &config), (&manifest_digest, &manifest)]
    {
        tar.file(&format!("blobs/sha256/{digest}"), 0o644, blob);
    }
    tar.finish()
}

/// The image of a unikernel: `/<name>.hvt` as its entrypoint.
pub fn unikernel(name: &str, arch: &str, hvt: Vec<u8>) -> Image {
    let file = format!("{name}.hvt");
    Image {
        name: format!("tender/{name}:latest"),
        arch: oci_arch(arch),
        entrypoint: vec![format!("/{file}")],
        files: vec![File { path: file, mode: 0o755, data: hvt }],
    }
}

/// Debian's static busybox (package busybox-static) as a plain, non-unikernel image, for the
/// OCI tests: `tender/busybox` runs an applet, `tender/pause` sleeps (a CRI pod's sandbox).
pub fn busybox(name: &str, arch: &str, entrypoint: &[&str]) -> Result<Image, String> {
    let path = "/bin/busybox";
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e} (apt-get install busybox-static)"))?;
    Ok(Image {
        name: format!("tender/{name}:latest"),
        arch: oci_arch(arch),
        entrypoint: entrypoint.iter().map(|s| s.to_string()).collect(),
        files: vec![File { path: "bin/busybox".into(), mode: 0o755, data }],
    })
}

/// Writes `image` to `out` (atomically).
pub fn write(image: &Image, out: &Path) -> Result<(), String> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let tmp = out.with_extension("tar.tmp");
    std::fs::write(&tmp, tarball(image))
        .and_then(|()| std::fs::rename(&tmp, out))
        .map_err(|e| format!("{}: {e}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries of a ustar archive: (name, typeflag, data).
    fn entries(tar: &[u8]) -> Vec<(String, u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 512 <= tar.len() && tar[at] != 0 {
            let h = &tar[at..at + 512];
            let name = String::from_utf8(h[..100].split(|&b| b == 0).next().unwrap().to_vec()).unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&h[124..135]).unwrap(), 8).unwrap();
            let sum = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
            let mut blank = h.to_vec();
            blank[148..156].fill(b' ');
            assert_eq!(sum, blank.iter().map(|&b| u32::from(b)).sum::<u32>(), "checksum of {name}");
            out.push((name, h[156], tar[at + 512..at + 512 + size].to_vec()));
            at += 512 + size.next_multiple_of(512);
        }
        out
    }

    #[test]
    fn blobs_are_named_by_their_digests_and_everything_points_at_them() {
        let img = Image {
            name: "tender/t:latest".into(),
            arch: "amd64",
            files: vec![File { path: "usr/bin/t.hvt".into(), mode: 0o755, data: b"\x7fELF".to_vec() }],
            entrypoint: vec!["/usr/bin/t.hvt".into()],
        };
        let all = entries(&tarball(&img));
        let get = |n: &str| all.iter().find(|e| e.0 == n).unwrap_or_else(|| panic!("{n} missing")).2.clone();
        for (name, kind, data) in &all {
            if let Some(digest) = name.strip_prefix("blobs/sha256/").filter(|d| !d.is_empty()) {
                assert_eq!(*kind, b'0');
                assert_eq!(sha256(data), *digest);
            }
        }
        let index: serde_json::Value = serde_json::from_slice(&get("index.json")).unwrap();
        let mdigest =
            index["manifests"][0]["digest"].as_str().unwrap().strip_prefix("sha256:").unwrap().to_string();
        let manifest: serde_json::Value =
            serde_json::from_slice(&get(&format!("blobs/sha256/{mdigest}"))).unwrap();
        let cdigest =
            manifest["config"]["digest"].as_str().unwrap().strip_prefix("sha256:").unwrap().to_string();
        let config: serde_json::Value =
            serde_json::from_slice(&get(&format!("blobs/sha256/{cdigest}"))).unwrap();
        assert_eq!(config["config"]["Entrypoint"][0], "/usr/bin/t.hvt");
        let ldigest =
            manifest["layers"][0]["digest"].as_str().unwrap().strip_prefix("sha256:").unwrap().to_string();
        assert_eq!(config["rootfs"]["diff_ids"][0], format!("sha256:{ldigest}"));
        let docker: serde_json::Value = serde_json::from_slice(&get("manifest.json")).unwrap();
        assert_eq!(docker[0]["Layers"][0], format!("blobs/sha256/{ldigest}"));
        assert_eq!(docker[0]["RepoTags"][0], "tender/t:latest");
        let layer = entries(&get(&format!("blobs/sha256/{ldigest}")));
        let names: Vec<&str> = layer.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["usr/", "usr/bin/", "usr/bin/t.hvt"]);
        assert_eq!(layer[2].2, b"\x7fELF");
    }
}
