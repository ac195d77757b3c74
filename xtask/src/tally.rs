//! Test counts across runners, so `cargo xtask test` ends with one plain
//! `tests: N passed, N failed, N skipped` line covering everything it ran.

use std::ops::AddAssign;

/// How many tests passed, failed and were skipped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} passed, {} failed, {} skipped", self.passed, self.failed, self.skipped)
    }
}

/// The number right before `word` in `line` ("165 passed" → 165).
fn count_before(line: &str, word: &str) -> usize {
    let words: Vec<&str> = line.split([' ', ',', ';']).filter(|w| !w.is_empty()).collect();
    words
        .windows(2)
        .find(|w| w[1].trim_end_matches(['.', ':']) == word)
        .and_then(|w| w[0].parse().ok())
        .unwrap_or(0)
}

/// Reads nextest's `Summary [..] N tests run: P passed, F failed, S skipped` line.
pub fn from_nextest(line: &str) -> Option<Tally> {
    line.contains("tests run:").then(|| Tally {
        passed: count_before(line, "passed"),
        failed: count_before(line, "failed") + count_before(line, "timed"),
        skipped: count_before(line, "skipped"),
    })
}

/// Reads one `test result: ok. P passed; F failed; I ignored; ...` line of `cargo test`.
pub fn from_cargo_test(line: &str) -> Option<Tally> {
    line.trim_start().starts_with("test result:").then(|| Tally {
        passed: count_before(line, "passed"),
        failed: count_before(line, "failed"),
        skipped: count_before(line, "ignored"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nextest_summaries() {
        let ok = "     Summary [   7.282s] 165 tests run: 165 passed, 0 skipped";
        assert_eq!(from_nextest(ok), Some(Tally { passed: 165, failed: 0, skipped: 0 }));
        let bad = "     Summary [   9.217s] 165 tests run: 164 passed, 1 failed, 2 skipped";
        assert_eq!(from_nextest(bad), Some(Tally { passed: 164, failed: 1, skipped: 2 }));
        assert_eq!(from_nextest("        PASS [   0.005s] (7/124) tender x"), None);
    }

    #[test]
    fn reads_cargo_test_results_and_adds_up() {
        let line = "test result: FAILED. 9 passed; 3 failed; 1 ignored; 0 measured; 0 filtered out";
        let mut t = from_cargo_test(line).unwrap();
        assert_eq!(t, Tally { passed: 9, failed: 3, skipped: 1 });
        t += Tally { passed: 1, failed: 0, skipped: 0 };
        assert_eq!(t.to_string(), "10 passed, 3 failed, 1 skipped");
    }
}
