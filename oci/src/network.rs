//! Joins the container's network interfaces to TAP devices, inside the container's network
//! namespace: a TAP per net device, owned by the container's user, with the interface's MTU,
//! and a tc ingress redirect both ways (u32 match-all + mirred), so every frame the engine's
//! veth receives reaches the guest and every frame the guest sends leaves through the veth.
//! The guest takes the interface's MAC and IPv4 address, so to the engine's network it *is*
//! the container. iproute2's `ip` and `tc` run in the namespace (setns before exec).

use crate::plan::{Ipv4, NetAttach, NetPlan};
use crate::state::Tap;
use serde::Deserialize;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Problems with the container's network.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("{path}: could not open the container's network namespace")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the image declares network devices, but the container shares tender-oci's network \
         namespace: give it a network of its own (no host networking)"
    )]
    HostNamespace,
    #[error("could not run {0} (is iproute2 installed?)")]
    Spawn(String, #[source] std::io::Error),
    #[error("`{command}` failed in the container's network namespace: {stderr}")]
    Command { command: String, stderr: String },
    #[error("`{0}` printed unexpected output")]
    Output(String),
    #[error("net device '{name}': the container has no network interface for it ({have} found)")]
    NoInterface { name: String, have: usize },
    #[error("net device '{name}': no interface '{iface}' in the container")]
    NoSuchInterface { name: String, iface: String },
    #[error("net device '{name}': interface '{iface}' is already joined to net device '{other}'")]
    InterfaceTaken { name: String, iface: String, other: String },
}

/// `linkinfo` of `ip -j -details link`: the kind of device.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LinkInfo {
    #[serde(default)]
    pub info_kind: String,
}

/// One interface as `ip -j -details link` reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct Link {
    pub ifindex: u32,
    pub ifname: String,
    #[serde(default)]
    pub link_type: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub mtu: u32,
    #[serde(default)]
    pub linkinfo: Option<LinkInfo>,
}

#[derive(Debug, Deserialize)]
struct AddrInfo {
    #[serde(default)]
    family: String,
    #[serde(default)]
    local: String,
    #[serde(default)]
    prefixlen: u8,
}

#[derive(Debug, Deserialize)]
struct LinkAddrs {
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

#[derive(Debug, Deserialize)]
struct Route {
    #[serde(default)]
    gateway: Option<String>,
}

/// What [`Netns::attach`] did.
#[derive(Debug, Default)]
pub struct Attached {
    /// What tender needs, per net device.
    pub nets: Vec<NetAttach>,
    /// The first interface's IPv4 settings, for the guest's command line.
    pub ipv4: Option<Ipv4>,
}

/// A network namespace to run `ip`/`tc` in.
#[derive(Debug)]
pub struct Netns {
    file: File,
}

/// The TAP name for a container's `index`-th net device: `tnd`, a hash of the container id
/// (containers sharing a network namespace, as in a pod, get different TAPs) and the index;
/// at most 13 characters (IFNAMSIZ is 16 with the NUL).
pub fn tap_name(id: &str, index: usize) -> String {
    // FNV-1a: a stable, well-spread 32-bit hash.
    let hash = id.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    format!("tnd{hash:08x}{index}")
}

impl Netns {
    /// Opens a namespace file (`/proc/PID/ns/net` or a bind mount of one). With `own_check`,
    /// refuses the host's namespace (PID 1's) and the one tender-oci itself runs in:
    /// redirecting their interfaces into a guest would cut them off their network.
    pub fn open(path: &Path, own_check: bool) -> Result<Netns, NetworkError> {
        let open_err = |source| NetworkError::Open { path: path.display().to_string(), source };
        let file = File::open(path).map_err(open_err)?;
        if own_check {
            let theirs = file.metadata().map_err(open_err)?;
            let ours = std::fs::metadata("/proc/self/ns/net").map_err(open_err)?;
            // PID 1's may be out of reach (a sandboxed host): then ours is the one to guard.
            let host = std::fs::metadata("/proc/1/ns/net").ok();
            for m in std::iter::once(ours).chain(host) {
                if (theirs.dev(), theirs.ino()) == (m.dev(), m.ino()) {
                    return Err(NetworkError::HostNamespace);
                }
            }
        }
        Ok(Netns { file })
    }

