//! time: checks the monotonic and wall clocks against each other over three
//! one-second sleeps; SUCCESS (exit 0) if each is within 5 %, else exit 1.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::time::Duration;
use guest_rt::clock::{self, civil_from_unix, monotonic_ns, wallclock_ns};
use guest_rt::println;

guest_rt::manifest!();
guest_rt::entry!(main);

/// 2020-01-01T00:00:00Z: any sane wall clock is later.
const Y2020_NS: u64 = 1_577_836_800 * 1_000_000_000;
const SLEEPS: u32 = 3;
const SLEEP_NS: u64 = 1_000_000_000;
/// Allowed deviation: 5 % of a second.
const TOLERANCE_NS: u64 = SLEEP_NS / 20;

/// Formats nanoseconds as seconds with millisecond precision (no floats here).
struct Secs(u64);

impl core::fmt::Display for Secs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ms = self.0 / 1_000_000;
        write!(f, "{}.{:03} s", ms / 1000, ms % 1000)
    }
}

fn check(what: &str, i: u32, elapsed: u64) -> bool {
    let ok = elapsed.abs_diff(SLEEP_NS) <= TOLERANCE_NS;
    if !ok {
        println!("FAIL: sleep {i}: {what} measured {} for 1 s (over 5 % off)", Secs(elapsed));
    }
    ok
}

fn main() -> i32 {
    let mono = monotonic_ns();
    let wall = wallclock_ns();
    let (y, mo, d, h, mi, s) = civil_from_unix(Duration::from_nanos(wall));
    println!("monotonic: {mono} ns since boot");
    println!("wall clock: {wall} ns since the epoch ({y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC)");
    let mut ok = true;
    if wall < Y2020_NS {
        println!("FAIL: wall clock is before 2020");
        ok = false;
    }
    for i in 1..=SLEEPS {
        let (m0, w0) = (monotonic_ns(), wallclock_ns());
        clock::sleep(Duration::from_nanos(SLEEP_NS));
        let (m1, w1) = (monotonic_ns(), wallclock_ns());
        let (dm, dw) = (m1.wrapping_sub(m0), w1.wrapping_sub(w0));
        println!("sleep {i}: monotonic {}, wall clock {}", Secs(dm), Secs(dw));
        if m1 < m0 {
            println!("FAIL: sleep {i}: monotonic clock went backwards");
            ok = false;
        }
        ok &= check("monotonic clock", i, dm) & check("wall clock", i, dw);
    }
    if ok {
        println!("SUCCESS");
        0
    } else {
        println!("FAILURE");
        1
    }
}
