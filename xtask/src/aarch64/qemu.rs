//! Boots the arm64 test VM under qemu-system-aarch64 (TCG, with EL2 emulated so
//! the guest kernel has KVM: shared/TOOLCHAIN.md §3), shows its console, and
//! turns the test script's verdict lines into a result.

use crate::tally::{self, Tally};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Prefix of every line the test script prints for the host.
pub const MARK: &str = "aarch64-vm:";

/// The QEMU command line: `virt` with virtualization and GICv3, the `max` CPU,
/// serial console on stdio, no reboot (a panic or poweroff ends QEMU).
pub fn command(kernel: &Path, initrd: &Path) -> Command {
    let mut c = Command::new("qemu-system-aarch64");
    c.args(["-M", "virt,virtualization=on,gic-version=3", "-cpu", "max", "-smp", "2", "-m", "2048"])
        .args(["-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyAMA0 panic=-1 quiet"]);
    c
}

/// What the test script reported.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub passed: Vec<String>,
    pub failed: Vec<String>,
    /// The script's own `N passed, M failed` line, if it got that far.
    pub summary: Option<(usize, usize)>,
    /// The cross-built integration suite's counts, from libtest's JSON events and each
    /// test process's exit status.
    pub suite: Tally,
    /// `binary::test` of each suite test that failed.
    pub suite_failed: Vec<String>,
    /// Each suite binary with the number of tests it listed.
    pub suite_lists: Vec<(String, usize)>,
    /// The last finished event of the test process running now: (binary, test, its count).
    last_event: Option<(String, String, Tally)>,
}

impl Verdict {
    /// Takes in one console line.
    pub fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim_end_matches('\r').split_once(MARK).map(|(_, r)| r.trim()) else {
            return;
        };
        if let Some(event) = rest.strip_prefix("json ") {
            let (binary, json) = event.split_once(' ').unwrap_or(("?", event));
            if let Some(t) = tally::from_libtest_json(json) {
                let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
                let name = v["name"].as_str().unwrap_or("?").to_string();
                if t.failed > 0 {
                    self.suite_failed.push(format!("{binary}::{name}"));
                }
                self.suite += t;
                self.last_event = Some((binary.to_string(), name, t));
            }
        } else if let Some(exit) = rest.strip_prefix("suite-exit ") {
            self.suite_exit(exit);
        } else if let Some(list) = rest.strip_prefix("suite-list ") {
            if let Some((binary, n)) = list.split_once(' ') {
                self.suite_lists.push((binary.to_string(), n.trim().parse().unwrap_or(0)));
            }
        } else if let Some(name) = rest.strip_prefix("PASS ") {
            self.passed.push(name.trim().to_string());
        } else if let Some(name) = rest.strip_prefix("FAIL ") {
            self.failed.push(name.split(':').next().unwrap_or(name).trim().to_string());
        } else if let Some((p, f)) = rest.split_once(" passed, ") {
            if let (Ok(p), Some(Ok(f))) =
                (p.trim().parse(), f.strip_suffix(" failed").map(|f| f.trim().parse()))
            {
                self.summary = Some((p, f));
            }
        }
    }

    /// Ok when the script finished, nothing failed, and the counts agree.
    /// `BINARY STATUS TEST`: one test process ended. A test that reported no result (it
    /// crashed, or never ran) or exited non-zero without failing counts as failed.
    fn suite_exit(&mut self, exit: &str) {
        let mut words = exit.splitn(3, ' ');
        let (Some(binary), Some(status), Some(test)) = (words.next(), words.next(), words.next()) else {
            return;
        };
        match self.last_event.take() {
            Some((b, n, counted)) if b == binary && n == test => {
                if status != "0" && counted.failed == 0 {
                    // Reported a pass (or skip), then the process failed: a failure.
                    self.suite.passed -= counted.passed;
                    self.suite.skipped -= counted.skipped;
                    self.suite.failed += 1;
                    self.suite_failed.push(format!("{binary}::{test} (exit status {status})"));
                }
            }
            _ => {
                self.suite.failed += 1;
                self.suite_failed.push(format!("{binary}::{test} (no result, exit status {status})"));
            }
        }
    }

    /// Every binary of `expected` must have listed at least one test.
    pub fn check_suite(&self, expected: &[&str]) -> Result<(), String> {
        let missing: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|b| !self.suite_lists.iter().any(|(name, n)| name == b && *n > 0))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("the VM ran no tests of {}", missing.join(", ")))
        }
    }

    pub fn check(&self) -> Result<(), String> {
        let Some((p, f)) = self.summary else {
            return Err(format!(
                "the VM ended without its summary line ({} passed, {} failed before that)",
                self.passed.len(),
                self.failed.len()
            ));
        };
        if (p, f) != (self.passed.len(), self.failed.len()) {
            return Err(format!(
                "the summary says {p} passed, {f} failed, but the console showed {} and {}",
                self.passed.len(),
                self.failed.len()
            ));
        }
        if f > 0 || p == 0 {
            return Err(format!("{p} passed, {f} failed: {}", self.failed.join(", ")));
        }
        Ok(())
    }
}

