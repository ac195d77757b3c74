//! The whole-process benchmarks: boot (against the floor and against guest memory),
//! tender's peak memory, and many guests at once.

use super::*;

impl Bench {
    pub(super) fn boot(&self, rows: &mut Vec<Row>) -> Result<(), String> {
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

    /// tender's peak RSS (VmHWM) while `time` runs (three 1 s sleeps), read after its second
    /// sleep: a child's rusage would count the forking parent's pages from before the exec.
    pub(super) fn memory(&self, rows: &mut Vec<Row>) -> Result<(), String> {
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

    pub(super) fn density(&self, rows: &mut Vec<Row>) -> Result<(), String> {
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