    /// Runs `prog args` inside the namespace and returns its stdout.
    fn run(&self, prog: &str, args: &[&str]) -> Result<String, NetworkError> {
        let fd = self.file.as_raw_fd();
        let mut cmd = Command::new(prog);
        cmd.args(args).stdin(Stdio::null());
        // SAFETY: between fork and exec the closure only calls setns(2), which is
        // async-signal-safe, on an fd that stays open in the child.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let shown = format!("{prog} {}", args.join(" "));
        let out = cmd.output().map_err(|e| NetworkError::Spawn(shown.clone(), e))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().replace('\n', "; ");
            return Err(NetworkError::Command { command: shown, stderr });
        }
        String::from_utf8(out.stdout).map_err(|_| NetworkError::Output(shown))
    }

    fn json<T: for<'de> Deserialize<'de>>(&self, prog: &str, args: &[&str]) -> Result<T, NetworkError> {
        let text = self.run(prog, args)?;
        serde_json::from_str(&text).map_err(|_| NetworkError::Output(format!("{prog} {}", args.join(" "))))
    }

    /// The engine's Ethernet interfaces, in creation (ifindex) order; TAPs (ours or anyone's)
    /// are not the engine's.
    pub fn ethernet_links(&self) -> Result<Vec<Link>, NetworkError> {
        let mut links: Vec<Link> = self.json("ip", &["-j", "-details", "link", "show"])?;
        links.retain(|l| l.link_type == "ether" && l.linkinfo.as_ref().is_none_or(|i| i.info_kind != "tun"));
        links.sort_by_key(|l| l.ifindex);
        Ok(links)
    }

    /// The first IPv4 address of `iface` and the default gateway, if any.
    pub fn ipv4(&self, iface: &str) -> Result<Option<Ipv4>, NetworkError> {
        let addrs: Vec<LinkAddrs> = self.json("ip", &["-j", "-4", "addr", "show", "dev", iface])?;
        let Some(a) = addrs.iter().flat_map(|l| &l.addr_info).find(|a| a.family == "inet") else {
            return Ok(None);
        };
        let routes: Vec<Route> = self.json("ip", &["-j", "-4", "route", "show", "default"])?;
        let gateway = routes.into_iter().find_map(|r| r.gateway);
        Ok(Some(Ipv4 { cidr: format!("{}/{}", a.local, a.prefixlen), gateway }))
    }

    /// Removes these TAPs and the redirects into them; an interface whose redirect now leads
    /// to another container's TAP (a later container of the same pod) keeps it.
    pub fn remove(&self, taps: &[Tap]) {
        for t in taps {
            let filters =
                self.run("tc", &["filter", "show", "dev", &t.iface, "parent", "ffff:"]).unwrap_or_default();
            if filters.contains(&t.name) {
                let _ = self.run("tc", &["qdisc", "del", "dev", &t.iface, "ingress"]);
            }
            let _ = self.run("ip", &["link", "del", &t.name]);
        }
    }

    /// Makes TAP `tap` (owned by `uid`) and redirects all frames between it and `link`. A
    /// redirect already on the interface (an earlier container of the same pod that has
    /// exited) is replaced: the newest unikernel takes the interface.
    fn join(&self, link: &Link, tap: &str, uid: u32) -> Result<(), NetworkError> {
        let uid = uid.to_string();
        let mtu = link.mtu.to_string();
        let iface = link.ifname.as_str();
        let _ = self.run("ip", &["link", "del", tap]);
        let _ = self.run("tc", &["qdisc", "del", "dev", iface, "ingress"]);
        self.run("ip", &["tuntap", "add", "dev", tap, "mode", "tap", "user", &uid])?;
        self.run("ip", &["link", "set", "dev", tap, "mtu", &mtu, "up"])?;
        for (from, to) in [(iface, tap), (tap, iface)] {
            self.run("tc", &["qdisc", "add", "dev", from, "ingress"])?;
            self.run(
                "tc",
                &[
                    "filter", "add", "dev", from, "parent", "ffff:", "protocol", "all", "u32", "match",
                    "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", to,
                ],
            )?;
        }
        Ok(())
    }

