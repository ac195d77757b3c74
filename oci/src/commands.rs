//! Every command but `create`: a container that is not ours goes to runc as it came; for
//! ours, runc does the work on the container it made and we add what is ours (the engine's
//! bundle path in `state`, TAP and state removal in `delete`).

use crate::cli::{self, Invocation, DELETE_FLAGS, KILL_FLAGS, LIST_FLAGS, NO_FLAGS, PS_FLAGS};
use crate::create;
use crate::error::OciError;
use crate::runc::Runc;
use crate::state::{self, StateDir};
use serde_json::Value;

/// runc with this invocation's command and arguments, as given.
fn pass(inv: &Invocation, runc: &Runc) -> OciError {
    runc.exec(std::iter::once(inv.command.as_str()).chain(inv.args.iter().map(String::as_str))).into()
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// `start`, `kill`, `ps`: runc acts on the container it made, ours or not.
pub fn forward(inv: &Invocation) -> Result<i32, OciError> {
    let spec = match inv.command.as_str() {
        "kill" => KILL_FLAGS,
        "ps" => PS_FLAGS,
        _ => NO_FLAGS,
    };
    let p = cli::parse_flags(&inv.args, spec)?;
    let id = cli::one_id(&inv.command, &p)?;
    // A create of ours in progress finishes first (or fails); then runc acts on its container.
    drop(StateDir::open(&inv.globals.root, id)?);
    Err(pass(inv, &Runc::find(&inv.globals)?))
}

/// `state ID`: runc's JSON; for ours, with the bundle the engine gave.
pub fn state(inv: &Invocation) -> Result<i32, OciError> {
    let p = cli::parse_flags(&inv.args, NO_FLAGS)?;
    let id = cli::one_id("state", &p)?;
    let runc = Runc::find(&inv.globals)?;
    if !state::is_ours(&inv.globals.root, id) {
        return Err(pass(inv, &runc));
    }
    let record =
        StateDir::open(&inv.globals.root, id)?.ok_or_else(|| OciError::NoContainer(id.into()))?.record()?;
    let mut v = runc.json(["state", id], false)?;
    v["bundle"] = Value::from(record.bundle.display().to_string());
    print_json(&v);
    Ok(0)
}

/// `delete [--force] ID`: runc removes the container; then our TAPs, the pin and the state.
pub fn delete(inv: &Invocation) -> Result<i32, OciError> {
    let p = cli::parse_flags(&inv.args, DELETE_FLAGS)?;
    let id = cli::one_id("delete", &p)?;
    let runc = Runc::find(&inv.globals)?;
    let Some(s) = StateDir::open(&inv.globals.root, id)? else {
        return Err(pass(inv, &runc));
    };
    let record = s.record().unwrap_or_default();
    let status = runc.status(std::iter::once("delete").chain(inv.args.iter().map(String::as_str)))?;
    if !status.success() && runc.state(id).is_some() {
        // Still running without --force: runc said so; the container stays whole.
        return Err(OciError::Quiet(status.code().unwrap_or(1)));
    }
    create::remove_network(&s, &record);
    s.remove()?;
    Ok(0)
}

/// `list`: runc's list; in JSON, our containers show the engine's bundle.
pub fn list(inv: &Invocation) -> Result<i32, OciError> {
    let p = cli::parse_flags(&inv.args, LIST_FLAGS)?;
    let runc = Runc::find(&inv.globals)?;
    if p.flag("format") != Some("json") {
        return Err(pass(inv, &runc));
    }
    let mut v = runc.json(["list", "--format", "json"], false)?;
    for c in v.as_array_mut().into_iter().flatten() {
        let Some(id) = c["id"].as_str().map(str::to_string) else { continue };
        if let Some(r) = StateDir::open(&inv.globals.root, &id).ok().flatten().and_then(|s| s.record().ok()) {
            c["bundle"] = Value::from(r.bundle.display().to_string());
        }
    }
    print_json(&v);
    Ok(0)
}

/// `features`: runc's, plus what tender-oci adds, in the annotations map.
pub fn features(inv: &Invocation) -> Result<i32, OciError> {
    let runc = Runc::find(&inv.globals)?;
    let mut v = runc.json(["features"], false)?;
    if !v["annotations"].is_object() {
        v["annotations"] = serde_json::json!({});
    }
    v["annotations"]["io.github.tender.oci.version"] = Value::from(env!("CARGO_PKG_VERSION"));
    v["annotations"]["io.github.tender.oci.unikernels"] = Value::from("solo5-hvt");
    print_json(&v);
    Ok(0)
}

/// `--version`: ours, then the runc we hand containers to.
pub fn version(inv: &Invocation) -> Result<i32, OciError> {
    println!("tender-oci version {}", env!("CARGO_PKG_VERSION"));
    println!("spec: 1.0.2");
    println!("tender ABI: {}", abi::ABI_VERSION);
    match Runc::find(&inv.globals) {
        Ok(r) => println!("runc: {}", r.path.display()),
        Err(e) => println!("runc: {e}"),
    }
    Ok(0)
}

/// Commands that make no sense for a unikernel: it has no processes to add or to dump.
const NOT_FOR_UNIKERNELS: &[&str] = &["exec", "checkpoint", "restore"];

/// Any other command (pause, resume, update, events, exec, ...): runc's; `exec`,
/// `checkpoint` and `restore` are refused for our containers.
pub fn other(inv: &Invocation) -> Result<i32, OciError> {
    if NOT_FOR_UNIKERNELS.contains(&inv.command.as_str()) {
        let ours = |a: &&String| cli::check_id(a).is_ok() && state::is_ours(&inv.globals.root, a);
        if let Some(id) = inv.args.iter().find(ours) {
            return Err(OciError::Unsupported { command: inv.command.clone(), id: id.clone() });
        }
    }
    Err(pass(inv, &Runc::find(&inv.globals)?))
}
