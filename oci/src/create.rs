//! `create`: decides whether the bundle holds a unikernel; if not, becomes runc. If so, writes
//! a bundle in which the container's process is the static tender (bind-mounted in, with
//! `/dev/kvm`), lets runc create that container (namespaces, cgroup, mounts, stdio, hooks: the
//! engine's own setup, untouched), then joins the container's interfaces to TAPs and writes
//! tender's argument file. The guest boots only at `start`, when runc execs the tender.
//!
//! Every failure undoes exactly what this create made: runc's container only if runc created
//! it for us (never one that was there before), the TAPs it recorded, the netns pin, the state.

use crate::bundle::Bundle;
use crate::cli::{self, Invocation, CREATE_FLAGS};
use crate::detect::{self, Unikernel};
use crate::error::OciError;
use crate::log::Log;
use crate::network::{self, Netns};
use crate::plan::{self, Plan};
use crate::runc::Runc;
use crate::state::{self, Record, StateDir};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Flags passed on to `runc create` (all but `--bundle`); paths among them are made absolute
/// against the engine's bundle, as runc (which enters the bundle) would resolve them.
const PASSED_ON: &[(&str, bool)] = &[
    ("console-socket", true),
    ("pid-file", true),
    ("pidfd-socket", true),
    ("preserve-fds", false),
    ("no-pivot", false),
    ("no-new-keyring", false),
];

/// What runc runs, relative to the directory tender-oci mounts into the container.
const TENDER_IN_CONTAINER: &str = "tender";
const CONFIG_IN_CONTAINER: &str = "config";

/// Runs `create` (and is also the decision `run` uses).
pub fn create(inv: &Invocation, log: &Log) -> Result<i32, OciError> {
    let p = cli::parse_flags(&inv.args, CREATE_FLAGS)?;
    let id = cli::one_id(&inv.command, &p)?;
    let runc = Runc::find(&inv.globals)?;
    let bundle_dir = PathBuf::from(p.flag("bundle").unwrap_or("."));
    let root = &inv.globals.root;
    let Some((bundle, uk)) = decide(&bundle_dir, log)? else {
        log.debug(&format!("{id}: not a unikernel, handing it to {}", runc.path.display()));
        clear_if_abandoned(root, id, &runc, log);
        return Err(runc
            .exec(std::iter::once(inv.command.as_str()).chain(inv.args.iter().map(String::as_str)))
            .into());
    };
    if inv.command == "run" {
        return Err(OciError::Unsupported { command: "run".into(), id: id.into() });
    }
    log.debug(&format!("{id}: unikernel {}", uk.entry.container_path.display()));
    let (state, existed) = StateDir::claim(root, id)?;
    if existed {
        let record = state.record().unwrap_or_default();
        if record.complete && runc.state(id).is_some() {
            return Err(OciError::Exists(id.into()));
        }
        log.debug(&format!("{id}: clearing what a crashed create or a lost container left"));
        undo(&state, &runc, id);
        state.clear()?;
    }
    if runc.state(id).is_some() {
        // runc's own container of that id, not made by us: leave it alone.
        let _ = state.remove();
        return Err(OciError::Exists(id.into()));
    }
    let passed = passed_on(&p, &bundle.dir);
    match set_up(&state, &runc, id, &bundle, &uk, &passed) {
        Ok(()) => Ok(0),
        Err(e) => {
            undo(&state, &runc, id);
            let _ = state.remove();
            Err(e)
        }
    }
}

/// The flags for `runc create`, with relative paths made absolute against the bundle.
fn passed_on(p: &cli::Parsed, bundle: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for &(name, is_path) in PASSED_ON {
        let Some(v) = p.flag(name) else { continue };
        out.push(format!("--{name}"));
        if CREATE_FLAGS.iter().any(|(n, takes)| n[0] == name && *takes) {
            let v = if is_path && !v.starts_with('/') {
                bundle.join(v).display().to_string()
            } else {
                v.to_string()
            };
            out.push(v);
        }
    }
    out
}

