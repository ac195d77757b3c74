//! The solo5-hvt compatible command line (ABI.md §6): `tender [OPTIONS] [--] KERNEL [ARGS...]`.
//!
//! Hand-written rather than clap: device options carry the device name inside the
//! option itself (`--block:NAME=PATH`), which solo5-hvt users and scripts rely on.

use crate::block::BlockConfig;
use crate::net::{NetConfig, NetSource};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// Errors in the command line. Each is shown with the usage text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CliError {
    #[error("Invalid option: {0}")]
    UnknownOption(String),
    #[error("Malformed argument to {option}: '{value}'")]
    Malformed { option: &'static str, value: String },
    #[error("Invalid device name '{0}': names are 1 to 67 letters or digits")]
    BadDeviceName(String),
    #[error("Device '{0}' given more than once")]
    DuplicateDevice(String),
    #[error("Option {0} needs a value ({0}=...)")]
    MissingValue(String),
    #[error("File descriptor {0} is given for more than one network device")]
    DuplicateFd(i32),
    #[error("Missing KERNEL operand")]
    MissingKernel,
    #[error("Guest command line too long (max {max} characters)", max = abi::layout::CMDLINE_SIZE - 1)]
    CmdlineTooLong,
}

/// What the user asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    Run(Config),
}

/// A validated command line for running a unikernel.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `--mem` in MiB as given (sizing rules are applied later, in order).
    pub mem_mib: Option<u64>,
    pub blocks: Vec<BlockConfig>,
    pub nets: Vec<NetConfig>,
    pub kernel: PathBuf,
    /// The guest command line: ARGS joined by single spaces (bytes, as given).
    pub cmdline: Vec<u8>,
    /// `--seccomp=on|log|off` (default on).
    pub seccomp: crate::seccomp::Mode,
    /// `--dumpcore=DIR`: write an ELF core there if the guest aborts.
    pub dumpcore: Option<PathBuf>,
    /// `--gdb[=PORT]`: wait for a debugger on 127.0.0.1:PORT before the guest runs.
    pub gdb: Option<u16>,
    /// `--no-net-ring`: do not offer the shared-memory net ring (ABI.md §7); guests use
    /// the NET_READ/NET_WRITE (and BLOCK_READ/BLOCK_WRITE) hypercalls.
    pub no_net_ring: bool,
}

/// `--gdb`'s port when none is given (GDB's habit: `target remote :1234`).
pub const GDB_DEFAULT_PORT: u16 = 1234;

/// Usage text, shown by `--help` and after command-line errors.
pub fn usage() -> String {
    format!(
        "usage: tender [OPTIONS] [--] KERNEL [ARGS...]\n\
         Runs the Solo5 hvt unikernel KERNEL on KVM; ARGS become its command line.\n\
         \n\
         Options:\n\
         \x20 --mem=MiB                      guest memory in MiB (default {mem}, max 4096)\n\
         \x20 --block:NAME=PATH              attach file PATH as block device NAME\n\
         \x20 --block-sector-size:NAME=N     sector size of block device NAME (power of two >= 512, default 512)\n\
         \x20 --net:NAME=IFACE               attach TAP interface IFACE as network device NAME\n\
         \x20 --net:NAME=@FD                 attach the already-open TAP file descriptor FD\n\
         \x20 --net-mac:NAME=xx:xx:xx:xx:xx:xx  MAC address of network device NAME (default: random)\n\
         \x20 --no-net-ring                  offer no shared-memory ring: guests then make one\n\
         \x20                                hypercall per frame or block request (the ring\n\
         \x20                                needs --mem <= 4094)\n\
         \x20 --seccomp=on|log|off           system-call filter while the guest runs (default on;\n\
         \x20                                log and off are for debugging only: UNSAFE)\n\
         \x20 --dumpcore=DIR                 if the guest aborts (exit 255), write an ELF core of it\n\
         \x20                                to DIR/core.tender.PID (for gdb KERNEL -c CORE)\n\
         \x20 --gdb[=PORT]                   wait for gdb on 127.0.0.1:PORT (default 1234) before the\n\
         \x20                                guest runs: gdb KERNEL -ex 'target remote :PORT'\n\
         \x20 --help                         show this help and exit\n\
         \x20 --version                      show version information and exit\n\
         \n\
         `tender @FILE [MORE...]` reads its arguments from FILE, one per line, then MORE.\n\
         \n\
         Exit status: the guest's exit status (0 success, 1 failure, 255 abort);\n\
         1 for an error of tender itself (bad image, bad option, bad guest access, signal).\n",
        mem = abi::layout::MEM_DEFAULT_MIB
    )
}

