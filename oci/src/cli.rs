//! runc's command line, as containerd's runc shim, podman (conmon) and Docker call it:
//! `tender-oci [GLOBAL OPTIONS] COMMAND [OPTIONS] ARGS`.
//!
//! Flags are accepted the way runc's parser accepts them: `--name VALUE`, `--name=VALUE`,
//! and the single-dash forms `-name VALUE` and `-b VALUE`. Global options are kept verbatim
//! so that runc, when a container is handed to it, sees exactly what the engine passed.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

/// A command-line mistake (runc exits 1 with a message, as we do).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CliError {
    #[error("flag provided but not defined: -{0}")]
    UnknownFlag(String),
    #[error("flag needs an argument: -{0}")]
    MissingValue(String),
    #[error("{command}: {what}")]
    Usage { command: String, what: String },
    #[error("arguments must be valid UTF-8")]
    NotUtf8,
    #[error("invalid container id {0:?}: ids are letters, digits and _ + - . (not . or ..)")]
    BadId(String),
}

/// The global options (before the command).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Globals {
    /// The options exactly as given, for runc.
    pub raw: Vec<String>,
    /// `--root`: where runc (and we, under `.tender-oci/`) keep container state.
    pub root: PathBuf,
    /// `--log`: where errors go, besides stderr.
    pub log: Option<PathBuf>,
    /// `--log-format json` (runc's default is text).
    pub log_json: bool,
    /// `--debug`: also log the decisions made.
    pub debug: bool,
}

/// One parsed command, with the options we act on; `args` keeps the command's own
/// arguments verbatim for runc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub globals: Globals,
    /// The command name (`create`, `state`, ...), empty for `--help`/`--version`.
    pub command: String,
    /// The command's arguments after its name, verbatim.
    pub args: Vec<String>,
}

/// The flags a command takes; `true` means it takes a value.
type FlagSpec = &'static [(&'static [&'static str], bool)];

const GLOBAL_FLAGS: FlagSpec = &[
    (&["root"], true),
    (&["log"], true),
    (&["log-format"], true),
    (&["criu"], true),
    (&["rootless"], true),
    (&["debug"], false),
    (&["systemd-cgroup"], false),
    (&["help", "h"], false),
    (&["version", "v"], false),
];

/// `create` (and `run`) flags.
pub const CREATE_FLAGS: FlagSpec = &[
    (&["bundle", "b"], true),
    (&["console-socket"], true),
    (&["pid-file"], true),
    (&["pidfd-socket"], true),
    (&["preserve-fds"], true),
    (&["no-pivot"], false),
    (&["no-new-keyring"], false),
    (&["detach", "d"], false),
    (&["keep"], false),
    (&["no-subreaper"], false),
];
pub const KILL_FLAGS: FlagSpec = &[(&["all", "a"], false)];
pub const DELETE_FLAGS: FlagSpec = &[(&["force", "f"], false)];
pub const LIST_FLAGS: FlagSpec = &[(&["format", "f"], true), (&["quiet", "q"], false)];
pub const PS_FLAGS: FlagSpec = &[(&["format", "f"], true)];
pub const NO_FLAGS: FlagSpec = &[];

/// Flags and positional arguments of one command.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Canonical flag name (the first of its names) → value (`""` for a boolean).
    pub flags: HashMap<&'static str, String>,
    pub positional: Vec<String>,
}

impl Parsed {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.get(name).map(String::as_str)
    }

    pub fn has(&self, name: &str) -> bool {
        self.flags.contains_key(name)
    }
}

/// Parses flags (until the first positional argument or `--`) and positionals.
pub fn parse_flags(args: &[String], spec: FlagSpec) -> Result<Parsed, CliError> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            out.positional.extend(args[i..].iter().cloned());
            break;
        }
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')).filter(|b| !b.is_empty())
        else {
            out.positional.push(arg.clone());
            out.positional.extend(args[i..].iter().cloned());
            break;
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let &(names, takes_value) =
            spec.iter().find(|(names, _)| names.contains(&name)).ok_or(CliError::UnknownFlag(name.into()))?;
        let value = match (takes_value, inline) {
            (true, Some(v)) => v,
            (true, None) => {
                let v = args.get(i).ok_or(CliError::MissingValue(name.into()))?;
                i += 1;
                v.clone()
            }
            (false, Some(v)) if v == "true" || v == "false" => {
                if v == "false" {
                    continue;
                }
                String::new()
            }
            (false, Some(_)) => return Err(CliError::UnknownFlag(body.into())),
            (false, None) => String::new(),
        };
        out.flags.insert(names[0], value);
    }
    Ok(out)
}

/// Splits the command line into global options, the command and its arguments.
pub fn parse(args: Vec<OsString>) -> Result<Invocation, CliError> {
    let args: Vec<String> = args
        .into_iter()
        .map(OsString::into_string)
        .collect::<Result<_, _>>()
        .map_err(|_| CliError::NotUtf8)?;
    // Globals end at the first argument that is not a global flag (or its value).
    let mut end = 0;
    while end < args.len() && args[end].starts_with('-') && args[end] != "--" {
        let body = args[end].trim_start_matches('-');
        let name = body.split_once('=').map_or(body, |(n, _)| n);
        let takes_value = GLOBAL_FLAGS.iter().find(|(n, _)| n.contains(&name)).map(|&(_, v)| v);
        end += match takes_value {
            Some(true) if !body.contains('=') => 2,
            Some(_) => 1,
            None => return Err(CliError::UnknownFlag(name.into())),
        };
    }
    let end = end.min(args.len());
    let parsed = parse_flags(&args[..end], GLOBAL_FLAGS)?;
    let globals = Globals {
        raw: args[..end].to_vec(),
        root: PathBuf::from(parsed.flag("root").unwrap_or("/run/runc")),
        log: parsed.flag("log").filter(|l| !l.is_empty()).map(PathBuf::from),
        log_json: parsed.flag("log-format") == Some("json"),
        debug: parsed.has("debug"),
    };
    let (command, rest) = match args.get(end) {
        _ if parsed.has("help") => ("help".to_string(), Vec::new()),
        _ if parsed.has("version") => ("--version".to_string(), Vec::new()),
        Some(c) => (c.clone(), args[end + 1..].to_vec()),
        None => ("help".to_string(), Vec::new()),
    };
    Ok(Invocation { globals, command, args: rest })
}

