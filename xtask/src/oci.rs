//! What the OCI suite (`tests/tests/oci_*.rs`) needs besides tender-oci: the container
//! engines from Debian (shared/TOOLCHAIN.md §4), a CRI client from PyPI for the
//! kubelet-level test, and plain busybox images to run beside the unikernels.

use crate::{image, run, setup};
use std::path::Path;
use std::process::Command;

/// containerd + runc (ctr and the CRI), podman with its network stack, Docker, busybox for
/// plain containers, iptables for the engines' own networks (inside test namespaces only).
pub const PACKAGES: &[&str] = &[
    "containerd",
    "runc",
    "podman",
    "conmon",
    "netavark",
    "containernetworking-plugins",
    "catatonit",
    "docker.io",
    "tini",
    "iptables",
    "busybox-static",
];

/// The CRI v1 client stubs (as crictl is not buildable here) and gRPC, installed into
/// `target/cri-py` (on PYTHONPATH for the CRI test only).
const PYPI: &[&str] = &["container-runtime-interface-api==2.0.1", "grpcio"];

/// Installs what is missing and writes the plain test images.
pub fn prepare(root: &Path) -> Result<(), String> {
    setup::ensure(PACKAGES)?;
    let py = root.join("target/cri-py");
    if !py.join("cri_api").is_dir() {
        println!("xtask: installing the CRI client from PyPI into {}", py.display());
        run(Command::new("python3")
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "--target"])
            .arg(&py)
            .args(PYPI))?;
    }
    for (name, entry) in
        [("busybox", &["/bin/busybox"][..]), ("pause", &["/bin/busybox", "sleep", "86400"][..])]
    {
        let out = root.join(format!("target/oci/x86_64/{name}.tar"));
        image::write(&image::busybox(name, "x86_64", entry)?, &out)?;
    }
    Ok(())
}