/// A directory of ours for `id` that no create is working on and whose create never finished
/// hides nothing: cleared, so runc's container of that id is runc's alone.
fn clear_if_abandoned(root: &Path, id: &str, runc: &Runc, log: &Log) {
    if !state::is_ours(root, id) {
        return;
    }
    if let Ok((s, _)) = StateDir::claim(root, id) {
        if !s.record().is_ok_and(|r| r.complete) {
            log.debug(&format!("{id}: clearing an abandoned unikernel create"));
            undo(&s, runc, id);
            let _ = s.remove();
        }
    }
}

/// Loads the bundle and classifies its entrypoint; `None` means runc's container.
fn decide(dir: &Path, log: &Log) -> Result<Option<(Bundle, Unikernel)>, OciError> {
    let bundle = Bundle::load(dir)?;
    let forced = bundle.annotation("tender.unikernel");
    // Pod annotations reach the pod's sandbox (pause) container too: it is never a unikernel.
    let sandbox = ["io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType"]
        .iter()
        .any(|k| bundle.annotation(k) == Some("sandbox"));
    if forced == Some("false") || sandbox {
        return Ok(None);
    }
    let args0 = bundle.args()[0].clone();
    let uk = match detect::find_entrypoint(&bundle.rootfs, &args0, &bundle.env(), &bundle.cwd()) {
        Some((e, mut file)) => detect::classify(&e, &mut file)?,
        None if forced == Some("true") => return Err(detect::DetectError::NotFound(args0).into()),
        None => {
            log.debug(&format!("{args0}: not found in the root filesystem"));
            None
        }
    };
    match uk {
        Some(uk) => {
            bundle.spec()?;
            Ok(Some((bundle, uk)))
        }
        None if forced == Some("true") => Err(detect::DetectError::NotUnikernel(args0).into()),
        None => {
            log.debug(&format!("{args0}: not a Solo5 hvt image for this host"));
            Ok(None)
        }
    }
}

/// A character device of the host, as (major, minor).
fn char_device(path: &str) -> Option<(u64, u64)> {
    let m = std::fs::metadata(path).ok().filter(|m| m.file_type().is_char_device())?;
    Some((u64::from(libc::major(m.rdev())), u64::from(libc::minor(m.rdev()))))
}

/// The static tender for this host to put in containers: `TENDER_OCI_TENDER`, else next to
/// this binary.
pub fn find_tender() -> Result<PathBuf, OciError> {
    let path = match std::env::var_os("TENDER_OCI_TENDER").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => {
            std::env::current_exe().ok().and_then(|e| Some(e.parent()?.join("tender"))).unwrap_or_default()
        }
    };
    let unreadable = |source| OciError::NoTender { path: path.clone(), source };
    let mut f = std::fs::File::open(&path).map_err(unreadable)?;
    let head = tender::elf::read_head(&mut f).map_err(unreadable)?;
    let machine = head.get(18..20).map(|b| u16::from_le_bytes([b[0], b[1]]));
    if !head.starts_with(b"\x7fELF") || machine != Some(tender::elf::host_machine()) {
        return Err(OciError::NotTender(path));
    }
    if tender::elf::requests_interpreter(&head) {
        return Err(OciError::DynamicTender(path));
    }
    Ok(path)
}

/// Where tender-oci's files appear in the container: under the /dev tmpfs runc mounts (so a
/// read-only root filesystem is no obstacle), else at the root.
fn mount_dir(bundle: &Bundle) -> &'static str {
    if bundle.has_dev_mount() {
        "/dev/.tender"
    } else {
        "/.tender"
    }
}

fn push(v: &mut Value, pointer: &str, item: Value) {
    let mut at = &mut *v;
    for key in pointer.split('/').filter(|k| !k.is_empty()) {
        if !at.is_object() {
            *at = json!({});
        }
        at = at.as_object_mut().expect("made an object").entry(key).or_insert(Value::Null);
    }
    if !at.is_array() {
        *at = json!([]);
    }
    at.as_array_mut().expect("made an array").push(item);
}