/// Runs the VM to its end (or kills it after `timeout`), echoing its console.
pub fn run(mut cmd: Command, timeout: Duration) -> Result<Verdict, String> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("could not start qemu-system-aarch64: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut verdict = Verdict::default();
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                println!("vm| {line}");
                verdict.add_line(&line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the VM did not finish within {} s", timeout.as_secs()));
            }
        }
    }
    let status = child.wait().map_err(|e| format!("qemu-system-aarch64: {e}"))?;
    if !status.success() {
        println!("xtask: qemu-system-aarch64 exited with {status}");
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(text: &str) -> Verdict {
        let mut v = Verdict::default();
        text.lines().for_each(|l| v.add_line(l));
        v
    }

    #[test]
    fn passes_only_with_a_matching_summary_and_no_failure() {
        let ok = verdict("[ 1.0] boot\r\naarch64-vm: PASS hello\r\naarch64-vm: PASS time\naarch64-vm: 2 passed, 0 failed\n");
        assert_eq!(ok.passed, ["hello", "time"]);
        assert_eq!(ok.summary, Some((2, 0)));
        assert!(ok.check().is_ok());

        let failed = verdict("aarch64-vm: PASS a\naarch64-vm: FAIL fault: exit status 1, expected 255\naarch64-vm: 1 passed, 1 failed\n");
        assert_eq!(failed.failed, ["fault"]);
        assert!(failed.check().unwrap_err().contains("fault"));

        let cut = verdict("aarch64-vm: PASS a\n[ 9.9] Kernel panic\n");
        assert!(cut.check().unwrap_err().contains("without its summary"));

        let lying = verdict("aarch64-vm: PASS a\naarch64-vm: 2 passed, 0 failed\n");
        assert!(lying.check().is_err());
        assert!(verdict("aarch64-vm: 0 passed, 0 failed\n").check().is_err());
    }

    #[test]
    fn suite_tests_count_by_their_events_and_their_exit_status() {
        let v = verdict(concat!(
            "aarch64-vm: suite-list hostile 4\n",
            "aarch64-vm: json hostile { \"type\": \"test\", \"event\": \"started\", \"name\": \"a\" }\n",
            "aarch64-vm: json hostile { \"type\": \"test\", \"name\": \"a\", \"event\": \"ok\" }\n",
            "aarch64-vm: suite-exit hostile 0 a\n",
            "aarch64-vm: json hostile { \"type\": \"test\", \"name\": \"b\", \"event\": \"ok\", \"stdout\": \"SKIP b: no netns\\n\" }\n",
            "aarch64-vm: suite-exit hostile 0 b\n",
            "aarch64-vm: json hostile { \"type\": \"test\", \"event\": \"started\", \"name\": \"c\" }\n",
            "aarch64-vm: suite-exit hostile 139 c\n",
            "aarch64-vm: json hostile { \"type\": \"test\", \"name\": \"d\", \"event\": \"ok\" }\n",
            "aarch64-vm: suite-exit hostile 1 d\n",
        ));
        assert_eq!(v.suite, Tally { passed: 1, failed: 2, skipped: 1 });
        assert_eq!(v.suite_failed.len(), 2, "{:?}", v.suite_failed);
        assert!(v.check_suite(&["hostile"]).is_ok());
        assert!(v.check_suite(&["hostile", "cli"]).is_err(), "cli never listed a test");
    }
}
