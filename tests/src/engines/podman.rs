//! podman with tender-oci as its runtime: its own storage and run directories, every call
//! under `nsenter --net` into the test's namespace, so its default network (bridge, netavark
//! firewall rules) exists only there.

use super::{run, tender_oci, Scratch};
use crate::netns::NetNs;
use crate::Outcome;
use std::process::Command;

/// podman's state for one test.
#[derive(Debug)]
pub struct Podman {
    pub dir: Scratch,
    pub ns: NetNs,
}

impl Podman {
    pub fn new(tag: &str) -> Podman {
        Podman { dir: Scratch::new(tag), ns: NetNs::new(tag) }
    }

    /// `podman` with this test's storage, tender-oci as the runtime, cgroupfs, file events.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.ns.name))
            .arg("podman")
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .arg("--runtime")
            .arg(tender_oci())
            .args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        run(&mut self.command(args))
    }

    /// `podman run` within the sandbox's limits (podman's default ulimits exceed them).
    pub fn run_container(&self, args: &[&str]) -> Outcome {
        let mut all = vec!["run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];
        all.extend_from_slice(args);
        self.run(&all)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "--all", "--force", "--time", "0"]);
    }
}