fn utf8(path: &Path) -> Result<&str, OciError> {
    path.to_str().ok_or_else(|| OciError::NotUtf8(path.to_path_buf()))
}

/// The engine's config with our edits: the process is tender, our files are mounted, the
/// KVM (and TUN) devices exist and the device cgroup allows them, relative bind sources
/// still name the engine's files (runc resolves them in our bundle directory).
fn rewrite(
    bundle: &Bundle,
    tender: &Path,
    guest_dir: &Path,
    devices: &[(&str, (u64, u64))],
) -> Result<Value, OciError> {
    let mut cfg = bundle.raw.clone();
    let dir = mount_dir(bundle);
    cfg["root"]["path"] = json!(utf8(&bundle.rootfs)?);
    let mut args = vec![
        json!(format!("{dir}/{TENDER_IN_CONTAINER}")),
        json!(format!("@{dir}/{CONFIG_IN_CONTAINER}/args")),
    ];
    args.extend(bundle.args()[1..].iter().map(|a| json!(a)));
    cfg["process"]["args"] = Value::Array(args);
    for m in cfg["mounts"].as_array_mut().into_iter().flatten() {
        let relative = m["source"].as_str().filter(|s| !s.starts_with('/')).map(str::to_string);
        let bind = m["type"] == "bind"
            || m["options"].as_array().is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind"));
        if let (Some(src), true) = (relative, bind) {
            m["source"] = json!(utf8(&bundle.dir.join(src))?);
        }
    }
    let ro = json!(["bind", "ro", "nosuid", "nodev"]);
    push(
        &mut cfg,
        "mounts",
        json!({ "destination": format!("{dir}/{TENDER_IN_CONTAINER}"), "type": "bind",
        "source": utf8(tender)?, "options": ro }),
    );
    push(
        &mut cfg,
        "mounts",
        json!({ "destination": format!("{dir}/{CONFIG_IN_CONTAINER}"), "type": "bind",
        "source": utf8(guest_dir)?, "options": ["bind", "ro", "nosuid", "nodev", "noexec"] }),
    );
    for (path, (major, minor)) in devices {
        push(
            &mut cfg,
            "linux/devices",
            json!({ "path": path, "type": "c", "major": major, "minor": minor,
            "fileMode": 0o666, "uid": 0, "gid": 0 }),
        );
        push(
            &mut cfg,
            "linux/resources/devices",
            json!({ "allow": true, "type": "c", "major": major,
            "minor": minor, "access": "rwm" }),
        );
    }
    Ok(cfg)
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), OciError> {
    state::write_atomic(path, bytes, mode).map_err(|source| OciError::Write { path: path.into(), source })
}

/// tender's argument file, checked by tender's own parser (with the container's arguments
/// after it) so that what tender would refuse fails here, at create, not at start.
fn write_args(path: &Path, args: &[OsString], container_args: &[String]) -> Result<(), OciError> {
    let mut all = args.to_vec();
    all.extend(container_args.iter().map(OsString::from));
    tender::cli::parse(all).map_err(OciError::TenderArgs)?;
    let bytes = tender::argfile::encode(args).map_err(OciError::ArgFile)?;
    write(path, &bytes, 0o644)
}