    /// Which interface each planned net device takes: the one its annotation names, else the
    /// next unused one in order; no interface serves two devices.
    pub fn choose(&self, nets: &[NetPlan]) -> Result<Vec<Link>, NetworkError> {
        let links = self.ethernet_links()?;
        let mut taken: Vec<(String, String)> = Vec::new(); // (interface, device)
        let mut chosen = Vec::new();
        for n in nets.iter().filter(|n| n.iface.is_some()).chain(nets.iter().filter(|n| n.iface.is_none())) {
            let link = match &n.iface {
                Some(name) => links.iter().find(|l| &l.ifname == name).ok_or_else(|| {
                    NetworkError::NoSuchInterface { name: n.name.clone(), iface: name.clone() }
                })?,
                None => links
                    .iter()
                    .find(|l| !taken.iter().any(|(i, _)| i == &l.ifname))
                    .ok_or(NetworkError::NoInterface { name: n.name.clone(), have: links.len() })?,
            };
            if let Some((_, other)) = taken.iter().find(|(i, _)| i == &link.ifname) {
                return Err(NetworkError::InterfaceTaken {
                    name: n.name.clone(),
                    iface: link.ifname.clone(),
                    other: other.clone(),
                });
            }
            taken.push((link.ifname.clone(), n.name.clone()));
            chosen.push((n.name.clone(), link.clone()));
        }
        // Back in manifest order.
        Ok(nets
            .iter()
            .filter_map(|n| chosen.iter().find(|(d, _)| d == &n.name).map(|(_, l)| l.clone()))
            .collect())
    }

    /// Joins each net device's interface (from [`Netns::choose`]) to its TAP (`taps`, in the
    /// same order, already recorded so that a failure half-way can be undone by the caller).
    pub fn attach(
        &self,
        nets: &[NetPlan],
        links: &[Link],
        taps: &[Tap],
        uid: u32,
    ) -> Result<Attached, NetworkError> {
        let mut attached = Vec::new();
        for ((n, link), tap) in nets.iter().zip(links).zip(taps) {
            self.join(link, &tap.name, uid)?;
            attached.push(NetAttach {
                name: n.name.clone(),
                tap: tap.name.clone(),
                mac: link.address.clone(),
            });
        }
        let ipv4 = match links.first() {
            Some(l) => self.ipv4(&l.ifname)?,
            None => None,
        };
        Ok(Attached { nets: attached, ipv4 })
    }
}

/// Pins a network namespace at `dest` (a bind mount) so it outlives the container's process.
pub fn pin(ns: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::write(dest, b"")?;
    let c =
        |p: &Path| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).map_err(std::io::Error::other);
    let (src, dst) = (c(ns)?, c(dest)?);
    // SAFETY: both strings are valid NUL-terminated paths that outlive the call; a bind mount
    // of a namespace file touches no memory of ours.
    let rc =
        unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Undoes [`pin`] (lazily: a namespace still in use elsewhere lives on there).
pub fn unpin(dest: &Path) {
    if let Ok(dst) = std::ffi::CString::new(dest.as_os_str().as_encoded_bytes()) {
        // SAFETY: a valid NUL-terminated path; failure (not mounted) is harmless.
        unsafe { libc::umount2(dst.as_ptr(), libc::MNT_DETACH) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_json_parses() {
        let links: Vec<Link> = serde_json::from_str(
            r#"[{"ifindex":1,"ifname":"lo","link_type":"loopback","address":"00:00:00:00:00:00","mtu":65536},
                {"ifindex":7,"ifname":"eth0","link_type":"ether","address":"02:42:ac:11:00:02","mtu":1500,"flags":["UP"],
                 "linkinfo":{"info_kind":"veth"}},
                {"ifindex":9,"ifname":"tap0","link_type":"ether","linkinfo":{"info_kind":"tun","info_data":{"type":"tap"}}}]"#,
        )
        .unwrap();
        assert_eq!(links[1].ifname, "eth0");
        assert_eq!(links[2].linkinfo.as_ref().unwrap().info_kind, "tun");
        assert_eq!(links[1].address, "02:42:ac:11:00:02");
        let addrs: Vec<LinkAddrs> = serde_json::from_str(
            r#"[{"ifindex":7,"addr_info":[{"family":"inet","local":"172.17.0.2","prefixlen":16}]}]"#,
        )
        .unwrap();
        assert_eq!(addrs[0].addr_info[0].local, "172.17.0.2");
        let routes: Vec<Route> =
            serde_json::from_str(r#"[{"dst":"default","gateway":"172.17.0.1","dev":"eth0"}]"#).unwrap();
        assert_eq!(routes[0].gateway.as_deref(), Some("172.17.0.1"));
        assert_eq!(tap_name("web", 1), tap_name("web", 1));
        assert_ne!(tap_name("web", 0), tap_name("web2", 0));
        assert!(tap_name(&"x".repeat(1024), 63).len() <= 15);
    }

    #[test]
    fn our_own_namespace_is_refused() {
        let e = Netns::open(Path::new("/proc/self/ns/net"), true).unwrap_err();
        assert!(matches!(e, NetworkError::HostNamespace));
        assert!(Netns::open(Path::new("/proc/self/ns/net"), false).is_ok());
    }
}
