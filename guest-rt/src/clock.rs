//! Clocks: monotonic time from the CPU counter, wall-clock time from the tender,
//! and sleeping through POLL.

use core::time::Duration;

/// Nanoseconds per second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Converts `ticks` of a counter running at `freq` Hz to nanoseconds
/// (u128 intermediate: no overflow for any `u64` input; saturates; 0 if `freq` is 0).
pub fn ticks_to_ns(ticks: u64, freq: u64) -> u64 {
    if freq == 0 {
        return 0;
    }
    let ns = u128::from(ticks) * u128::from(NANOS_PER_SEC) / u128::from(freq);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// How long to ask POLL to wait for a deadline `deadline_ns` when it is `now_ns`;
/// `None` once the deadline has passed.
pub fn remaining(now_ns: u64, deadline_ns: u64) -> Option<u64> {
    deadline_ns.checked_sub(now_ns).filter(|&d| d > 0)
}

#[cfg(any(doc, target_os = "none"))]
pub use self::guest::*;

#[cfg(any(doc, target_os = "none"))]
mod guest {
    use super::{remaining, ticks_to_ns};
    use crate::{arch, boot, hypercall};
    use core::time::Duration;

    /// Nanoseconds since boot, from the CPU counter (never goes backwards).
    pub fn monotonic_ns() -> u64 {
        let b = boot::boot();
        ticks_to_ns(arch::cycles().wrapping_sub(b.tsc0), b.info.cpu_cycle_freq)
    }

    /// Time since boot.
    pub fn monotonic() -> Duration {
        Duration::from_nanos(monotonic_ns())
    }

    /// Nanoseconds since the Unix epoch (WALLTIME hypercall: one exit per call).
    pub fn wallclock_ns() -> u64 {
        hypercall::walltime_ns()
    }

    /// Time since the Unix epoch.
    pub fn wallclock() -> Duration {
        Duration::from_nanos(wallclock_ns())
    }

    /// Waits until `monotonic_ns()` reaches `deadline_ns` or a net device is
    /// readable; returns the set of ready device handles (bit `handle`).
    pub fn yield_until(deadline_ns: u64) -> u64 {
        while let Some(wait) = remaining(monotonic_ns(), deadline_ns) {
            let (ready, _) = hypercall::poll(wait);
            if ready != 0 {
                return ready;
            }
        }
        0
    }

    /// Sleeps for at least `d` of monotonic time, whatever becomes ready meanwhile.
    pub fn sleep(d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let deadline = monotonic_ns().saturating_add(nanos);
        while let Some(wait) = remaining(monotonic_ns(), deadline) {
            hypercall::poll(wait);
        }
    }
}

/// Splits nanoseconds since the epoch into (year, month, day, h, m, s) in UTC,
/// for printing a wall-clock value.
pub fn civil_from_unix(d: Duration) -> (i64, u32, u32, u32, u32, u32) {
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    // Days to civil date (proleptic Gregorian), era-based.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, sod / 3600, sod / 60 % 60, sod % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_without_overflow() {
        assert_eq!(ticks_to_ns(3_000_000_000, 3_000_000_000), NANOS_PER_SEC);
        assert_eq!(ticks_to_ns(1, 2_000_000_000), 0);
        assert_eq!(ticks_to_ns(2_500_000, 2_500_000_000), 1_000_000);
        // 2^64 ticks at 1 GHz is 2^64 ns: still exact, no u64 overflow in between.
        assert_eq!(ticks_to_ns(u64::MAX, NANOS_PER_SEC), u64::MAX);
        // 1 year of a 3.1 GHz TSC.
        let year = 365 * 86_400u64;
        assert_eq!(ticks_to_ns(year * 3_100_000_000, 3_100_000_000), year * NANOS_PER_SEC);
        assert_eq!(ticks_to_ns(u64::MAX, 1), u64::MAX);
        assert_eq!(ticks_to_ns(5, 0), 0);
    }

    #[test]
    fn remaining_time_until_deadline() {
        assert_eq!(remaining(10, 25), Some(15));
        assert_eq!(remaining(25, 25), None);
        assert_eq!(remaining(30, 25), None);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_unix(Duration::ZERO), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil_from_unix(Duration::from_secs(1_577_836_800)), (2020, 1, 1, 0, 0, 0));
        assert_eq!(civil_from_unix(Duration::from_secs(1_709_210_096)), (2024, 2, 29, 12, 34, 56));
    }
}
