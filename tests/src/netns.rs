//! Network namespaces the tests create for themselves: TAPs and addresses live
//! only inside them (10.0.0.0/24), and they are deleted even when a test fails.

use std::process::Command;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| panic!("could not run ip: {e}"));
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    /// Creates `tender-<pid>-<tag>` with its loopback up.
    pub fn new(tag: &str) -> NetNs {
        let name = format!("tender-{}-{tag}", std::process::id());
        // A leftover from a killed earlier run would make `add` fail.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let ns = NetNs { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// Adds TAP `tap`, up, with `addr` (CIDR) and `mtu` if given.
    pub fn tap(&self, tap: &str, addr: Option<&str>, mtu: Option<u32>) {
        ip(&["-n", &self.name, "tuntap", "add", tap, "mode", "tap"]);
        if let Some(mtu) = mtu {
            ip(&["-n", &self.name, "link", "set", tap, "mtu", &mtu.to_string()]);
        }
        ip(&["-n", &self.name, "link", "set", tap, "up"]);
        if let Some(addr) = addr {
            ip(&["-n", &self.name, "addr", "add", addr, "dev", tap]);
        }
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// True if this machine can create namespaces and TAPs (root, iproute2,
/// /dev/net/tun); otherwise the test SKIPs, or fails when they are required:
/// `TENDER_REQUIRE_NETNS=1`, or (unset) `TENDER_REQUIRE_KVM=1` (CI). The arm64 VM
/// requires KVM but not namespaces (`TENDER_REQUIRE_NETNS=0`).
pub fn netns_available(test: &str) -> bool {
    let ok = std::path::Path::new("/dev/net/tun").exists()
        // iproute2 with namespaces (busybox's ip, as in the arm64 VM, has none).
        && Command::new("ip").args(["netns", "list"]).output().is_ok_and(|o| o.status.success())
        // SAFETY: geteuid has no preconditions.
        && unsafe { libc::geteuid() } == 0;
    if !ok {
        let required = std::env::var("TENDER_REQUIRE_NETNS").or_else(|_| std::env::var("TENDER_REQUIRE_KVM"));
        if required.as_deref() == Ok("1") {
            panic!("{test}: network namespaces need root, iproute2 and /dev/net/tun");
        }
        eprintln!("SKIP {test}: needs root, iproute2 and /dev/net/tun for network namespaces");
    }
    ok
}
