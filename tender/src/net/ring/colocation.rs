//! Keeping the ring's thread off the vCPU's CPU. On one CPU, a thread spinning for the guest's
//! next entry keeps the vCPU (itself spinning on a commit) off the CPU until the scheduler's
//! time slice ends, which costs milliseconds per frame. So when the two share a CPU, the ring's
//! thread moves itself to another one the process may use; where there is none, it does not
//! spin but sleeps on the doorbell, whose wake-up switches to it at once.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileExt;

/// The vCPU thread's `/proc` stat file, opened on that thread (before the seccomp filter).
#[derive(Debug)]
pub struct VcpuCpu {
    stat: File,
    /// The CPUs the process may run on (its affinity when the ring started).
    allowed: libc::cpu_set_t,
}

impl VcpuCpu {
    /// For the calling thread, which must be the vCPU's.
    pub fn of_this_thread() -> Option<VcpuCpu> {
        // SAFETY: a zeroed cpu_set_t is an empty set; sched_getaffinity fills it for this
        // thread and writes nothing else.
        let allowed = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return None;
            }
            set
        };
        File::open("/proc/thread-self/stat").ok().map(|stat| VcpuCpu { stat, allowed })
    }

    /// Makes sure the caller does not share the vCPU's CPU, moving it to the process's other
    /// CPUs if it does; false if it shares it and cannot move.
    pub fn keep_caller_off_vcpu_cpu(&self) -> bool {
        let Some(vcpu) = self.vcpu_cpu() else { return true };
        // SAFETY: sched_getcpu has no arguments.
        if unsafe { libc::sched_getcpu() } != vcpu {
            return true;
        }
        let mut others = self.allowed;
        // SAFETY: CPU_CLR and CPU_COUNT only touch the set; `vcpu` is a CPU number the kernel
        // reported, and sched_setaffinity(0, ..) changes only the calling thread, which the
        // kernel then migrates onto one of `others`.
        unsafe {
            if vcpu >= 0 && (vcpu as usize) < libc::CPU_SETSIZE as usize {
                libc::CPU_CLR(vcpu as usize, &mut others);
            }
            libc::CPU_COUNT(&others) > 0
                && libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &others) == 0
        }
    }

    /// The CPU the vCPU's thread is on (or last ran on).
    fn vcpu_cpu(&self) -> Option<i32> {
        let mut buf = [0u8; 1024];
        let n = self.stat.read_at(&mut buf, 0).ok()?;
        processor(&buf[..n])
    }

    /// The descriptor it reads (for the seccomp filter).
    pub fn fd(&self) -> RawFd {
        self.stat.as_raw_fd()
    }

    /// True if the vCPU's thread is (or last ran) on the CPU the caller runs on.
    #[cfg(test)]
    fn shares_cpu_with_caller(&self) -> bool {
        // SAFETY: sched_getcpu has no arguments; -1 (unknown) never equals a CPU number.
        self.vcpu_cpu() == Some(unsafe { libc::sched_getcpu() })
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
