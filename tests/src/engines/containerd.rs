//! A private containerd (its own root, state and socket, optionally its CRI plugin with a
//! `tender` runtime handler), driven with `ctr`.

use super::{run, tender_oci, Daemon, Scratch};
use crate::netns::NetNs;
use crate::Outcome;
use std::path::PathBuf;
use std::process::Command;

/// A running containerd; `ctr` talks to it in namespace `namespace`.
#[derive(Debug)]
pub struct Containerd {
    daemon: Option<Daemon>,
    pub namespace: String,
    pub dir: Scratch,
    pub ns: NetNs,
}

impl Containerd {
    /// Starts containerd inside a fresh network namespace. With `cri`, its CRI plugin serves
    /// the same socket, with runtime handler `tender` = the runc v2 shim calling tender-oci
    /// (the pause container included: tender-oci hands it to runc).
    pub fn start(tag: &str, cri: bool) -> Containerd {
        let dir = Scratch::new(tag);
        let ns = NetNs::new(tag);
        let namespace =
            if cri { "k8s.io".to_string() } else { format!("tender-test-{}-{tag}", std::process::id()) };
        let cri_config = format!(
            r#"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/tender/pause:latest"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.tender]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.tender.options]
      BinaryName = "{}"
"#,
            tender_oci().display()
        );
        let disabled = if cri { "" } else { r#"disabled_plugins = ["io.containerd.grpc.v1.cri"]"# };
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n{disabled}\n[grpc]\n  address = \"{sock}\"\n{cri}",
            root = dir.join("root").display(),
            state = dir.join("state").display(),
            sock = dir.join("containerd.sock").display(),
            cri = if cri { cri_config.as_str() } else { "" },
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let sock = dir.join("containerd.sock");
        let config_path = dir.join("config.toml").display().to_string();
        let probe = sock.clone();
        let daemon = Daemon::start(&ns, "containerd", &["--config", &config_path], move || {
            Command::new("ctr")
                .arg("--address")
                .arg(&probe)
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
        Containerd { daemon: Some(daemon), namespace, dir, ns }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    /// `ctr --address SOCK -n NAMESPACE args...`, run to completion.
    pub fn ctr(&self, args: &[&str]) -> Outcome {
        run(&mut self.ctr_command(args))
    }

    /// The same, to start in the background.
    pub fn ctr_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address").arg(self.socket()).args(["-n", &self.namespace]).args(args);
        cmd
    }

    /// `ctr run --rm --runc-binary tender-oci` with `args` (flags, image or --rootfs, id, ...).
    pub fn run(&self, args: &[&str]) -> Outcome {
        let oci = tender_oci();
        let mut all = vec!["run", "--rm", "--runc-binary", oci.to_str().unwrap()];
        all.extend_from_slice(args);
        self.ctr(&all)
    }

    /// The runc root the shim passes to tender-oci for this namespace.
    pub fn runc_root(&self) -> PathBuf {
        PathBuf::from("/run/containerd/runc").join(&self.namespace)
    }

    /// containerd's own log so far.
    pub fn log(&self) -> String {
        self.daemon.as_ref().map(Daemon::log).unwrap_or_default()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Tasks a failed test left: killed and removed, so no shim outlives the test.
        let tasks = self.ctr(&["task", "ls", "-q"]).stdout;
        for t in tasks.lines() {
            let _ = self.ctr(&["task", "kill", "-s", "SIGKILL", t]);
            let _ = self.ctr(&["task", "delete", "-f", t]);
        }
        for c in self.ctr(&["container", "ls", "-q"]).stdout.lines() {
            let _ = self.ctr(&["container", "rm", c]);
        }
        self.daemon.take();
        if !self.namespace.starts_with("k8s.io") {
            let _ = std::fs::remove_dir_all(self.runc_root());
        }
        let state = super::tender_oci_dir(&self.runc_root());
        if super::tender_oci_state(&self.runc_root()).is_empty() {
            let _ = std::fs::remove_dir(state);
        }
    }
}