/// Version text (solo5-hvt's format).
pub fn version() -> String {
    format!("tender tender, version {}\nABI version {}\n", env!("CARGO_PKG_VERSION"), abi::ABI_VERSION)
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Command, CliError> {
    let mut args = args.into_iter();
    let mut cfg = Config::default();
    let mut sector_sizes: Vec<(String, u64)> = Vec::new();
    let mut macs: Vec<(String, [u8; 6])> = Vec::new();
    let mut kernel = None;
    for arg in args.by_ref() {
        if arg == "--" {
            kernel = args.next();
            break;
        }
        if !arg.as_bytes().starts_with(b"--") && arg != "-h" {
            kernel = Some(arg);
            break;
        }
        // Only a block device's PATH may be any bytes; every other option is text.
        let arg = match arg.into_string() {
            Ok(a) => a,
            Err(raw) => {
                let (name, path) = block_opt_raw(&raw)?;
                if cfg.blocks.iter().any(|b| b.name == name) {
                    return Err(CliError::DuplicateDevice(name));
                }
                cfg.blocks.push(BlockConfig { name, path, sector_size: None });
                continue;
            }
        };
        match arg.as_str() {
            "--gdb" => {
                cfg.gdb = Some(GDB_DEFAULT_PORT);
                continue;
            }
            "--no-net-ring" => {
                cfg.no_net_ring = true;
                continue;
            }
            "--help" | "-h" => return Ok(Command::Help),
            "--version" => return Ok(Command::Version),
            "--mem"
            | "--block"
            | "--net"
            | "--net-mac"
            | "--block-sector-size"
            | "--seccomp"
            | "--dumpcore" => {
                return Err(CliError::MissingValue(arg));
            }
            _ => {}
        }
        if let Some(port) = arg.strip_prefix("--gdb=") {
            let port = port.parse::<u16>().ok();
            cfg.gdb = Some(
                port.ok_or(CliError::Malformed { option: "--gdb", value: arg["--gdb=".len()..].into() })?,
            );
        } else if let Some(dir) = arg.strip_prefix("--dumpcore=") {
            if dir.is_empty() {
                return Err(CliError::Malformed { option: "--dumpcore", value: dir.into() });
            }
            cfg.dumpcore = Some(dir.into());
        } else if let Some(v) = arg.strip_prefix("--seccomp=") {
            cfg.seccomp = match v {
                "on" => crate::seccomp::Mode::On,
                "log" => crate::seccomp::Mode::Log,
                "off" => crate::seccomp::Mode::Off,
                _ => return Err(CliError::Malformed { option: "--seccomp", value: v.into() }),
            };
        } else if let Some(v) = arg.strip_prefix("--mem=") {
            let mib = parse_decimal(v).filter(|m| *m != 0);
            cfg.mem_mib = Some(mib.ok_or(CliError::Malformed { option: "--mem", value: v.into() })?);
        } else if let Some((name, path)) = device_opt(&arg, "--block:")? {
            if cfg.blocks.iter().any(|b| b.name == name) {
                return Err(CliError::DuplicateDevice(name));
            }
            cfg.blocks.push(BlockConfig { name, path: path.into(), sector_size: None });
        } else if let Some((name, n)) = device_opt(&arg, "--block-sector-size:")? {
            let size = parse_decimal(&n)
                .filter(|s| *s >= 512 && s.is_power_of_two())
                .ok_or(CliError::Malformed { option: "--block-sector-size", value: n })?;
            sector_sizes.push((name, size));
        } else if let Some((name, src)) = device_opt(&arg, "--net:")? {
            if cfg.nets.iter().any(|n| n.name == name) {
                return Err(CliError::DuplicateDevice(name));
            }
            let source = match src.strip_prefix('@') {
                Some(fd) => {
                    // 0-2 are tender's own streams; one fd cannot back two devices.
                    let fd = fd.parse::<i32>().ok().filter(|fd| *fd > 2);
                    let fd = fd.ok_or(CliError::Malformed { option: "--net", value: src.clone() })?;
                    if cfg.nets.iter().any(|n| n.source == NetSource::Fd(fd)) {
                        return Err(CliError::DuplicateFd(fd));
                    }
                    NetSource::Fd(fd)
                }
                None if !src.is_empty() => NetSource::Iface(src),
                None => return Err(CliError::Malformed { option: "--net", value: src }),
            };
            cfg.nets.push(NetConfig { name, source, mac: None });
        } else if let Some((name, m)) = device_opt(&arg, "--net-mac:")? {
            let mac = parse_mac(&m).ok_or(CliError::Malformed { option: "--net-mac", value: m })?;
            macs.push((name, mac));
        } else {
            return Err(CliError::UnknownOption(arg));
        }
    }
    cfg.kernel = kernel.ok_or(CliError::MissingKernel)?.into();
    for (name, size) in sector_sizes {
        // A sector size for a device that is not attached is an error, not ignored.
        let b = cfg.blocks.iter_mut().find(|b| b.name == name);
        b.ok_or(CliError::Malformed { option: "--block-sector-size", value: name })?.sector_size = Some(size);
    }
    for (name, mac) in macs {
        let n = cfg.nets.iter_mut().find(|n| n.name == name);
        n.ok_or(CliError::Malformed { option: "--net-mac", value: name })?.mac = Some(mac);
    }
    let words: Vec<Vec<u8>> = args.map(OsString::into_vec).collect();
    cfg.cmdline = words.join(&b' ');
    if cfg.cmdline.len() > abi::layout::CMDLINE_SIZE - 1 {
        return Err(CliError::CmdlineTooLong);
    }
    Ok(Command::Run(cfg))
}

/// `--block:NAME=PATH` whose PATH is not UTF-8 (NAME must still be valid).
fn block_opt_raw(raw: &OsStr) -> Result<(String, PathBuf), CliError> {
    let lossy = || CliError::UnknownOption(raw.to_string_lossy().into_owned());
    let rest = raw.as_bytes().strip_prefix(b"--block:").ok_or_else(lossy)?;
    let eq = rest.iter().position(|&b| b == b'=').ok_or_else(lossy)?;
    let name = std::str::from_utf8(&rest[..eq]).map_err(|_| lossy())?;
    if abi::manifest::check_name(name).is_err() {
        return Err(CliError::BadDeviceName(name.into()));
    }
    Ok((name.into(), PathBuf::from(OsStr::from_bytes(&rest[eq + 1..]))))
}

/// Splits `--prefixNAME=VALUE`, checking NAME; `None` if `arg` lacks the prefix.
fn device_opt(arg: &str, prefix: &str) -> Result<Option<(String, String)>, CliError> {
    let Some(rest) = arg.strip_prefix(prefix) else { return Ok(None) };
    let (name, value) = rest.split_once('=').ok_or_else(|| CliError::UnknownOption(arg.into()))?;
    if abi::manifest::check_name(name).is_err() {
        return Err(CliError::BadDeviceName(name.into()));
    }
    Ok(Some((name.into(), value.into())))
}

/// A plain decimal number (no sign, no suffix).
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `xx:xx:xx:xx:xx:xx` in hex.
fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Command, CliError> {
        parse(args.iter().map(OsString::from))
    }

    fn cfg(args: &[&str]) -> Config {
        match run(args).unwrap() {
            Command::Run(c) => c,
            other => panic!("expected a run, got {other:?}"),
        }
    }

    #[test]
    fn kernel_and_args_join_with_spaces() {
        let c = cfg(&["--mem=64", "k.hvt", "a", "--mem=2", "b c"]);
        assert_eq!(c.mem_mib, Some(64));
        assert_eq!(c.kernel, PathBuf::from("k.hvt"));
        assert_eq!(c.cmdline, b"a --mem=2 b c");
    }

    #[test]
    fn double_dash_ends_options() {
        let c = cfg(&["--", "--weird-name", "x"]);
        assert_eq!(c.kernel, PathBuf::from("--weird-name"));
        assert_eq!(c.cmdline, b"x");
    }

    #[test]
    fn help_and_version_win_before_kernel() {
        assert_eq!(run(&["--mem=1", "--help"]), Ok(Command::Help));
        assert_eq!(run(&["-h"]), Ok(Command::Help));
        assert_eq!(run(&["--", "-h"]).map(|c| matches!(c, Command::Run(_))), Ok(true));
        assert_eq!(run(&["--version", "k"]), Ok(Command::Version));
        assert!(matches!(run(&["k", "--help"]), Ok(Command::Run(_))));
    }

    #[test]
    fn errors_are_specific() {
        assert_eq!(run(&[]), Err(CliError::MissingKernel));
        assert_eq!(run(&["--bogus", "k"]), Err(CliError::UnknownOption("--bogus".into())));
        assert_eq!(
            run(&["--mem=12x", "k"]),
            Err(CliError::Malformed { option: "--mem", value: "12x".into() })
        );
        assert_eq!(run(&["--mem=0", "k"]), Err(CliError::Malformed { option: "--mem", value: "0".into() }));
        assert_eq!(run(&["--mem", "k"]), Err(CliError::MissingValue("--mem".into())));
        assert_eq!(run(&["--block:bad-name=f", "k"]), Err(CliError::BadDeviceName("bad-name".into())));
        assert_eq!(run(&["--block:a=f", "--block:a=g", "k"]), Err(CliError::DuplicateDevice("a".into())));
        let long = "x".repeat(8192);
        assert_eq!(run(&["k", &long]), Err(CliError::CmdlineTooLong));
        assert!(run(&["k", &"x".repeat(8191)]).is_ok());
    }

    #[test]
    fn non_utf8_paths_and_arguments_pass_through() {
        let args = [
            OsString::from_vec(b"--block:disk=/tmp/\xff.img".to_vec()),
            OsString::from("k"),
            OsString::from_vec(b"\xfe".to_vec()),
        ];
        let Ok(Command::Run(c)) = parse(args) else { panic!("expected a run") };
        assert_eq!(c.blocks[0].path.as_os_str().as_bytes(), b"/tmp/\xff.img");
        assert_eq!(c.cmdline, b"\xfe");
        let bad = parse([OsString::from_vec(b"--m\xffem".to_vec()), OsString::from("k")]);
        assert!(matches!(bad, Err(CliError::UnknownOption(_))));
    }

    #[test]
    fn tap_fds_are_checked() {
        assert!(run(&["--net:a=@1", "k"]).is_err());
        assert_eq!(run(&["--net:a=@5", "--net:b=@5", "k"]), Err(CliError::DuplicateFd(5)));
    }

    #[test]
    fn devices_parse() {
        let c = cfg(&[
            "--block:disk=/tmp/d.img",
            "--block-sector-size:disk=4096",
            "--net:service=tap0",
            "--net:other=@7",
            "--net-mac:service=02:00:00:00:00:01",
            "k",
        ]);
        assert_eq!(c.blocks[0].sector_size, Some(4096));
        assert_eq!(c.nets[0].mac, Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(c.nets[1].source, NetSource::Fd(7));
        assert!(run(&["--block-sector-size:disk=1000", "--block:disk=f", "k"]).is_err());
        assert!(run(&["--net-mac:x=02:00:00:00:00", "--net:x=t", "k"]).is_err());
    }
}
