//! Test harness: finds the built tender and guest images, runs them with a
//! timeout, and decides whether KVM tests run, SKIP, or fail (TENDER_REQUIRE_KVM=1).

pub mod craft;
pub mod elf_image;
pub mod engines;
pub mod guest;
pub mod netns;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the repository").to_path_buf()
}

/// The release tender built by `cargo xtask build` (or `TENDER_BIN`, where the suite runs
/// away from the repository: the arm64 VM).
pub fn tender() -> PathBuf {
    let p =
        std::env::var_os("TENDER_BIN").map_or_else(|| root().join("target/release/tender"), PathBuf::from);
    assert!(p.exists(), "{} is missing: run `cargo xtask build` (or `cargo xtask test`)", p.display());
    p
}

/// A guest image built by `cargo xtask build` (or found in `TENDER_IMAGES`).
pub fn image(name: &str) -> PathBuf {
    let dir = std::env::var_os("TENDER_IMAGES")
        .map_or_else(|| root().join(format!("target/unikernels/{}", std::env::consts::ARCH)), PathBuf::from);
    let p = dir.join(format!("{name}.hvt"));
    assert!(p.exists(), "{} is missing: run `cargo xtask build` (or `cargo xtask test`)", p.display());
    p
}

/// A fresh directory `tender-tests-PID-TAG` in the temporary directory, removed (with what is
/// in it) when the test process exits, passed or failed: tests leave nothing behind.
pub fn scratch_dir(tag: &str) -> PathBuf {
    use std::sync::{Mutex, Once};
    static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    static CLEANUP: Once = Once::new();
    extern "C" fn remove_all() {
        if let Ok(dirs) = DIRS.lock() {
            for d in dirs.iter() {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
    // SAFETY: `remove_all` is a plain function that only locks a static and removes
    // directories; registering it once is all atexit needs.
    CLEANUP.call_once(|| unsafe {
        libc::atexit(remove_all);
    });
    let dir = std::env::temp_dir().join(format!("tender-tests-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    DIRS.lock().expect("scratch list").push(dir.clone());
    dir
}

/// True if KVM tests can run here. Without /dev/kvm they SKIP (loudly), unless
/// TENDER_REQUIRE_KVM=1, in which case they fail.
pub fn kvm_available(test: &str) -> bool {
    let ok = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok();
    if !ok {
        if std::env::var("TENDER_REQUIRE_KVM").as_deref() == Ok("1") {
            panic!("{test}: /dev/kvm is not usable and TENDER_REQUIRE_KVM=1");
        }
        eprintln!("SKIP {test}: /dev/kvm is not usable");
    }
    ok
}

/// What a finished process did.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    /// Panics with the full output unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit status; output:\n{self}");
        self
    }

    /// Panics unless stdout contains `s`.
    pub fn expect_stdout(&self, s: &str) -> &Self {
        assert!(self.stdout.contains(s), "stdout lacks {s:?}; output:\n{self}");
        self
    }

    /// Panics unless stderr contains `s`.
    pub fn expect_stderr(&self, s: &str) -> &Self {
        assert!(self.stderr.contains(s), "stderr lacks {s:?}; output:\n{self}");
        self
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {:?}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `cmd` to completion, killing it after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Outcome {
    let start = Instant::now();
    let mut process = guest::Background::start(cmd);
    let code = process.finish(timeout);
    Outcome { code, stdout: process.stdout(), stderr: process.stderr(), elapsed: start.elapsed() }
}

/// Runs the tender with `args` (options, image, guest args) and a 30 s timeout.
pub fn tender_run(args: &[&std::ffi::OsStr]) -> Outcome {
    run_with_timeout(Command::new(tender()).args(args), Duration::from_secs(30))
}

/// Boots example `name` with guest arguments `args`.
pub fn boot(name: &str, args: &[&str]) -> Outcome {
    let img = image(name);
    let mut all: Vec<&std::ffi::OsStr> = vec![img.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    tender_run(&all)
}
