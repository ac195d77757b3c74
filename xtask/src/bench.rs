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

impl Bench {
    fn image(&self, name: &str) -> PathBuf {
        self.images.join(format!("{name}.hvt"))
    }

    fn boot(&self, rows: &mut Vec<Row>) -> Result<(), String> {
        let runs = if self.quick { 5 } else { 31 };
        let hello = self.image("hello");
        let t = median_run(runs, || {
            let mut c = Command::new(&self.tender);
            c.arg("--mem=512").arg(&hello);
            c
        })?;
        let f = median_run(runs, || {
            let mut c = Command::new(&self.floor);
            c.args(["--mem", "512"]);
            c
        })?;
        let ratio = t.as_secs_f64() / f.as_secs_f64();
        rows.push(row(
            format!("boot: hello to exit, median of {runs}"),
            ms(t),
            format!("{} (floor)", ms(f)),
            Some(ratio),
            "≤ 1.5x",
        ));
        let mut medians = Vec::new();
        for mib in [32, 128, 512, 4096] {
            let d = median_run(runs, || {
                let mut c = Command::new(&self.tender);
                c.arg(format!("--mem={mib}")).arg(&hello);
                c
            })?;
            medians.push((mib, d));
        }
        let (min, max) = (
            medians.iter().map(|m| m.1).min().unwrap_or_default(),
            medians.iter().map(|m| m.1).max().unwrap_or_default(),
        );
        let list = medians.iter().map(|(m, d)| format!("{m} MiB {}", ms(*d))).collect::<Vec<_>>().join(", ");
        rows.push(row(
            "boot vs guest memory (32 MiB … 4 GiB)",
            list,
            format!("fastest {}", ms(min)),
            Some(max.as_secs_f64() / min.as_secs_f64()),
            "≤ 1.1x",
        ));
        Ok(())
    }

