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
        "{path}: no tender there: install tender next to tender-oci or set TENDER_OCI_TENDER \
         (`cargo xtask build` puts both in target/release)"
    )]
    NoTender {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: not a tender for this host's architecture")]
    NotTender(PathBuf),
    #[error("{0}: paths handed to runc must be UTF-8")]
    NotUtf8(PathBuf),
    #[error("tender would refuse the container's command line")]
    TenderArgs(#[source] tender::cli::CliError),
    #[error(transparent)]
    ArgFile(#[from] tender::argfile::NewlineInArgument),
    #[error("container with id {0} already exists")]
    Exists(String),
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
