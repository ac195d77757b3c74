//! The device benchmarks, each against the host doing the same thing directly: hypercall
//! round trips vs bare exits, block I/O vs pread/pwrite, ping and TCP over a TAP.

use super::*;
use std::os::unix::process::CommandExt;

impl Bench {
    /// A `size`-byte disk file, written through once: whichever side writes first must not
    /// pay the file system's block allocation for the other.
    fn disk(&self, name: &str, size: u64) -> Result<PathBuf, String> {
        let p = self.scratch.join(name);
        let mut f = std::fs::File::create(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let zeros = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            std::io::Write::write_all(&mut f, &zeros[..n]).map_err(|e| format!("{}: {e}", p.display()))?;
            left -= n as u64;
        }
        Ok(p)
    }

    pub(super) fn hypercall(&self, rows: &mut Vec<Row>) -> Result<(), String> {
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

    /// The guest's MB/s writing, then reading, `bytes` in `size` requests of `disk`.
    fn guest_io(&self, disk: &Path, size: u64, bytes: u64, flags: &[&str]) -> Result<(u64, u64), String> {
        let out = output(
            Command::new(&self.tender)
                .args(flags)
                .arg(format!("--block:storage={}", disk.display()))
                .arg(self.image("bench"))
                .args(["block", &size.to_string(), &bytes.to_string()]),
        )?;
        Ok((value(&out, "block_write_mbps").unwrap_or(0), value(&out, "block_read_mbps").unwrap_or(0)))
    }

    pub(super) fn block(&self, rows: &mut Vec<Row>) -> Result<(), String> {
        let total: u64 = if self.quick { 8 << 20 } else { 256 << 20 };
        let disk = self.disk("blk.img", total)?;
        let label =
            |size: u64| if size >= 1024 { format!("{} KiB", size / 1024) } else { format!("{size} B") };
        // What the ring (ours, for block) buys: the same requests by hypercall, one exit each,
        // beside the ring's own figures from the same run; listed after the host comparisons.
        let mut versus_hypercalls = Vec::new();
        for size in [512u64, 4096, 65536, 1 << 20] {
            // A smaller share for tiny requests.
            let bytes =
                if size == 512 { total.min(if self.quick { 1 << 20 } else { 16 << 20 }) } else { total };
            let (gw, gr) = self.guest_io(&disk, size, bytes, &[])?;
            let (hw, hr) = Self::host_io(&disk, size, bytes)?;
            let target = if size >= 65536 { "≥ 0.8x" } else { "shown" };
            let label = label(size);
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
            if size == 4096 || size == 65536 {
                let (cw, cr) = self.guest_io(&disk, size, bytes, &["--no-net-ring"])?;
                for (what, ring, hypercall) in [("write", gw, cw), ("read", gr, cr)] {
                    versus_hypercalls.push(row(
                        format!("block {what}, {label} requests, ring vs hypercall path"),
                        format!("{ring} MB/s"),
                        format!("{hypercall} MB/s (--no-net-ring)"),
                        Some(ring as f64 / hypercall.max(1) as f64),
                        "shown",
                    ));
                }
            }
        }
        rows.extend(versus_hypercalls);
        Ok(())
    }

    pub(super) fn net(&self, rows: &mut Vec<Row>) -> Result<(), String> {
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
            // Alternate the two paths, so drift on the machine hits both alike.
            let (mut ring, mut hypercalls) = (Vec::new(), Vec::new());
            for _ in 0..if self.quick { 1 } else { 5 } {
                ring.push(self.ping_flood(&ns, &[], count, None)?);
                hypercalls.push(self.ping_flood(&ns, &["--no-net-ring"], count, None)?);
            }
            let (ring, hypercalls) = (median_f64(&mut ring), median_f64(&mut hypercalls));
            rows.push(row(
                format!("net: ping -f, {count} echoes, net ring"),
                format!("{ring:.0} echoes/s"),
                format!("{hypercalls:.0} echoes/s (hypercall path)"),
                Some(ring / hypercalls),
                "ring ≥ 2x hypercall path",
            ));
            // KVM_RUNs per echo (userspace exits), counted by strace in a separate run.
            let traced = if self.quick { 200 } else { 2000 };
            if Command::new("strace").arg("-V").output().is_ok_and(|o| o.status.success()) {
                let runs = |options: &[&str]| -> Result<f64, String> {
                    let log = self.scratch.join("strace.txt");
                    self.ping_flood(&ns, options, traced, Some(&log))?;
                    let text = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
                    let runs = text.lines().filter(|l| l.contains("KVM_RUN")).count();
                    Ok(runs as f64 / traced as f64)
                };
                let (ring, hypercalls) = (runs(&[])?, runs(&["--no-net-ring"])?);
                rows.push(row(
                    format!("net: KVM_RUN per echo ({traced}, strace), net ring"),
                    format!("{ring:.3}"),
                    format!("{hypercalls:.3} (hypercall path)"),
                    Some(ring / hypercalls.max(f64::MIN_POSITIVE)),
                    "≤ 1 per packet",
                ));
            }
            let bytes: u64 = if self.quick { 1 << 20 } else { 32 << 20 };
            let (ring, hypercalls) =
                (self.tcp_echo(&ns, &[], bytes)?, self.tcp_echo(&ns, &["--no-net-ring"], bytes)?);
            rows.push(row(
                format!("net: TCP echo, {} MiB each way, net ring", bytes >> 20),
                format!("{ring:.1} MB/s"),
                format!("{hypercalls:.1} MB/s (hypercall path)"),
                Some(ring / hypercalls),
                "shown",
            ));
            Ok(())
        })();
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        result
    }

    /// MB/s each way of `bytes` sent through the `echo` guest (started with `options`) and
    /// read back, checked byte for byte, by a client in the namespace.
    fn tcp_echo(&self, ns: &str, options: &[&str], bytes: u64) -> Result<f64, String> {
        // The integration test's client (`ok BYTES SECONDS`).
        const CLIENT: &str = include_str!("../../../tests/tcp_echo_client.py");
        let guest = self.start_net_guest(ns, "echo", options, None)?;
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", CLIENT, &bytes.to_string()])
            .output();
        stop_net_guest(guest);
        let out = out.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        let secs: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("ok ")?.split_whitespace().nth(1)?.parse().ok())
            .ok_or_else(|| {
                format!("the TCP echo client failed: {text}{}", String::from_utf8_lossy(&out.stderr))
            })?;
        Ok(bytes as f64 / 1e6 / secs)
    }

    /// Starts `example` on `tap0` in `ns` with `options` (under strace writing its ioctls
    /// to `strace_log`, if given), in its own process group, and gives it half a second.
    fn start_net_guest(
        &self,
        ns: &str,
        example: &str,
        options: &[&str],
        strace_log: Option<&Path>,
    ) -> Result<Child, String> {
        let mut guest = Command::new("ip");
        guest.args(["netns", "exec", ns]);
        if let Some(log) = strace_log {
            // --seccomp-bpf: only the ioctls stop under the tracer; the ring thread runs freely.
            guest.args(["strace", "-f", "--seccomp-bpf", "-e", "trace=ioctl", "-o"]).arg(log);
        }
        // Its own process group: SIGTERM reaches tender even under strace (which would
        // detach and leave it running if only strace were killed).
        let guest = guest
            .process_group(0)
            .arg(&self.tender)
            .arg("--net:service=tap0")
            .args(options)
            .arg(self.image(example))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_millis(500));
        Ok(guest)
    }

    /// Echoes/s of `ping -f -c count` against the ping guest started with `options`; with
    /// `strace_log`, the guest runs under strace writing its ioctls there.
    fn ping_flood(
        &self,
        ns: &str,
        options: &[&str],
        count: u32,
        strace_log: Option<&Path>,
    ) -> Result<f64, String> {
        let guest = self.start_net_guest(ns, "ping", options, strace_log)?;
        // One echo first, so ARP is settled before the clock starts.
        let _ =
            Command::new("ip").args(["netns", "exec", ns, "ping", "-c", "1", "-W", "2", "10.0.0.2"]).output();
        let start = Instant::now();
        let ping = Command::new("ip")
            .args(["netns", "exec", ns, "ping", "-f", "-q", "-c", &count.to_string(), "10.0.0.2"])
            .output();
        let secs = start.elapsed().as_secs_f64();
        stop_net_guest(guest);
        let ping = ping.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&ping.stdout);
        if !text.contains(" 0% packet loss") {
            return Err(format!("ping flood lost packets: {text}"));
        }
        Ok(f64::from(count) / secs)
    }
}

/// Ends a guest of `start_net_guest` (its whole process group) and reaps it.
fn stop_net_guest(mut guest: Child) {
    let _ = Command::new("kill").args(["-TERM", "--", &format!("-{}", guest.id())]).status();
    let _ = guest.wait();
}
