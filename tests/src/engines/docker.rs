//! A private dockerd (own data and exec roots, socket and pid file) inside the test's
//! namespace, started with `--bridge=none --iptables=false` (no bridge, no firewall rules
//! anywhere) and tender-oci as runtime `tender`.

use super::{run, tender_oci, Daemon, Scratch};
use crate::netns::NetNs;
use crate::Outcome;
use std::process::Command;

/// A running dockerd.
#[derive(Debug)]
pub struct Docker {
    daemon: Option<Daemon>,
    pub dir: Scratch,
    pub ns: NetNs,
}

impl Docker {
    pub fn start(tag: &str) -> Docker {
        let dir = Scratch::new(tag);
        let ns = NetNs::new(tag);
        let sock = format!("unix://{}", dir.join("docker.sock").display());
        let runtime = format!("tender={}", tender_oci().display());
        let (data, exec, pid) = (dir.join("data"), dir.join("exec"), dir.join("docker.pid"));
        let args = [
            "--data-root",
            data.to_str().unwrap(),
            "--exec-root",
            exec.to_str().unwrap(),
            "--pidfile",
            pid.to_str().unwrap(),
            "-H",
            &sock,
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--storage-driver",
            "vfs",
            "--add-runtime",
            &runtime,
        ];
        let probe = sock.clone();
        let daemon = Daemon::start(&ns, "dockerd", &args, move || {
            Command::new("docker")
                .env("DOCKER_HOST", &probe)
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
        Docker { daemon: Some(daemon), dir, ns }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", format!("unix://{}", self.dir.join("docker.sock").display())).args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        run(&mut self.command(args))
    }

    /// `docker run --rm --runtime tender` within the sandbox's limits.
    pub fn run_container(&self, args: &[&str]) -> Outcome {
        let mut all = vec!["run", "--rm", "--runtime", "tender", "--ulimit", "nofile=1024:1024"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    pub fn log(&self) -> String {
        self.daemon.as_ref().map(Daemon::log).unwrap_or_default()
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        for id in self.run(&["ps", "--all", "--quiet"]).stdout.lines() {
            let _ = self.run(&["rm", "--force", id]);
        }
        self.daemon.take();
    }
}