/// Checks a container id the way runc does; it also names our state directory.
pub fn check_id(id: &str) -> Result<&str, CliError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    ok.then_some(id).ok_or_else(|| CliError::BadId(id.into()))
}

/// The one container id a command takes (its first positional argument).
pub fn one_id<'a>(command: &str, p: &'a Parsed) -> Result<&'a str, CliError> {
    let id = p
        .positional
        .first()
        .ok_or_else(|| CliError::Usage { command: command.into(), what: "requires a container id".into() })?;
    check_id(id)
}

pub const USAGE: &str = "usage: tender-oci [GLOBAL OPTIONS] COMMAND [OPTIONS] [ID]

An OCI runtime with runc's command line. A container whose process.args[0] is a
Solo5 hvt unikernel for this host is run by tender inside the container's
namespaces and cgroup; every other container is handed to runc unchanged.

Commands:
  create [--bundle B] [--pid-file F] [--console-socket S] [--no-pivot] [--no-new-keyring] ID
  start ID                 boot the guest (it does not run before start)
  state ID                 runc's state JSON
  kill [--all] ID [SIGNAL] default SIGTERM: tender stops the guest and exits 1
  delete [--force] ID      remove the container, its state and its TAP devices
  list [--format table|json] [--quiet]
  ps [--format table|json] ID
  features                 runc's features JSON, with tender's annotations
  Other commands (pause, resume, update, events, exec, ...) go to runc; exec,
  checkpoint and restore are refused for a unikernel container.

Global options (as runc): --root DIR (default /run/runc), --log FILE,
  --log-format text|json, --debug, --systemd-cgroup, --criu PATH, --rootless V,
  --help, --version

Environment: TENDER_OCI_RUNC (runc to hand containers to; default: runc on PATH),
  TENDER_OCI_TENDER (the static tender put in containers; default: tender next
  to this binary). Annotations are listed in docs/oci.md.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(args: &[&str]) -> Invocation {
        parse(args.iter().map(OsString::from).collect()).unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn containerd_shim_command_lines_parse() {
        let i = inv(&[
            "--root",
            "/run/containerd/runc/default",
            "--log",
            "/b/log.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/init.pid",
            "hello",
        ]);
        assert_eq!(i.globals.root, PathBuf::from("/run/containerd/runc/default"));
        assert_eq!(i.globals.log, Some(PathBuf::from("/b/log.json")));
        assert!(i.globals.log_json && !i.globals.debug);
        assert_eq!(i.globals.raw.len(), 6);
        assert_eq!(i.command, "create");
        let p = parse_flags(&i.args, CREATE_FLAGS).unwrap();
        assert_eq!(p.flag("bundle"), Some("/b"));
        assert_eq!(p.flag("pid-file"), Some("/b/init.pid"));
        assert_eq!(one_id("create", &p), Ok("hello"));
    }

    #[test]
    fn flag_forms_as_runc_accepts_them() {
        let p = parse_flags(&strings(&["-b=/x", "--no-pivot", "-console-socket", "/s", "id"]), CREATE_FLAGS)
            .unwrap();
        assert_eq!(p.flag("bundle"), Some("/x"));
        assert!(p.has("no-pivot"));
        assert_eq!(p.flag("console-socket"), Some("/s"));
        let p = parse_flags(&strings(&["--all=true", "id", "KILL"]), KILL_FLAGS).unwrap();
        assert!(p.has("all"));
        assert_eq!(p.positional, strings(&["id", "KILL"]));
        let p = parse_flags(&strings(&["--force=false", "id"]), DELETE_FLAGS).unwrap();
        assert!(!p.has("force"));
        let i = inv(&["--systemd-cgroup", "--root=/r", "--debug", "state", "x"]);
        assert_eq!(i.globals.root, PathBuf::from("/r"));
        assert!(i.globals.debug);
        assert_eq!(i.args, strings(&["x"]));
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(
            parse_flags(&strings(&["--bogus", "id"]), CREATE_FLAGS),
            Err(CliError::UnknownFlag("bogus".into()))
        );
        assert_eq!(
            parse_flags(&strings(&["--bundle"]), CREATE_FLAGS),
            Err(CliError::MissingValue("bundle".into()))
        );
        let bad = parse(vec![OsString::from("--frob"), OsString::from("state")]);
        assert_eq!(bad, Err(CliError::UnknownFlag("frob".into())));
        assert_eq!(check_id("../x"), Err(CliError::BadId("../x".into())));
        assert!(check_id("..").is_err() && check_id("").is_err() && check_id("a/b").is_err());
        assert_eq!(check_id("k8s_pod-1.2+x"), Ok("k8s_pod-1.2+x"));
        let p = parse_flags(&[], NO_FLAGS).unwrap();
        assert!(one_id("start", &p).unwrap_err().to_string().contains("requires a container id"));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(inv(&[]).command, "help");
        assert_eq!(inv(&["--help"]).command, "help");
        assert_eq!(inv(&["--version"]).command, "--version");
        assert_eq!(inv(&["-v"]).command, "--version");
    }
}
