//! `create`: decides whether the bundle holds a unikernel; if not, becomes runc. If so, writes
//! a bundle in which the container's process is the static tender (bind-mounted in, with
//! `/dev/kvm`), lets runc create that container (namespaces, cgroup, mounts, stdio, hooks: the
//! engine's own setup, untouched), then joins the container's interfaces to TAPs and writes
//! tender's argument file. The guest boots only at `start`, when runc execs the tender.

use crate::bundle::Bundle;
use crate::cli::{self, Invocation, CREATE_FLAGS};
use crate::detect::{self, Unikernel};
use crate::error::OciError;
use crate::log::Log;
use crate::network::{self, Netns};
use crate::plan::{self, Plan};
use crate::runc::Runc;
use crate::state::{Record, StateDir};
use serde_json::{json, Value};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Flags passed on to `runc create` as given (all but `--bundle`).
const PASSED_ON: &[&str] =
    &["console-socket", "pid-file", "pidfd-socket", "preserve-fds", "no-pivot", "no-new-keyring"];

/// What runc runs, relative to the directory tender-oci mounts into the container.
const TENDER_IN_CONTAINER: &str = "tender";
const CONFIG_IN_CONTAINER: &str = "config";

/// Runs `create` (and is also the decision `run` uses).
pub fn create(inv: &Invocation, log: &Log) -> Result<i32, OciError> {
    let p = cli::parse_flags(&inv.args, CREATE_FLAGS)?;
    let id = cli::one_id(&inv.command, &p)?;
    let runc = Runc::find(&inv.globals)?;
    let bundle_dir = PathBuf::from(p.flag("bundle").unwrap_or("."));
    let Some((bundle, uk)) = decide(&bundle_dir, log)? else {
        log.debug(&format!("{id}: not a unikernel, handing it to {}", runc.path.display()));
        return Err(runc
            .exec(std::iter::once(inv.command.as_str()).chain(inv.args.iter().map(String::as_str)))
            .into());
    };
    if inv.command == "run" {
        return Err(OciError::Unsupported { command: "run".into(), id: id.into() });
    }
    log.debug(&format!("{id}: unikernel {}", uk.entry.container_path.display()));
    let (state, stale) = StateDir::claim(&inv.globals.root, id)?;
    if stale {
        log.debug(&format!("{id}: clearing what a crashed create left"));
        undo(&state, &runc, id);
        state.clear()?;
    }
    let mut passed = Vec::new();
    for name in PASSED_ON {
        if let Some(v) = p.flag(name) {
            passed.push(format!("--{name}"));
            if CREATE_FLAGS.iter().any(|(n, takes)| n[0] == *name && *takes) {
                passed.push(v.to_string());
            }
        }
    }
    match set_up(&state, &runc, id, &bundle, &uk, &passed) {
        Ok(()) => Ok(0),
        Err(e) => {
            undo(&state, &runc, id);
            let _ = state.remove();
            Err(e)
        }
    }
}

/// Loads the bundle and classifies its entrypoint; `None` means runc's container.
fn decide(dir: &Path, log: &Log) -> Result<Option<(Bundle, Unikernel)>, OciError> {
    let bundle = Bundle::load(dir)?;
    let forced = bundle.annotation("tender.unikernel");
    if forced == Some("false") {
        return Ok(None);
    }
    let args0 = &bundle.args()[0];
    let entry = detect::find_entrypoint(&bundle.rootfs, args0, bundle.env());
    let uk = match entry {
        Some(e) => detect::classify(&e)?,
        None if forced == Some("true") => return Err(detect::DetectError::NotFound(args0.clone()).into()),
        None => None,
    };
    match uk {
        Some(uk) => Ok(Some((bundle, uk))),
        None if forced == Some("true") => Err(detect::DetectError::NotUnikernel(args0.clone()).into()),
        None => {
            log.debug(&format!("{args0}: not a Solo5 hvt image"));
            Ok(None)
        }
    }
}

/// A character device of the host, as (major, minor).
fn char_device(path: &str) -> Option<(u64, u64)> {
    let m = std::fs::metadata(path).ok().filter(|m| m.file_type().is_char_device())?;
    Some((u64::from(libc::major(m.rdev())), u64::from(libc::minor(m.rdev()))))
}

/// The static tender to put in containers: `TENDER_OCI_TENDER`, else next to this binary.
pub fn find_tender() -> Result<PathBuf, OciError> {
    let path = match std::env::var_os("TENDER_OCI_TENDER").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => {
            std::env::current_exe().ok().and_then(|e| Some(e.parent()?.join("tender"))).unwrap_or_default()
        }
    };
    let mut f = std::fs::File::open(&path).map_err(|_| OciError::NoTender(path.clone()))?;
    let head = tender::elf::read_head(&mut f).map_err(|_| OciError::NoTender(path.clone()))?;
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

