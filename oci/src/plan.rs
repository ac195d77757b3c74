//! How a unikernel container maps onto tender's options: guest memory from the container's
//! memory limit (or an annotation), block devices from paths inside the container, network
//! devices from the container's interfaces. Pure: the rules are unit-tested here.

use crate::bundle::Bundle;
use std::ffi::OsString;
use std::path::PathBuf;
use tender::manifest::{DeviceKind, Manifest};

/// Annotation prefix of everything tender-oci reads.
pub const PREFIX: &str = "tender.";
/// What the container's memory limit keeps for tender itself (its ~2 MiB RSS, KVM's page
/// tables and vCPU state, the console buffer), not given to the guest.
pub const OVERHEAD_MIB: u64 = 16;
/// Smallest guest tender runs.
pub const MIN_GUEST_MIB: u64 = 2;
/// Where block device NAME is looked for in the container when no annotation names a path.
pub const BLOCK_DIR: &str = "/block";

/// An annotation or limit that does not work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("annotation {key}={value}: {why}")]
    Annotation { key: String, value: String, why: String },
    #[error(
        "memory limit of {limit_mib} MiB leaves no room for a guest: tender needs {OVERHEAD_MIB} MiB \
         besides the guest's at least {MIN_GUEST_MIB} MiB"
    )]
    LimitTooSmall { limit_mib: u64 },
    #[error(
        "annotation tender.mem={mem} MiB does not fit the memory limit of {limit_mib} MiB \
         ({OVERHEAD_MIB} MiB are tender's own)"
    )]
    MemOverLimit { mem: u64, limit_mib: u64 },
    #[error("annotation {0}: the image's manifest declares no such device")]
    UnknownDevice(String),
}

/// A block device: NAME and its path inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPlan {
    pub name: String,
    pub path: PathBuf,
    pub sector_size: Option<u64>,
}

/// A network device: NAME and the container interface chosen by annotation, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetPlan {
    pub name: String,
    pub iface: Option<String>,
}

/// Everything decided before the container exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub mem_mib: u64,
    pub blocks: Vec<BlockPlan>,
    pub nets: Vec<NetPlan>,
}

fn bad(key: &str, value: &str, why: impl Into<String>) -> PlanError {
    PlanError::Annotation { key: format!("{PREFIX}{key}"), value: value.into(), why: why.into() }
}

/// tender's own sizing rules (2 MiB granule, 2 MiB to 4 GiB), without its rounding warning.
fn tender_mib(mib: u64) -> Result<u64, tender::memsize::MemSizeError> {
    tender::memsize::guest_mem_size(Some(mib)).map(|(bytes, _)| bytes >> 20)
}

/// Guest memory in MiB: `tender.mem` if given (it must fit the limit), else the limit less
/// [`OVERHEAD_MIB`] (at most tender's 4 GiB), else tender's default; sized by tender's rules.
pub fn mem_mib(limit: Option<u64>, annotation: Option<&str>) -> Result<u64, PlanError> {
    let max = abi::layout::MEM_MAX >> 20;
    let limit_mib = limit.map(|l| l >> 20);
    if let Some(v) = annotation {
        let asked = v.parse::<u64>().map_err(|_| bad("mem", v, "guest memory is decimal MiB"))?;
        let mem = tender_mib(asked).map_err(|e| bad("mem", v, e.to_string()))?;
        if let Some(limit_mib) = limit_mib.filter(|l| mem + OVERHEAD_MIB > *l) {
            return Err(PlanError::MemOverLimit { mem, limit_mib });
        }
        return Ok(mem);
    }
    match limit_mib {
        None => Ok(abi::layout::MEM_DEFAULT_MIB),
        Some(l) if l < OVERHEAD_MIB + MIN_GUEST_MIB => Err(PlanError::LimitTooSmall { limit_mib: l }),
        Some(l) => {
            tender_mib((l - OVERHEAD_MIB).min(max)).map_err(|_| PlanError::LimitTooSmall { limit_mib: l })
        }
    }
}

/// Plans the devices the manifest declares, in manifest order.
pub fn plan(bundle: &Bundle, limit: Option<u64>, manifest: &Manifest) -> Result<Plan, PlanError> {
    let mem_mib = mem_mib(limit, bundle.annotation("tender.mem"))?;
    let declared = |name: &str, kind| manifest.entries().any(|d| d.name == name && d.kind == kind);
    for (kind, key) in
        [(DeviceKind::Block, "block."), (DeviceKind::Block, "block-sector-size."), (DeviceKind::Net, "net.")]
    {
        for (name, _) in bundle.annotations_with(&format!("{PREFIX}{key}")) {
            if !declared(&name, kind) {
                return Err(PlanError::UnknownDevice(format!("{PREFIX}{key}{name}")));
            }
        }
    }
    let mut blocks = Vec::new();
    let mut nets = Vec::new();
    for d in manifest.entries() {
        match d.kind {
            DeviceKind::Block => {
                let key = format!("block.{}", d.name);
                let path = match bundle.annotation(&format!("{PREFIX}{key}")) {
                    None => PathBuf::from(BLOCK_DIR).join(&d.name),
                    Some(p) if p.starts_with('/') => PathBuf::from(p),
                    Some(p) => {
                        return Err(bad(&key, p, "a block device path in the container must be absolute"))
                    }
                };
                let key = format!("block-sector-size.{}", d.name);
                let sector_size = match bundle.annotation(&format!("{PREFIX}{key}")) {
                    None => None,
                    Some(v) => Some(
                        v.parse::<u64>()
                            .ok()
                            .filter(|s| *s >= 512 && s.is_power_of_two())
                            .ok_or_else(|| bad(&key, v, "a sector size is a power of two >= 512"))?,
                    ),
                };
                blocks.push(BlockPlan { name: d.name, path, sector_size });
            }
            DeviceKind::Net => {
                let iface = bundle.annotation(&format!("{PREFIX}net.{}", d.name)).map(str::to_string);
                nets.push(NetPlan { name: d.name, iface });
            }
        }
    }
    Ok(Plan { mem_mib, blocks, nets })
}

