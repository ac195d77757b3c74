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

/// Counts the test cases of nextest's JUnit report: a case with `<failure>` or `<error>`
/// failed; a case that nextest skipped, or whose stderr says `SKIP ` at the start of a line
/// (a KVM, namespace or engine test that could not run here and returned early), is skipped;
/// every other case passed.
pub fn from_junit(xml: &str) -> Tally {
    let mut t = Tally::default();
    for case in xml.split("<testcase ").skip(1) {
        let case = case.split("</testcase>").next().unwrap_or(case);
        if case.contains("<failure") || case.contains("<error") {
            t.failed += 1;
        } else if case.contains("<skipped") || case.lines().any(says_skip) {
            t.skipped += 1;
        } else {
            t.passed += 1;
        }
    }
    t
}

/// A line of captured output that starts with `SKIP ` (the first line follows its tag).
fn says_skip(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with("SKIP ") || l.contains("<system-err>SKIP ") || l.contains("<system-out>SKIP ")
}

/// One event of libtest's JSON output (`--format json`): a finished test counts.
pub fn from_libtest_json(line: &str) -> Option<Tally> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["type"] != "test" {
        return None;
    }
    let mut t = Tally::default();
    // With `--show-output`, a passed test's captured output comes along: a SKIP there is a
    // test that could not run, not a pass.
    let skipped = v["stdout"].as_str().is_some_and(|out| out.lines().any(says_skip));
    match v["event"].as_str()? {
        "ok" if skipped => t.skipped = 1,
        "ok" => t.passed = 1,
        "failed" | "timeout" => t.failed = 1,
        "ignored" => t.skipped = 1,
        _ => return None,
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_junit_cases_and_honest_skips() {
        let xml = r#"<testsuites><testsuite>
<testcase name="a"><system-out>ok</system-out><system-err></system-err></testcase>
<testcase name="b"><failure message="x"/></testcase>
<testcase name="c"><system-err>SKIP c: /dev/kvm is not usable
</system-err></testcase>
<testcase name="d"><skipped/></testcase>
</testsuite></testsuites>"#;
        assert_eq!(from_junit(xml), Tally { passed: 1, failed: 1, skipped: 2 });
        assert_eq!(from_junit("").to_string(), "0 passed, 0 failed, 0 skipped");
    }

    #[test]
    fn reads_libtest_json_events() {
        assert_eq!(
            from_libtest_json(r#"{ "type": "test", "event": "ok", "name": "x" }"#),
            Some(Tally { passed: 1, failed: 0, skipped: 0 })
        );
        assert_eq!(
            from_libtest_json(r#"{ "type": "test", "event": "ignored", "name": "x" }"#).map(|t| t.skipped),
            Some(1)
        );
        assert_eq!(from_libtest_json(r#"{ "type": "test", "event": "started", "name": "x" }"#), None);
        assert_eq!(from_libtest_json(r#"{ "type": "suite", "event": "ok", "passed": 3 }"#), None);
        assert_eq!(from_libtest_json("test result: ok. 9 passed"), None);
    }
}
