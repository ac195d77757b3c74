//! runc, to which every non-unikernel container is handed and which also sets up the
//! namespaces, cgroup, mounts and stdio of unikernel containers (from a rewritten bundle).

use crate::cli::Globals;
use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// Problems with running runc.
#[derive(Debug, thiserror::Error)]
pub enum RuncError {
    #[error("runc not found on PATH: install runc or set TENDER_OCI_RUNC to its path")]
    NotFound,
    #[error("TENDER_OCI_RUNC={0}: not a runc to hand containers to (missing, or tender-oci itself)")]
    BadRuncVar(String),
    #[error(
        "runc resolves to tender-oci itself (another copy of it named runc on PATH?): set TENDER_OCI_RUNC"
    )]
    Loop,
    #[error("{path}: could not run runc")]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("runc {command} failed ({status})")]
    Failed { command: String, status: ExitStatus },
    #[error("runc {command} printed something other than JSON")]
    Json {
        command: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Set in runc's environment when tender-oci hands it a container: seeing it on entry means
/// the "runc" we found was another tender-oci, and we would loop.
const HANDED_OVER: &str = "TENDER_OCI_HANDED_OVER";

/// runc with the engine's global options.
#[derive(Debug, Clone)]
pub struct Runc {
    pub path: PathBuf,
    globals: Vec<String>,
    /// The same without `--log`/`--log-format`: our own probes (`state`, cleanup) must not
    /// add their errors to the log the engine reads back for the real one.
    quiet_globals: Vec<String>,
}

/// `globals` less the log options (`--log X`, `--log=X`, `--log-format X`, and `-` forms).
fn without_log(globals: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip = false;
    for g in globals {
        if std::mem::take(&mut skip) {
            continue;
        }
        let body = g.trim_start_matches('-');
        match body.split_once('=').map_or(body, |(n, _)| n) {
            "log" | "log-format" => skip = !body.contains('='),
            _ => out.push(g.clone()),
        }
    }
    out
}

impl Runc {
    /// `TENDER_OCI_RUNC`, else the first `runc` on PATH that is not this program (tender-oci
    /// may be installed *as* runc: it must never hand a container to itself).
    pub fn find(globals: &Globals) -> Result<Runc, RuncError> {
        if std::env::var_os(HANDED_OVER).is_some() {
            return Err(RuncError::Loop);
        }
        let me = std::env::current_exe().and_then(std::fs::canonicalize).ok();
        let not_me = |p: &Path| std::fs::canonicalize(p).ok().filter(|c| Some(c) != me.as_ref()).is_some();
        let path = match std::env::var_os("TENDER_OCI_RUNC").filter(|v| !v.is_empty()) {
            Some(p) => {
                let p = PathBuf::from(p);
                if !(p.is_file() && not_me(&p)) {
                    return Err(RuncError::BadRuncVar(p.display().to_string()));
                }
                p
            }
            None => std::env::var_os("PATH")
                .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into())
                .to_string_lossy()
                .split(':')
                .map(|dir| Path::new(dir).join("runc"))
                .find(|p| p.is_file() && not_me(p))
                .ok_or(RuncError::NotFound)?,
        };
        Ok(Runc { path, globals: globals.raw.clone(), quiet_globals: without_log(&globals.raw) })
    }

    fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new(&self.path);
        c.env(HANDED_OVER, "1").args(&self.globals).args(args);
        c
    }

    /// As [`Runc::command`], without the engine's log.
    fn quiet_command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new(&self.path);
        c.env(HANDED_OVER, "1").args(&self.quiet_globals).args(args);
        c
    }

    /// Replaces this process by runc: its pid, stdio and exit status become runc's.
    pub fn exec<I, S>(&self, args: I) -> RuncError
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let source = self.command(args).exec();
        RuncError::Spawn { path: self.path.clone(), source }
    }

    /// Runs runc with our stdio and returns its status (runc reports its own errors).
    pub fn status<I, S>(&self, args: I) -> Result<ExitStatus, RuncError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(args).status().map_err(|source| RuncError::Spawn { path: self.path.clone(), source })
    }

    /// Runs runc and parses what it prints on stdout as JSON. With `quiet` (our own probes),
    /// runc writes neither to stderr nor to the engine's log.
    pub fn json<I, S>(&self, args: I, quiet: bool) -> Result<serde_json::Value, RuncError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = if quiet { self.quiet_command(args) } else { self.command(args) };
        let skip = if quiet { self.quiet_globals.len() } else { self.globals.len() };
        let command = format!("{:?}", cmd.get_args().nth(skip).unwrap_or_default());
        if quiet {
            cmd.stderr(Stdio::null());
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|source| RuncError::Spawn { path: self.path.clone(), source })?;
        if !out.status.success() {
            return Err(RuncError::Failed { command, status: out.status });
        }
        serde_json::from_slice(&out.stdout).map_err(|source| RuncError::Json { command, source })
    }

    /// Runs runc without showing its output or logging; true if it succeeded.
    pub fn quietly<I, S>(&self, args: I) -> bool
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.quiet_command(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        cmd.status().is_ok_and(|s| s.success())
    }

    /// `runc state ID`, or `None` if runc does not know the container.
    pub fn state(&self, id: &str) -> Option<serde_json::Value> {
        self.json(["state", id], true).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_leave_the_engines_log_alone() {
        let g: Vec<String> = ["--root", "/r", "--log", "/l.json", "--log-format=json", "--debug", "-log=/x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(without_log(&g), ["--root", "/r", "--debug"]);
    }
}
