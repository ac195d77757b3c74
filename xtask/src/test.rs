//! `cargo xtask test`: lints, host unit tests, guest-rt's host tests and the KVM
//! integration tests, ending with the test runner's summary line.

use crate::run;
use std::path::Path;
use std::process::{Command, ExitCode};

fn cargo(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(root);
    c
}

fn has_nextest() -> bool {
    Command::new(env!("CARGO"))
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs every check; `extra` is passed to the test runner (e.g. a test filter).
pub fn run_all(root: &Path, extra: &[String]) -> Result<ExitCode, String> {
    println!("xtask: checking formatting");
    run(cargo(root).args(["fmt", "--all", "--check"]))?;
    run(cargo(root).args(["fmt", "--check", "--manifest-path", "guest-rt/Cargo.toml"]))?;
    println!("xtask: clippy");
    run(cargo(root).args(["clippy", "--locked", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    println!("xtask: guest-rt unit tests (host)");
    run(cargo(root).args(["test", "--quiet", "--manifest-path", "guest-rt/Cargo.toml"]))?;
    println!("xtask: workspace tests (unit + KVM integration)");
    let mut t = cargo(root);
    if has_nextest() {
        t.args(["nextest", "run", "--workspace", "--locked", "--no-fail-fast"]);
    } else {
        t.args(["test", "--workspace", "--locked", "--no-fail-fast"]);
    }
    run(t.args(extra))?;
    Ok(ExitCode::SUCCESS)
}
