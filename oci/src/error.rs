//! The one error type `main` reports: each module's error, and the failures of the
//! commands themselves. Messages follow runc's: short, lower case, naming what failed.

use crate::bundle::BundleError;
use crate::cli::CliError;
use crate::detect::DetectError;
use crate::network::NetworkError;
use crate::plan::PlanError;
use crate::runc::RuncError;
use crate::state::StateError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error(transparent)]
    Cli(#[from] CliError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Detect(#[from] DetectError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Runc(#[from] RuncError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("/dev/kvm is not available on this host: unikernel containers need KVM")]
    NoKvm,
    #[error("/dev/net/tun is not available on this host: the image declares network devices")]
    NoTun,
    #[error(
        "{0}: no tender there: install tender next to tender-oci or set TENDER_OCI_TENDER \
         (`cargo xtask build` puts both in target/release)"
    )]
    NoTender(PathBuf),
    #[error(
        "{0}: tender is dynamically linked and cannot run inside a container: use the static \
         tender that `cargo xtask build` makes"
    )]
    DynamicTender(PathBuf),
    #[error("{path}: could not write")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("container {0}: runc created it but reports no pid")]
    NoPid(String),
    #[error(
        "block device '{name}': {path} does not exist in the container (bind-mount a disk image \
         there, or name another path with annotation tender.block.{name})"
    )]
    NoBlock { name: String, path: PathBuf },
    #[error("{command} is not supported for unikernel container {id}")]
    Unsupported { command: String, id: String },
    #[error("container {0} does not exist")]
    NoContainer(String),
    /// runc failed and has reported why itself; exit with its status.
    #[error("runc failed")]
    Quiet(i32),
}

/// The error and its sources on one line, `a: b: c`.
pub fn one_line(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        line.push_str(": ");
        line.push_str(&s.to_string());
        source = s.source();
    }
    line
}
