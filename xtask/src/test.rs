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

/// Echoes one output stream line by line; with `json`, counts libtest's JSON events (and
/// shows only failures and non-JSON lines).
fn pump(r: impl Read + Send + 'static, stderr: bool, json: bool) -> JoinHandle<Tally> {
    std::thread::spawn(move || {
        let mut total = Tally::default();
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if json {
                if let Some(t) = tally::from_libtest_json(&line) {
                    if t.failed > 0 {
                        println!("FAILED: {line}");
                    }
                    total += t;
                    continue;
                }
                if line.starts_with('{') {
                    continue;
                }
            }
            if stderr {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
        total
    })
}

/// Runs `cmd`, echoing its output. The counts come from machine-readable output: libtest's
/// JSON events (`json`), else nextest's JUnit report at `junit`.
fn run_counting(cmd: &mut Command, json: bool, junit: Option<&Path>) -> Result<Tally, String> {
    if let Some(j) = junit {
        let _ = std::fs::remove_file(j);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
    let out = pump(child.stdout.take().expect("piped stdout"), false, json);
    let err = pump(child.stderr.take().expect("piped stderr"), true, json);
    let status = child.wait().map_err(|e| format!("could not wait for {cmd:?}: {e}"))?;
    let mut total = out.join().unwrap_or_default();
    total += err.join().unwrap_or_default();
    if let Some(j) = junit {
        let xml =
            std::fs::read_to_string(j).map_err(|e| format!("{}: {e} ({cmd:?}, {status})", j.display()))?;
        total += tally::from_junit(&xml);
    }
    if total == Tally::default() {
        return Err(format!("{cmd:?} failed ({status}) without reporting any test"));
    }
    if !status.success() && total.failed == 0 {
        total.failed = 1;
    }
    Ok(total)
}

/// clippy beyond the host: the AArch64 tender (its arch code compiles only there) and the
/// integration suite (its AArch64 cases, run in the arm64 VM), guest-rt
/// and the examples for both `*-unknown-none` targets. Needs rustup's standard library for
/// each target; where rustup cannot fetch one, that lint is skipped, saying so.
fn lint_other_targets(root: &Path) -> Result<(), String> {
    let deny = ["--", "-D", "warnings"];
    if crate::guest_toolchain::rustup_has_target("aarch64-unknown-linux-gnu") {
        println!("xtask: clippy (aarch64-unknown-linux-gnu)");
        run(cargo(root)
            .args(["clippy", "--locked", "--target", "aarch64-unknown-linux-gnu", "--all-targets"])
            .args(["-p", "tender", "-p", "tender-oci", "-p", "tender-aarch64", "-p", "tender-tests"])
            .args(deny))?;
    } else {
        println!("xtask: clippy (aarch64-unknown-linux-gnu): SKIP, rustup cannot fetch the target here");
    }
    for triple in ["x86_64-unknown-none", "aarch64-unknown-none"] {
        if !crate::guest_toolchain::rustup_has_target(triple) {
            println!("xtask: clippy ({triple}): SKIP, rustup cannot fetch the target here");
            continue;
        }
        println!("xtask: clippy ({triple}: guest-rt, examples)");
        run(cargo(root)
            .args([
                "clippy",
                "--manifest-path",
                "guest-rt/Cargo.toml",
                "--features",
                "smoltcp",
                "--target",
                triple,
            ])
            .args(deny))?;
        let target_dir = root.join("target/guest-clippy");
        run(cargo(root)
            .args([
                "clippy",
                "--locked",
                "--manifest-path",
                "examples/Cargo.toml",
                "--workspace",
                "--target",
                triple,
            ])
            .arg("--target-dir")
            .arg(&target_dir)
            .args(deny))?;
    }
    Ok(())
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
    lint_other_targets(root)?;
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
    // libtest's JSON events (an unstable format: RUSTC_BOOTSTRAP lets stable take it).
    // --show-output: a passed test's output comes along, so a SKIP is counted as skipped.
    let json = ["--", "-Z", "unstable-options", "--format", "json", "--show-output"];
    let mut total = run_counting(
        cargo(root).env("RUSTC_BOOTSTRAP", "1").arg("test").args(guest_rt).args(json),
        true,
        None,
    )?;
    let http = ["--manifest-path", "examples/Cargo.toml", "-p", "http", "--lib"];
    total +=
        run_counting(cargo(root).env("RUSTC_BOOTSTRAP", "1").arg("test").args(http).args(json), true, None)?;
    println!("xtask: workspace tests (unit + KVM integration)");
    let mut t = cargo(root);
    let nextest = has_nextest();
    if nextest {
        t.args(["nextest", "run", "--workspace", "--locked", "--no-fail-fast"]);
    } else {
        t.args(["test", "--workspace", "--locked", "--no-fail-fast"]);
    }
    // nextest's JUnit report (.config/nextest.toml); plain cargo test reports JSON events.
    if nextest {
        let junit = root.join("target/nextest/default/junit.xml");
        total += run_counting(t.args(extra), false, Some(&junit))?;
    } else {
        total += run_counting(t.args(extra).env("RUSTC_BOOTSTRAP", "1").args(json), true, None)?;
    }
    Ok(total)
}