/// The engine's config with our edits: the process is tender, our files are mounted, the
/// KVM (and TUN) devices exist and the device cgroup allows them.
fn rewrite(bundle: &Bundle, tender: &Path, guest_dir: &Path, devices: &[(&str, (u64, u64))]) -> Value {
    let mut cfg = bundle.raw.clone();
    let dir = mount_dir(bundle);
    cfg["root"]["path"] = json!(bundle.rootfs);
    let mut args = vec![
        json!(format!("{dir}/{TENDER_IN_CONTAINER}")),
        json!(format!("@{dir}/{CONFIG_IN_CONTAINER}/args")),
    ];
    args.extend(bundle.args()[1..].iter().map(|a| json!(a)));
    cfg["process"]["args"] = Value::Array(args);
    let ro = json!(["bind", "ro", "nosuid", "nodev"]);
    push(
        &mut cfg,
        "mounts",
        json!({ "destination": format!("{dir}/{TENDER_IN_CONTAINER}"), "type": "bind",
        "source": tender, "options": ro }),
    );
    push(
        &mut cfg,
        "mounts",
        json!({ "destination": format!("{dir}/{CONFIG_IN_CONTAINER}"), "type": "bind",
        "source": guest_dir, "options": ["bind", "ro", "nosuid", "nodev", "noexec"] }),
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
    cfg
}

/// Writes `path` atomically (readers see the old or the new file, never half of one).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| OciError::Write { path: path.into(), source })
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
    let plan = plan::plan(bundle, &uk.manifest)?;
    let mut record = Record { bundle: bundle.dir.clone(), ..Record::default() };
    state.save(&record)?;
    let mut devices = vec![("/dev/kvm", kvm)];
    if !plan.nets.is_empty() {
        devices.push(("/dev/net/tun", char_device("/dev/net/tun").ok_or(OciError::NoTun)?));
    }
    let guest_dir = state.file("guest");
    let own_bundle = state.file("bundle");
    for d in [&guest_dir, &own_bundle] {
        std::fs::create_dir_all(d).map_err(|source| OciError::Write { path: d.clone(), source })?;
    }
    let args_file = guest_dir.join("args");
    write_atomic(&args_file, plan::argfile(&plan, &uk.entry.container_path, &[], None).as_bytes())?;
    let cfg = rewrite(bundle, &tender, &guest_dir, &devices);
    write_atomic(&own_bundle.join("config.json"), cfg.to_string().as_bytes())?;

    let mut args: Vec<String> = vec!["create".into(), "--bundle".into(), own_bundle.display().to_string()];
    args.extend(passed.iter().cloned());
    args.push(id.into());
    let status = runc.status(&args)?;
    if !status.success() {
        // runc has said why, on stderr and in the log.
        return Err(OciError::Quiet(status.code().unwrap_or(1)));
    }
    let pid = runc
        .state(id)
        .and_then(|s| s["pid"].as_u64())
        .filter(|p| *p > 0)
        .ok_or(OciError::NoPid(id.into()))?;
    let (nets, ipv4) = if plan.nets.is_empty() {
        (Vec::new(), None)
    } else {
        connect(state, &mut record, pid, &plan, bundle.host_uid())?
    };
    check_blocks(pid, &plan)?;
    write_atomic(
        &args_file,
        plan::argfile(&plan, &uk.entry.container_path, &nets, ipv4.as_ref()).as_bytes(),
    )?;
    record.complete = true;
    state.save(&record)?;
    Ok(())
}

/// Pins the container's network namespace and joins its interfaces to TAPs.
fn connect(
    state: &StateDir,
    record: &mut Record,
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
    let attached = ns.attach(&plan.nets, uid)?;
    record.taps = attached.taps;
    state.save(record)?;
    Ok((attached.nets, attached.ipv4))
}

/// Every block device's path must exist in the container (seen through its root).
fn check_blocks(pid: u64, plan: &Plan) -> Result<(), OciError> {
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    for b in &plan.blocks {
        if detect::resolve_in_root(&root, &b.path).is_none() {
            return Err(OciError::NoBlock { name: b.name.clone(), path: b.path.clone() });
        }
    }
    Ok(())
}

/// Removes whatever a failed or crashed create made: runc's container, TAPs, the pin.
pub fn undo(state: &StateDir, runc: &Runc, id: &str) {
    let record = state.record().unwrap_or_default();
    if runc.state(id).is_some() {
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
