//! Container engines the OCI tests start for themselves (shared/TOOLCHAIN.md §4): each on
//! its own socket and state directories, inside a network namespace the test made (so any
//! bridge or firewall rule an engine creates lives and dies there), stopped by PID afterwards.

use crate::guest::Background;
use crate::netns::NetNs;
use crate::{root, run_with_timeout, Outcome};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The tender-oci that `cargo xtask build` made.
pub fn tender_oci() -> PathBuf {
    let p = root().join("target/release/tender-oci");
    assert!(p.exists(), "{} is missing: run `cargo xtask build` (or `cargo xtask test`)", p.display());
    p
}

/// An OCI image tarball written by `cargo xtask build` (examples) or `cargo xtask test`
/// (`busybox`, `pause`).
pub fn oci_image(name: &str) -> PathBuf {
    let p = root().join(format!("target/oci/{}/{name}.tar", std::env::consts::ARCH));
    assert!(p.exists(), "{} is missing: run `cargo xtask test`", p.display());
    p
}

/// True if the OCI tests can run: root, /dev/kvm, and `programs` installed. Otherwise they
/// SKIP, or fail under TENDER_REQUIRE_KVM=1 (CI), where `cargo xtask test` installs them.
pub fn engines_available(test: &str, programs: &[&str]) -> bool {
    if !crate::kvm_available(test) || !crate::netns::netns_available(test) {
        return false;
    }
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {p}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("TENDER_REQUIRE_KVM").as_deref() == Ok("1") {
        panic!("{test}: missing {} (cargo xtask test installs them)", missing.join(", "));
    }
    eprintln!("SKIP {test}: missing {}", missing.join(", "));
    false
}

/// A scratch directory, unmounted below and removed on drop.
#[derive(Debug)]
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("tender-oci-{}-{tag}", std::process::id()));
        let s = Scratch { path };
        s.clean();
        std::fs::create_dir_all(&s.path).unwrap();
        s
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }

    /// Unmounts whatever an engine left mounted below the directory, deepest first.
    fn clean(&self) {
        let prefix = self.path.to_string_lossy().into_owned();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").args(["-l", &m]).output();
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.clean();
    }
}

/// A daemon started by a test: SIGTERM, then SIGKILL, by its PID on drop.
#[derive(Debug)]
pub struct Daemon {
    process: Background,
}

impl Daemon {
    /// Starts `cmd` inside `ns` (nsenter --net: unlike `ip netns exec` it leaves /sys and the
    /// cgroup mounts alone) and waits until `ready` returns true.
    pub fn start(ns: &NetNs, program: &str, args: &[&str], ready: impl Fn() -> bool) -> Daemon {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", ns.name)).arg(program).args(args);
        let d = Daemon { process: Background::start(&mut cmd) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready() {
            assert!(
                Instant::now() < deadline,
                "{program} did not become ready; its output:\n{}",
                d.process.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    pub fn log(&self) -> String {
        self.process.stderr()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.process.stop(Duration::from_secs(20));
    }
}

/// Runs a command with a 120 s timeout.
pub fn run(cmd: &mut Command) -> Outcome {
    run_with_timeout(cmd, Duration::from_secs(120))
}

/// tender-oci's state directory for a runc root: `<root>.tender-oci`, beside it.
pub fn tender_oci_dir(runc_root: &Path) -> PathBuf {
    let mut name = runc_root.file_name().unwrap().to_os_string();
    name.push(".tender-oci");
    runc_root.with_file_name(name)
}

/// The entries of our state directory for a runc root (what must be empty afterwards).
pub fn tender_oci_state(runc_root: &Path) -> Vec<String> {
    std::fs::read_dir(tender_oci_dir(runc_root))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// A veth pair from `host_ns` (`veth-<tag>`, `host_addr`) into a fresh namespace that a
/// container then joins: its `eth0` has `guest_addr` and a default route via the host side.
pub fn container_netns(host_ns: &NetNs, tag: &str, host_addr: &str, guest_addr: &str) -> NetNs {
    let ns = NetNs::new(tag);
    let veth = format!("veth-{tag}");
    let ip = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().unwrap();
        assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    };
    ip(&[
        "-n",
        &host_ns.name,
        "link",
        "add",
        &veth,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &ns.name,
    ]);
    ip(&["-n", &host_ns.name, "addr", "add", host_addr, "dev", &veth]);
    ip(&["-n", &host_ns.name, "link", "set", &veth, "up"]);
    ip(&["-n", &ns.name, "addr", "add", guest_addr, "dev", "eth0"]);
    ip(&["-n", &ns.name, "link", "set", "eth0", "up"]);
    let gw = host_addr.split('/').next().unwrap();
    ip(&["-n", &ns.name, "route", "add", "default", "via", gw]);
    ns
}

mod containerd;
mod docker;
mod podman;

pub use containerd::Containerd;
pub use docker::Docker;
pub use podman::Podman;
