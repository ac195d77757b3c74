//! `cargo xtask fuzz [--smoke] [TARGET...]`: the coverage-guided fuzz targets in `fuzz/`
//! (cargo-fuzz, libFuzzer with AddressSanitizer) run for a bounded time each.
//!
//! cargo-fuzz needs nightly-only compiler flags; `RUSTC_BOOTSTRAP=1` lets the stable toolchain
//! take them. New inputs go to `target/fuzz-corpus/<target>`; the committed seeds in
//! `fuzz/corpus/<target>` are read, never written. A crash fails the run and names the input
//! libFuzzer saved under `fuzz/artifacts/`.

use crate::run;
use crate::tally::Tally;
use std::path::Path;
use std::process::{Command, Stdio};

/// Every fuzz target.
pub const TARGETS: &[&str] = &["elf", "cli", "hypercall", "ring"];
/// Seconds per target for `--smoke` (CI) and by default.
const SMOKE_SECS: u32 = 15;
const DEFAULT_SECS: u32 = 120;

fn cargo() -> Command {
    Command::new(env!("CARGO"))
}

/// Installs cargo-fuzz from crates.io if it is missing.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let present = cargo().args(["fuzz", "--version"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if present.is_ok_and(|s| s.success()) {
        return Ok(());
    }
    println!("xtask: installing cargo-fuzz (once)");
    run(cargo().args(["install", "cargo-fuzz", "--locked", "--quiet"]))
}

/// `N runs` from libFuzzer's closing `Done N runs in S second(s)`.
pub fn runs_done(output: &str) -> Option<u64> {
    output.lines().find_map(|l| l.strip_prefix("Done ")?.split(' ').next()?.parse().ok())
}

/// Runs the targets named in `args` (all by default); one tally entry per target.
pub fn fuzz(root: &Path, args: &[String]) -> Result<Tally, String> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let named: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with("--")).collect();
    if let Some(bad) = named.iter().find(|n| !TARGETS.contains(n)) {
        return Err(format!("unknown fuzz target '{bad}' (targets: {})", TARGETS.join(", ")));
    }
    let targets: Vec<&str> = if named.is_empty() { TARGETS.to_vec() } else { named };
    let secs = if smoke { SMOKE_SECS } else { DEFAULT_SECS };
    ensure_cargo_fuzz()?;
    let fuzz_dir = root.join("fuzz");
    println!("xtask: building the fuzz targets (AddressSanitizer)");
    run(cargo().current_dir(&fuzz_dir).env("RUSTC_BOOTSTRAP", "1").args(["fuzz", "build"]))?;
    let mut tally = Tally::default();
    for t in targets {
        let corpus = root.join("target/fuzz-corpus").join(t);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        let seeds = fuzz_dir.join("corpus").join(t);
        // stdout is the guest console of PUTS inputs: noise.
        let out = cargo()
            .current_dir(&fuzz_dir)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", t])
            .arg(&corpus)
            .arg(&seeds)
            .args(["--", &format!("-max_total_time={secs}"), "-print_final_stats=0"])
            .stdout(Stdio::null())
            .output()
            .map_err(|e| format!("could not run cargo fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        match (out.status.success(), runs_done(&log)) {
            (true, Some(runs)) => {
                println!("xtask: fuzz {t}: {runs} executions in {secs} s, no crash");
                tally.passed += 1;
            }
            _ => {
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
                println!("xtask: fuzz {t}: FAILED (the crashing input is under fuzz/artifacts/{t}/)");
                tally.failed += 1;
            }
        }
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_libfuzzers_closing_line() {
        let log = "#2097152\tpulse  cov: 812 ft: 3300\nDone 297094 runs in 11 second(s)\n";
        assert_eq!(super::runs_done(log), Some(297_094));
        assert_eq!(super::runs_done("==1==ERROR: AddressSanitizer"), None);
    }
}
