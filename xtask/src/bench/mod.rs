//! `cargo xtask bench [--quick]`: tender against the floor of what a KVM monitor can do here,
//! measured side by side in one run and printed as ratios (also written to
//! `target/bench/results.md` and `results.csv`). `--quick` (what `cargo xtask test` runs) uses
//! few iterations: it checks that every benchmark runs and prints its table, and asserts no time.
//!
//! - boot: `tender hello.hvt` as a whole process vs `floor` (same memory, one vCPU, one exit,
//!   HLT), median of N runs; and boot against guest memory from 32 MiB to 4 GiB.
//! - hypercall: a guest's WALLTIME round trip (guest-rt, timed inside the guest) vs the floor's
//!   bare port-I/O exit (timed around its KVM_RUN loop).
//! - block: sequential writes/reads in 512 B to 1 MiB requests from the guest vs a host
//!   `pwrite`/`pread` loop on the same file and sizes.
//! - net: `ping -f` echoes per second and TCP echo throughput between a host process in a test
//!   namespace and the guest (the hypercall path: no shared-memory ring yet).
//! - memory: tender's peak RSS with a guest at 512 MiB and at 4 GiB of guest memory.
//! - density: many hello guests with `--mem=32` at once.

use crate::run;
use crate::tally::Tally;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One row of the results table.
struct Row {
    what: String,
    tender: String,
    baseline: String,
    ratio: Option<f64>,
    target: &'static str,
}

fn row(
    what: impl Into<String>,
    tender: impl Into<String>,
    baseline: impl Into<String>,
    ratio: Option<f64>,
    target: &'static str,
) -> Row {
    Row { what: what.into(), tender: tender.into(), baseline: baseline.into(), ratio, target }
}

/// Waits for `child` and returns (exit code, peak RSS in KiB) from wait4's rusage.
fn wait_rss(child: Child) -> (Option<i32>, i64) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain integers; wait4 fills it for our own child, which we reap here
    // (the Child handle is dropped without waiting again).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: status and usage are valid for writes; pid is our child.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    std::mem::forget(child);
    let code = (rc == pid && libc::WIFEXITED(status)).then(|| libc::WEXITSTATUS(status));
    (code, usage.ru_maxrss)
}

fn spawn(cmd: &mut Command) -> Result<Child, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))
}

/// Median wall time of `runs` whole-process runs of `cmd` (each must exit 0).
fn median_run(runs: usize, mut cmd: impl FnMut() -> Command) -> Result<Duration, String> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let (code, _) = wait_rss(spawn(&mut cmd())?);
        if code != Some(0) {
            return Err(format!("{:?} exited {code:?}", cmd()));
        }
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// The median of `values` (at least one).
fn median_f64(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The `KEY VALUE` a guest or the floor printed (`bench: hypercall_ns 25181`).
fn value(output: &str, key: &str) -> Option<u64> {
    output.lines().find_map(|l| {
        let mut w = l.split_whitespace().skip(1);
        (w.next()? == key).then(|| w.next()?.parse().ok()).flatten()
    })
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

struct Bench {
    tender: PathBuf,
    floor: PathBuf,
    images: PathBuf,
    scratch: PathBuf,
    quick: bool,
}

mod devices;
mod process;

impl Bench {
    fn image(&self, name: &str) -> PathBuf {
        self.images.join(format!("{name}.hvt"))
    }
}

fn table(rows: &[Row]) -> String {
    let mut t = String::from("| benchmark | tender | baseline | ratio | target |\n|---|---|---|---|---|\n");
    for r in rows {
        let ratio = r.ratio.map_or(String::new(), |x| format!("{x:.2}x"));
        t.push_str(&format!("| {} | {} | {} | {ratio} | {} |\n", r.what, r.tender, r.baseline, r.target));
    }
    t
}

fn csv(rows: &[Row]) -> String {
    let mut t = String::from("benchmark,tender,baseline,ratio,target\n");
    for r in rows {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        t.push_str(&format!(
            "{},{},{},{},{}\n",
            q(&r.what),
            q(&r.tender),
            q(&r.baseline),
            r.ratio.map_or(String::new(), |x| format!("{x:.3}")),
            q(r.target)
        ));
    }
    t
}

/// Runs every benchmark; each one that runs is a passed test in the tally.
pub fn bench(root: &Path, args: &[String]) -> Result<Tally, String> {
    let quick = args.iter().any(|a| a == "--quick");
    let only: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with("--")).collect();
    println!("xtask: building the floor program");
    run(Command::new(env!("CARGO")).current_dir(root).args([
        "build",
        "--release",
        "--locked",
        "-p",
        "tender-bench",
    ]))?;
    let scratch = root.join("target/bench");
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let b = Bench {
        tender: root.join("target/release/tender"),
        floor: root.join("target/release/floor"),
        images: root.join(format!("target/unikernels/{}", std::env::consts::ARCH)),
        scratch: scratch.clone(),
        quick,
    };
    let mut rows = Vec::new();
    let mut tally = Tally::default();
    type Step = fn(&Bench, &mut Vec<Row>) -> Result<(), String>;
    let steps: [(&str, Step); 6] = [
        ("boot", Bench::boot),
        ("hypercall", Bench::hypercall),
        ("block", Bench::block),
        ("net", Bench::net),
        ("memory", Bench::memory),
        ("density", Bench::density),
    ];
    if let Some(unknown) = only.iter().find(|o| !steps.iter().any(|(name, _)| name == *o)) {
        let names: Vec<&str> = steps.iter().map(|(name, _)| *name).collect();
        return Err(format!("no benchmark '{unknown}' (there are: {})", names.join(", ")));
    }
    for (name, step) in steps {
        if !only.is_empty() && !only.contains(&name) {
            continue;
        }
        println!("xtask: bench {name}");
        match step(&b, &mut rows) {
            Ok(()) => tally.passed += 1,
            Err(e) => {
                println!("xtask: bench {name}: FAILED: {e}");
                tally.failed += 1;
            }
        }
    }
    let table = table(&rows);
    print!("{table}");
    let machine = format!(
        "{} cores, {}; {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| c.lines().find_map(|l| l.strip_prefix("model name\t: ").map(str::to_string)))
            .unwrap_or_default(),
        if quick { "--quick (few iterations: not for comparison)" } else { "full run" }
    );
    let md = format!("# cargo xtask bench\n\nMachine: {machine}\n\n{table}");
    for (name, text) in [("results.md", md), ("results.csv", csv(&rows))] {
        std::fs::write(scratch.join(name), text).map_err(|e| format!("{name}: {e}"))?;
    }
    println!("xtask: wrote {} and results.csv", scratch.join("results.md").display());
    Ok(tally)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_key_value_lines() {
        assert_eq!(super::value("x\nbench: hypercall_ns 25181\n", "hypercall_ns"), Some(25181));
        assert_eq!(super::value("floor: exit_ns 7478", "exit_ns"), Some(7478));
        assert_eq!(super::value("bench: other 1", "exit_ns"), None);
    }
}
