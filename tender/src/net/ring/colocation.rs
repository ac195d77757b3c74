//! Whether the ring's thread and the vCPU's share a CPU. The thread spins for the guest's next
//! entry only when they do not: on one CPU, a spinning thread keeps the vCPU (itself spinning on
//! a commit) off the CPU until the scheduler's time slice ends, which costs milliseconds per
//! frame; sleeping on the doorbell lets the wake-up switch to it at once.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileExt;

/// The vCPU thread's `/proc` stat file, opened on that thread (before the seccomp filter).
#[derive(Debug)]
pub struct VcpuCpu {
    stat: File,
}

impl VcpuCpu {
    /// For the calling thread, which must be the vCPU's.
    pub fn of_this_thread() -> Option<VcpuCpu> {
        File::open("/proc/thread-self/stat").ok().map(|stat| VcpuCpu { stat })
    }

    /// The descriptor it reads (for the seccomp filter).
    pub fn fd(&self) -> RawFd {
        self.stat.as_raw_fd()
    }

    /// True if the vCPU's thread is (or last ran) on the CPU the caller runs on.
    pub fn shares_cpu_with_caller(&self) -> bool {
        let mut buf = [0u8; 1024];
        let Ok(n) = self.stat.read_at(&mut buf, 0) else { return false };
        // SAFETY: sched_getcpu has no arguments; -1 (unknown) never equals a CPU number.
        let mine = unsafe { libc::sched_getcpu() };
        processor(&buf[..n]) == Some(mine)
    }
}

/// Field 39 of a `/proc/<pid>/task/<tid>/stat` line: the CPU the thread last ran on. The
/// command name (field 2) may hold spaces and parentheses, so fields are counted after its
/// closing parenthesis (field 3 is the first there).
fn processor(stat: &[u8]) -> Option<i32> {
    let text = std::str::from_utf8(stat).ok()?;
    let after_comm = &text[text.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(39 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_processor_field_after_any_command_name() {
        let fields: Vec<String> =
            (3..=52).map(|n| if n == 39 { "1".into() } else { format!("{}", n * 10) }).collect();
        let line = format!("4242 (a (weird) name) {}", fields.join(" "));
        assert_eq!(processor(line.as_bytes()), Some(1));
        assert_eq!(processor(b"4242 (x) S 1"), None);
        let me = VcpuCpu::of_this_thread().expect("/proc is mounted");
        // The calling thread is the "vCPU" here: it shares its own CPU (barring a migration
        // between the two reads, which a few tries rule out).
        assert!((0..5).any(|_| me.shares_cpu_with_caller()));
    }
}
