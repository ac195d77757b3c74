//! `cargo xtask test`: lints, host unit tests, guest-rt's host tests and the KVM
//! integration tests, ending with the test runner's summary line.

use crate::run;
use crate::tally::{self, Tally};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;

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

/// Echoes one output stream line by line and adds up the test counts in it.
fn pump(r: impl Read + Send + 'static, stderr: bool, nextest: bool) -> JoinHandle<Option<Tally>> {
    std::thread::spawn(move || {
        let mut total: Option<Tally> = None;
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if stderr {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
            let t = if nextest { tally::from_nextest(&line) } else { tally::from_cargo_test(&line) };
            if let Some(t) = t {
                *total.get_or_insert_with(Tally::default) += t;
            }
        }
        total
    })
}

/// Runs `cmd`, echoing its output, and counts the tests its summary lines report.
fn run_counting(cmd: &mut Command, nextest: bool) -> Result<Tally, String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
    let out = pump(child.stdout.take().expect("piped stdout"), false, nextest);
    let err = pump(child.stderr.take().expect("piped stderr"), true, nextest);
    let status = child.wait().map_err(|e| format!("could not wait for {cmd:?}: {e}"))?;
    let counts = [out.join().ok().flatten(), err.join().ok().flatten()];
    let Some(mut total) = counts.into_iter().flatten().reduce(|mut a, b| {
        a += b;
        a
    }) else {
        return Err(format!("{cmd:?} failed ({status}) without reporting any test"));
    };
    if !status.success() && total.failed == 0 {
        total.failed = 1;
    }
    Ok(total)
}

/// Runs every check, then the tests; `extra` is passed to the test runner (e.g. a
/// filter). Lint failures are errors; test results come back counted.
pub fn run_all(root: &Path, extra: &[String]) -> Result<Tally, String> {
    println!("xtask: checking formatting");
    run(cargo(root).args(["fmt", "--all", "--check"]))?;
    run(cargo(root).args(["fmt", "--check", "--manifest-path", "guest-rt/Cargo.toml"]))?;
    run(cargo(root).args(["fmt", "--check", "--manifest-path", "examples/Cargo.toml", "--all"]))?;
    run(cargo(root).args(["fmt", "--check", "--manifest-path", "fuzz/Cargo.toml"]))?;
    println!("xtask: clippy");
    run(cargo(root).args(["clippy", "--locked", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    let guest_rt = ["--manifest-path", "guest-rt/Cargo.toml", "--features", "smoltcp"];
    run(cargo(root).arg("clippy").args(guest_rt).args(["--all-targets", "--", "-D", "warnings"]))?;
    println!("xtask: rustdoc");
    run(cargo(root).env("RUSTDOCFLAGS", "-D warnings").args([
        "doc",
        "--locked",
        "--workspace",
        "--no-deps",
    ]))?;
    // guest-rt's reference, as a guest developer opens it on the host: every public item a
    // guest calls is in it (cfg(doc)), documented (missing_docs is denied in its lints).
    run(cargo(root).env("RUSTDOCFLAGS", "-D warnings").args(["doc", "--no-deps"]).args(guest_rt))?;
    println!("xtask: guest-rt and example unit tests (host)");
    let mut total = run_counting(cargo(root).arg("test").args(guest_rt), false)?;
    let http = ["--manifest-path", "examples/Cargo.toml", "-p", "http", "--lib"];
    total += run_counting(cargo(root).arg("test").args(http), false)?;
    println!("xtask: workspace tests (unit + KVM integration)");
    let mut t = cargo(root);
    let nextest = has_nextest();
    if nextest {
        t.args(["nextest", "run", "--workspace", "--locked", "--no-fail-fast"]);
    } else {
        t.args(["test", "--workspace", "--locked", "--no-fail-fast"]);
    }
    total += run_counting(t.args(extra), nextest)?;
    Ok(total)
}
