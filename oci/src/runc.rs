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
    #[error("runc not found: install runc or set TENDER_OCI_RUNC to its path")]
    NotFound,
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

/// runc with the engine's global options.
#[derive(Debug, Clone)]
pub struct Runc {
    pub path: PathBuf,
    globals: Vec<String>,
}

impl Runc {
    /// `TENDER_OCI_RUNC`, else the first `runc` on PATH that is not this program (tender-oci
    /// may be installed *as* runc: it must never hand a container to itself).
    pub fn find(globals: &Globals) -> Result<Runc, RuncError> {
        let me = std::env::current_exe().and_then(std::fs::canonicalize).ok();
        let not_me = |p: &Path| std::fs::canonicalize(p).ok().filter(|c| Some(c) != me.as_ref()).is_some();
        let path = match std::env::var_os("TENDER_OCI_RUNC").filter(|v| !v.is_empty()) {
            Some(p) => Some(PathBuf::from(p)).filter(|p| not_me(p)),
            None => std::env::var_os("PATH")
                .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into())
                .to_string_lossy()
                .split(':')
                .map(|dir| Path::new(dir).join("runc"))
                .find(|p| p.is_file() && not_me(p)),
        };
        Ok(Runc { path: path.ok_or(RuncError::NotFound)?, globals: globals.raw.clone() })
    }

    fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new(&self.path);
        c.args(&self.globals).args(args);
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

    /// Runs runc and parses what it prints on stdout as JSON (stderr passes through, or is
    /// dropped when `quiet`).
    pub fn json<I, S>(&self, args: I, quiet: bool) -> Result<serde_json::Value, RuncError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(args);
        let command = format!("{:?}", cmd.get_args().nth(self.globals.len()).unwrap_or_default());
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

    /// Runs runc without showing its output; true if it succeeded.
    pub fn quietly<I, S>(&self, args: I) -> bool
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        cmd.status().is_ok_and(|s| s.success())
    }

    /// `runc state ID`, or `None` if runc does not know the container.
    pub fn state(&self, id: &str) -> Option<serde_json::Value> {
        self.json(["state", id], true).ok()
    }
}