/// A network device as attached: the TAP, the MAC the guest takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetAttach {
    pub name: String,
    pub tap: String,
    pub mac: String,
}

/// The guest's IPv4 settings, in MirageOS's command-line form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4 {
    /// `ADDR/PREFIX`.
    pub cidr: String,
    pub gateway: Option<String>,
}

/// tender's arguments as the argument file holds them: options, `--`, the kernel, then the
/// network arguments (the container's own arguments follow on tender's command line).
pub fn tender_args(
    plan: &Plan,
    kernel: &std::path::Path,
    nets: &[NetAttach],
    ipv4: Option<&Ipv4>,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![format!("--mem={}", plan.mem_mib).into()];
    for b in &plan.blocks {
        let mut opt = OsString::from(format!("--block:{}=", b.name));
        opt.push(&b.path);
        args.push(opt);
        if let Some(s) = b.sector_size {
            args.push(format!("--block-sector-size:{}={s}", b.name).into());
        }
    }
    for n in nets {
        args.push(format!("--net:{}={}", n.name, n.tap).into());
        args.push(format!("--net-mac:{}={}", n.name, n.mac).into());
    }
    args.push("--".into());
    args.push(kernel.as_os_str().to_os_string());
    if let Some(ip) = ipv4 {
        args.push(format!("--ipv4={}", ip.cidr).into());
        if let Some(gw) = &ip.gateway {
            args.push(format!("--ipv4-gateway={gw}").into());
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_follows_the_limit() {
        assert_eq!(mem_mib(None, None), Ok(512));
        assert_eq!(mem_mib(Some(64 << 20), None), Ok(48));
        assert_eq!(mem_mib(Some((65 << 20) + 12345), None), Ok(48), "rounded to 2 MiB");
        assert_eq!(mem_mib(Some(1 << 40), None), Ok(4096), "capped at tender's maximum");
        assert_eq!(mem_mib(Some(18 << 20), None), Ok(2));
        assert_eq!(mem_mib(Some(17 << 20), None), Err(PlanError::LimitTooSmall { limit_mib: 17 }));
        assert_eq!(mem_mib(Some(19 << 20), None), Ok(2), "odd sizes round down by tender's rule");
    }

    #[test]
    fn the_annotation_wins_within_the_limit() {
        assert_eq!(mem_mib(None, Some("64")), Ok(64));
        assert_eq!(mem_mib(Some(128 << 20), Some("100")), Ok(100));
        assert_eq!(
            mem_mib(Some(64 << 20), Some("63")),
            Err(PlanError::MemOverLimit { mem: 62, limit_mib: 64 })
        );
        for v in ["0", "1", "x", "4097", "-3"] {
            assert!(
                mem_mib(None, Some(v)).unwrap_err().to_string().starts_with("annotation tender.mem="),
                "{v}"
            );
        }
    }

    #[test]
    fn tenders_arguments_in_order() {
        let plan = Plan {
            mem_mib: 48,
            blocks: vec![BlockPlan {
                name: "storage".into(),
                path: "/block/storage".into(),
                sector_size: Some(4096),
            }],
            nets: vec![NetPlan { name: "service".into(), iface: None }],
        };
        let nets =
            [NetAttach { name: "service".into(), tap: "tender0".into(), mac: "02:42:ac:11:00:02".into() }];
        let ip = Ipv4 { cidr: "172.17.0.2/16".into(), gateway: Some("172.17.0.1".into()) };
        let args = tender_args(&plan, std::path::Path::new("/http.hvt"), &nets, Some(&ip));
        assert_eq!(
            args,
            [
                "--mem=48",
                "--block:storage=/block/storage",
                "--block-sector-size:storage=4096",
                "--net:service=tender0",
                "--net-mac:service=02:42:ac:11:00:02",
                "--",
                "/http.hvt",
                "--ipv4=172.17.0.2/16",
                "--ipv4-gateway=172.17.0.1",
            ]
        );
        let bare = Plan { mem_mib: 512, blocks: vec![], nets: vec![] };
        assert_eq!(
            tender_args(&bare, std::path::Path::new("/hello.hvt"), &[], None),
            ["--mem=512", "--", "/hello.hvt"]
        );
    }
}