    fn disk(&self, name: &str, size: u64) -> Result<PathBuf, String> {
        let p = self.scratch.join(name);
        let f = std::fs::File::create(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        f.set_len(size).map_err(|e| e.to_string())?;
        Ok(p)
    }

    fn hypercall(&self, rows: &mut Vec<Row>) -> Result<(), String> {
        let n = if self.quick { 2000 } else { 100_000 };
        let disk = self.disk("hc.img", 1 << 20)?;
        let out = output(
            Command::new(&self.tender)
                .arg(format!("--block:storage={}", disk.display()))
                .arg(self.image("bench"))
                .args(["hypercall", &n.to_string()]),
        )?;
        let guest = value(&out, "hypercall_ns").ok_or("no hypercall_ns from the guest")?;
        let floor = value(&output(Command::new(&self.floor).args(["--exits", &n.to_string()]))?, "exit_ns")
            .ok_or("no exit_ns from the floor")?;
        rows.push(row(
            format!("hypercall round trip ({n} WALLTIME)"),
            format!("{guest} ns"),
            format!("{floor} ns (bare exit)"),
            Some(guest as f64 / floor.max(1) as f64),
            "≤ 1.2x",
        ));
        Ok(())
    }

    /// Host MB/s writing, then reading, `total` bytes in `size` requests of `path`.
    fn host_io(path: &Path, size: u64, total: u64) -> Result<(u64, u64), String> {
        let f = std::fs::OpenOptions::new().read(true).write(true).open(path).map_err(|e| e.to_string())?;
        let mut buf = vec![0x5au8; size as usize];
        let start = Instant::now();
        for off in (0..total).step_by(size as usize) {
            f.write_all_at(&buf, off).map_err(|e| e.to_string())?;
        }
        let w = total * 1000 / (start.elapsed().as_nanos() as u64).max(1);
        let start = Instant::now();
        for off in (0..total).step_by(size as usize) {
            f.read_exact_at(&mut buf, off).map_err(|e| e.to_string())?;
        }
        let r = total * 1000 / (start.elapsed().as_nanos() as u64).max(1);
        Ok((w, r))
    }

    fn block(&self, rows: &mut Vec<Row>) -> Result<(), String> {
        let total: u64 = if self.quick { 8 << 20 } else { 256 << 20 };
        let disk = self.disk("blk.img", total)?;
        for size in [512u64, 4096, 65536, 1 << 20] {
            // A smaller share for tiny requests: one exit each.
            let bytes =
                if size == 512 { total.min(if self.quick { 1 << 20 } else { 16 << 20 }) } else { total };
            let out = output(
                Command::new(&self.tender)
                    .arg(format!("--block:storage={}", disk.display()))
                    .arg(self.image("bench"))
                    .args(["block", &size.to_string(), &bytes.to_string()]),
            )?;
            let (gw, gr) =
                (value(&out, "block_write_mbps").unwrap_or(0), value(&out, "block_read_mbps").unwrap_or(0));
            let (hw, hr) = Self::host_io(&disk, size, bytes)?;
            let target = if size >= 65536 { "≥ 0.8x" } else { "shown" };
            let label = if size >= 1024 { format!("{} KiB", size / 1024) } else { format!("{size} B") };
            rows.push(row(
                format!("block write, {label} requests"),
                format!("{gw} MB/s"),
                format!("{hw} MB/s (host pwrite)"),
                Some(gw as f64 / hw.max(1) as f64),
                target,
            ));
            rows.push(row(
                format!("block read, {label} requests"),
                format!("{gr} MB/s"),
                format!("{hr} MB/s (host pread)"),
                Some(gr as f64 / hr.max(1) as f64),
                target,
            ));
        }
        Ok(())
    }

    fn net(&self, rows: &mut Vec<Row>) -> Result<(), String> {
        let ns = format!("tender-bench-{}", std::process::id());
        let ip = |args: &[&str]| run(Command::new("ip").args(args).stdout(Stdio::null()));
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        ip(&["netns", "add", &ns])?;
        let result = (|| {
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "tuntap", "add", "tap0", "mode", "tap"])?;
            ip(&["-n", &ns, "link", "set", "tap0", "up"])?;
            ip(&["-n", &ns, "addr", "add", "10.0.0.1/24", "dev", "tap0"])?;
            let count = if self.quick { 500 } else { 20_000 };
            let mut guest = Command::new("ip")
                .args(["netns", "exec", &ns])
                .arg(&self.tender)
                .arg("--net:service=tap0")
                .arg(self.image("ping"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| e.to_string())?;
            std::thread::sleep(Duration::from_millis(500));
            let start = Instant::now();
            let ping = Command::new("ip")
                .args(["netns", "exec", &ns, "ping", "-f", "-q", "-c", &count.to_string(), "10.0.0.2"])
                .output();
            let secs = start.elapsed().as_secs_f64();
            let _ = guest.kill();
            let _ = guest.wait();
            let ping = ping.map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&ping.stdout);
            if !text.contains(" 0% packet loss") {
                return Err(format!("ping flood lost packets: {text}"));
            }
            let pps = count as f64 / secs;
            rows.push(row(
                format!("net: ping -f, {count} echoes"),
                format!("{pps:.0} echoes/s"),
                "n/a (no net ring yet)",
                None,
                "ring ≥ 2x hypercall path",
            ));
            Ok(())
        })();
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        result
    }

    /// tender's peak RSS (VmHWM) while `time` runs (three 1 s sleeps), read after its second
    /// sleep: a child's rusage would count the forking parent's pages from before the exec.
    fn memory(&self, rows: &mut Vec<Row>) -> Result<(), String> {
        use std::io::BufRead;
        for mib in [512, 4096] {
            let mut child = Command::new(&self.tender)
                .arg(format!("--mem={mib}"))
                .arg(self.image("time"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| e.to_string())?;
            let stdout = child.stdout.take().ok_or("no stdout")?;
            let mut hwm_kib = None;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("sleep 2") {
                    let status =
                        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
                    hwm_kib = status.lines().find_map(|l| {
                        l.strip_prefix("VmHWM:")?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
                    });
                }
            }
            let status = child.wait().map_err(|e| e.to_string())?;
            let hwm = hwm_kib.ok_or("no VmHWM read while the guest ran")?;
            if !status.success() {
                return Err(format!("time at {mib} MiB: {status}"));
            }
            let target = if mib == 512 { "≤ 2 MiB" } else { "shown" };
            rows.push(row(
                format!("memory: tender's peak RSS, a guest at {mib} MiB"),
                format!("{:.1} MiB", hwm as f64 / 1024.0),
                "",
                None,
                target,
            ));
        }
        Ok(())
    }

    fn density(&self, rows: &mut Vec<Row>) -> Result<(), String> {
        let n = if self.quick { 20 } else { 200 };
        let start = Instant::now();
        let children = (0..n)
            .map(|_| spawn(Command::new(&self.tender).arg("--mem=32").arg(self.image("hello"))))
            .collect::<Result<Vec<_>, _>>()?;
        let (mut ok, mut rss) = (0, 0i64);
        for c in children {
            let (code, r) = wait_rss(c);
            ok += usize::from(code == Some(0));
            rss += r;
        }
        let wall = start.elapsed();
        if ok != n {
            return Err(format!("density: {ok} of {n} hello guests exited 0"));
        }
        // (rusage's peaks include the forking parent's pages: an upper bound.)
        rows.push(row(
            format!("density: {n} hello guests (--mem=32) at once"),
            format!("{} total, all exit 0", ms(wall)),
            format!("sum of peak RSS ≤ {:.0} MiB", rss as f64 / 1024.0),
            None,
            "all exit 0",
        ));
        Ok(())
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
    for (name, step) in steps {
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
