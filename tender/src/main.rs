//! The `tender` binary: parses the command line, runs the guest, and reports the
//! one error, if any, on one line. Exit status: the guest's, or 1 for tender errors.

use std::process::ExitCode;
use tender::cli::{self, Command};
use tender::diag;

fn main() -> ExitCode {
    let args = match tender::argfile::expand(std::env::args_os().skip(1).collect()) {
        Ok(args) => args,
        Err(e) => {
            diag::error(format_args!("{}", diag::chain(&e)));
            return ExitCode::from(1);
        }
    };
    let cfg = match cli::parse(args) {
        Ok(Command::Help) => {
            diag::stdout(&cli::usage());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            diag::stderr(&cli::version());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(cfg)) => cfg,
        Err(e) => {
            diag::error(format_args!("{e}"));
            diag::stderr(&cli::usage());
            return ExitCode::from(1);
        }
    };
    match tender::launch::launch(&cfg) {
        Ok(status) => ExitCode::from((status & 0xff) as u8),
        Err(e) => {
            diag::error(format_args!("{}", diag::chain(&e)));
            ExitCode::from(1)
        }
    }
}
