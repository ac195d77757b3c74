//! `tender-oci`: a runc-compatible OCI runtime. A container whose entrypoint is a Solo5 hvt
//! unikernel for this host runs on tender, inside the namespaces and cgroup the engine asked
//! for; every other container is handed to runc unchanged. One error line on stderr (and in
//! `--log`), exit 1, as runc.

mod bundle;
mod cli;
mod commands;
mod create;
mod detect;
mod error;
mod log;
mod network;
mod plan;
mod runc;
mod state;

use error::OciError;
use std::process::ExitCode;

fn main() -> ExitCode {
    let inv = match cli::parse(std::env::args_os().skip(1).collect()) {
        Ok(inv) => inv,
        Err(e) => {
            log::Log::default().error(&e.to_string());
            return ExitCode::from(1);
        }
    };
    let log =
        log::Log { file: inv.globals.log.clone(), json: inv.globals.log_json, debug: inv.globals.debug };
    let result = match inv.command.as_str() {
        "help" => {
            print!("{}", cli::USAGE);
            Ok(0)
        }
        "--version" => commands::version(&inv),
        "create" | "run" => create::create(&inv, &log),
        "start" | "kill" | "ps" => commands::forward(&inv),
        "state" => commands::state(&inv),
        "delete" => commands::delete(&inv),
        "list" => commands::list(&inv),
        "features" => commands::features(&inv),
        _ => commands::other(&inv),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(OciError::Quiet(code)) => ExitCode::from(code.clamp(1, 255) as u8),
        Err(e) => {
            log.error(&tender::diag::chain(&e));
            ExitCode::from(1)
        }
    }
}
