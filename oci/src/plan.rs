//! How a unikernel container maps onto tender's options: guest memory from the container's
//! memory limit (or an annotation), block devices from paths inside the container, network
//! devices from the container's interfaces. Pure: the rules are unit-tested here.

use crate::bundle::Bundle;
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
    Annotation { key: String, value: String, why: &'static str },
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

fn bad(key: &str, value: &str, why: &'static str) -> PlanError {
    PlanError::Annotation { key: format!("{PREFIX}{key}"), value: value.into(), why }
}

/// Guest memory in MiB: `tender.mem` if given (it must fit the limit), else the limit less
/// [`OVERHEAD_MIB`], else tender's default; always even (tender's 2 MiB granule), at most 4 GiB.
pub fn mem_mib(limit: Option<u64>, annotation: Option<&str>) -> Result<u64, PlanError> {
    let max = abi::layout::MEM_MAX >> 20;
    let limit_mib = limit.map(|l| l >> 20);
    if let Some(v) = annotation {
        let mem = v
            .parse::<u64>()
            .ok()
            .filter(|m| (MIN_GUEST_MIB..=max).contains(m))
            .ok_or_else(|| bad("mem", v, "guest memory is decimal MiB from 2 to 4096"))?;
        if let Some(limit_mib) = limit_mib.filter(|l| mem + OVERHEAD_MIB > *l) {
            return Err(PlanError::MemOverLimit { mem, limit_mib });
        }
        return Ok(mem & !1);
    }
    match limit_mib {
        None => Ok(abi::layout::MEM_DEFAULT_MIB),
        Some(l) if l < OVERHEAD_MIB + MIN_GUEST_MIB => Err(PlanError::LimitTooSmall { limit_mib: l }),
        Some(l) => Ok((l - OVERHEAD_MIB).min(max) & !1),
    }
}

/// Plans the devices the manifest declares, in manifest order.
pub fn plan(bundle: &Bundle, manifest: &Manifest) -> Result<Plan, PlanError> {
    let mem_mib = mem_mib(bundle.memory_limit(), bundle.annotation("tender.mem"))?;
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
                let path = bundle.annotation(&format!("{PREFIX}block.{}", d.name));
                let path = path.map_or_else(|| PathBuf::from(BLOCK_DIR).join(&d.name), PathBuf::from);
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

/// tender's argument file: options, `--`, the kernel, then the network arguments (the
/// container's own arguments follow on tender's command line).
pub fn argfile(plan: &Plan, kernel: &std::path::Path, nets: &[NetAttach], ipv4: Option<&Ipv4>) -> String {
    let mut lines = vec![format!("--mem={}", plan.mem_mib)];
    for b in &plan.blocks {
        lines.push(format!("--block:{}={}", b.name, b.path.display()));
        if let Some(s) = b.sector_size {
            lines.push(format!("--block-sector-size:{}={s}", b.name));
        }
    }
    for n in nets {
        lines.push(format!("--net:{}={}", n.name, n.tap));
        lines.push(format!("--net-mac:{}={}", n.name, n.mac));
    }
    lines.push("--".into());
    lines.push(kernel.display().to_string());
    if let Some(ip) = ipv4 {
        lines.push(format!("--ipv4={}", ip.cidr));
        if let Some(gw) = &ip.gateway {
            lines.push(format!("--ipv4-gateway={gw}"));
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
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
    }

    #[test]
    fn the_annotation_wins_within_the_limit() {
        assert_eq!(mem_mib(None, Some("64")), Ok(64));
        assert_eq!(mem_mib(Some(128 << 20), Some("100")), Ok(100));
        assert_eq!(
            mem_mib(Some(64 << 20), Some("63")),
            Err(PlanError::MemOverLimit { mem: 63, limit_mib: 64 })
        );
        for v in ["0", "1", "x", "4097", "-3"] {
            assert!(
                mem_mib(None, Some(v)).unwrap_err().to_string().starts_with("annotation tender.mem="),
                "{v}"
            );
        }
    }

    #[test]
    fn the_argument_file_is_one_argument_per_line() {
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
        let text = argfile(&plan, std::path::Path::new("/http.hvt"), &nets, Some(&ip));
        assert_eq!(
            text,
            "--mem=48\n--block:storage=/block/storage\n--block-sector-size:storage=4096\n\
             --net:service=tender0\n--net-mac:service=02:42:ac:11:00:02\n--\n/http.hvt\n\
             --ipv4=172.17.0.2/16\n--ipv4-gateway=172.17.0.1\n"
        );
        let bare = Plan { mem_mib: 512, blocks: vec![], nets: vec![] };
        assert_eq!(
            argfile(&bare, std::path::Path::new("/hello.hvt"), &[], None),
            "--mem=512\n--\n/hello.hvt\n"
        );
    }
}
