//! The `tender` binary: parses the command line, runs the guest, and reports the
//! one error, if any, on one line. Exit status: the guest's, or 1 for tender errors.

use std::error::Error;
use std::process::ExitCode;
use tender::cli::{self, Command};

fn report(err: &dyn Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        line.push_str(": ");
        line.push_str(&s.to_string());
        source = s.source();
    }
    line
}

fn main() -> ExitCode {
    let cfg = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{}", cli::usage());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            eprint!("{}", cli::version());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(cfg)) => cfg,
        Err(e) => {
            eprintln!("tender: {e}");
            eprint!("{}", cli::usage());
            return ExitCode::from(1);
        }
    };
    match tender::launch::launch(&cfg) {
        Ok(status) => ExitCode::from((status & 0xff) as u8),
        Err(e) => {
            eprintln!("tender: {}", report(&e));
            ExitCode::from(1)
        }
    }
}
