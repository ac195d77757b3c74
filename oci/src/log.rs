//! Messages as runc writes them: one line on stderr, and in `--log` as text or as runc's JSON
//! (`{"level":"error","msg":"...","time":"..."}`), which containerd's shim reads back to
//! explain a failure.

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where messages go (from the global options).
#[derive(Debug, Clone, Default)]
pub struct Log {
    pub file: Option<PathBuf>,
    pub json: bool,
    pub debug: bool,
}

impl Log {
    /// An error: on stderr as `tender-oci: MSG`, and in the log file.
    pub fn error(&self, msg: &str) {
        let _ = writeln!(std::io::stderr(), "tender-oci: {msg}");
        self.append("error", msg);
    }

    /// A decision worth knowing when debugging (`--debug` only; log file, else stderr).
    pub fn debug(&self, msg: &str) {
        if !self.debug {
            return;
        }
        if self.file.is_some() {
            self.append("debug", msg);
        } else {
            let _ = writeln!(std::io::stderr(), "tender-oci: debug: {msg}");
        }
    }

    fn append(&self, level: &str, msg: &str) {
        let Some(path) = &self.file else { return };
        let line = if self.json {
            let entry = serde_json::json!({ "level": level, "msg": msg, "time": rfc3339(SystemTime::now()) });
            format!("{entry}\n")
        } else {
            format!("time=\"{}\" level={level} msg={:?}\n", rfc3339(SystemTime::now()), msg)
        };
        // A log we cannot write must not hide the error: stderr has it already.
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// `t` as RFC 3339 in UTC with nanoseconds, as Go's logrus writes it.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (the well-known era-based conversion: 400-year eras of 146097 days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_796_050_800, 5);
        assert_eq!(rfc3339(t), "2026-11-30T15:00:00.000000005Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn json_log_lines_are_what_containerd_reads() {
        let path = std::env::temp_dir().join(format!("tender-oci-log-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let log = Log { file: Some(path.clone()), json: true, debug: false };
        log.error("bundle /b: \"quoted\"");
        log.debug("not written without --debug");
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "bundle /b: \"quoted\"");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }
}