fn set_up(
    state: &StateDir,
    runc: &Runc,
    id: &str,
    bundle: &Bundle,
    uk: &Unikernel,
    passed: &[String],
) -> Result<(), OciError> {
    let kvm = char_device("/dev/kvm").ok_or(OciError::NoKvm)?;
    let tender = find_tender()?;
    let plan = plan::plan(bundle, bundle.memory_limit()?, &uk.manifest)?;
    let uid = bundle.host_uid()?;
    let mut record = Record { bundle: bundle.dir.clone(), ..Record::default() };
    state.save(&record)?;
    let mut devices = vec![("/dev/kvm", kvm)];
    if !plan.nets.is_empty() {
        devices.push(("/dev/net/tun", char_device("/dev/net/tun").ok_or(OciError::NoTun)?));
    }
    let guest_dir = state.file("guest");
    let own_bundle = state.file("bundle");
    for (d, mode) in [(&guest_dir, 0o755), (&own_bundle, 0o700)] {
        let made = std::fs::create_dir(d)
            .and_then(|()| std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(mode)));
        made.map_err(|source| OciError::Write { path: d.clone(), source })?;
    }
    let args_file = guest_dir.join("args");
    let container_args = &bundle.args()[1..];
    write_args(&args_file, &plan::tender_args(&plan, &uk.entry.container_path, &[], None), container_args)?;
    let cfg = rewrite(bundle, &tender, &guest_dir, &devices)?;
    write(&own_bundle.join("config.json"), cfg.to_string().as_bytes(), 0o600)?;

    let mut args: Vec<String> = vec!["create".into(), "--bundle".into(), utf8(&own_bundle)?.to_string()];
    args.extend(passed.iter().cloned());
    args.push(id.into());
    let status = runc.status(&args)?;
    if !status.success() {
        // runc has said why, on stderr and in the log, and removed what it made.
        return Err(OciError::Quiet(status.code().unwrap_or(1)));
    }
    record.runc_created = true;
    state.save(&record)?;
    let pid = runc
        .state(id)
        .and_then(|s| s["pid"].as_u64())
        .filter(|p| *p > 0)
        .ok_or(OciError::NoPid(id.into()))?;
    let (nets, ipv4) = if plan.nets.is_empty() {
        (Vec::new(), None)
    } else {
        connect(state, &mut record, id, pid, &plan, uid)?
    };
    check_blocks(pid, &plan)?;
    write_args(
        &args_file,
        &plan::tender_args(&plan, &uk.entry.container_path, &nets, ipv4.as_ref()),
        container_args,
    )?;
    record.complete = true;
    state.save(&record)?;
    Ok(())
}

/// Pins the container's network namespace and joins its interfaces to TAPs. The TAPs are
/// recorded before they are made, so a failure at any point is undone.
fn connect(
    state: &StateDir,
    record: &mut Record,
    id: &str,
    pid: u64,
    plan: &Plan,
    uid: u32,
) -> Result<(Vec<plan::NetAttach>, Option<plan::Ipv4>), OciError> {
    let pinned = state.file("netns");
    let source = PathBuf::from(format!("/proc/{pid}/ns/net"));
    network::pin(&source, &pinned).map_err(|source| OciError::Write { path: pinned.clone(), source })?;
    record.netns_pinned = true;
    state.save(record)?;
    let ns = Netns::open(&pinned, true)?;
    let links = ns.choose(&plan.nets)?;
    record.taps = links
        .iter()
        .enumerate()
        .map(|(i, l)| state::Tap { name: network::tap_name(id, i), iface: l.ifname.clone() })
        .collect();
    state.save(record)?;
    let attached = ns.attach(&plan.nets, &links, &record.taps, uid)?;
    Ok((attached.nets, attached.ipv4))
}

/// Every block device's path must exist in the container (seen through its root).
fn check_blocks(pid: u64, plan: &Plan) -> Result<(), OciError> {
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    for b in &plan.blocks {
        if !detect::exists_in_root(&root, &b.path) {
            return Err(OciError::NoBlock { name: b.name.clone(), path: b.path.clone() });
        }
    }
    Ok(())
}

/// Removes what a failed or crashed create made: runc's container (only if runc made it for
/// this create), the recorded TAPs, the netns pin.
pub fn undo(state: &StateDir, runc: &Runc, id: &str) {
    let record = state.record().unwrap_or_default();
    if record.runc_created {
        runc.quietly(["delete", "--force", id]);
    }
    remove_network(state, &record);
}

/// Removes our TAPs and redirects from the pinned namespace, then unpins it.
pub fn remove_network(state: &StateDir, record: &Record) {
    let pinned = state.file("netns");
    if record.netns_pinned || pinned.exists() {
        if let Ok(ns) = Netns::open(&pinned, false) {
            ns.remove(&record.taps);
        }
        network::unpin(&pinned);
    }
}
