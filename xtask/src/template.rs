//! Keeps `cargo xtask new` and the guide honest: a crate made by it in a temporary directory
//! outside the repository must `cargo run` (boot, arguments, exit status), build for arm64, and
//! pass clippy and rustdoc, with the cargo a user has on PATH and none of xtask's environment.

use crate::cargo_env::must_clear;
use crate::guest_toolchain::{self, Toolchain};
use crate::tally::Tally;
use std::path::Path;
use std::process::Command;

/// A cargo command in `dir` as a user would type it: rustup's cargo, a clean environment.
fn user_cargo(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(dir).args(args);
    for (name, _) in std::env::vars_os() {
        if must_clear(&name) {
            c.env_remove(&name);
        }
    }
    c
}

/// Runs the checks; each is one test in the tally.
pub fn check(root: &Path) -> Result<Tally, String> {
    let mut tally = Tally::default();
    if guest_toolchain::choose("x86_64-unknown-none")? != Toolchain::Prebuilt {
        println!(
            "xtask: template: SKIP (rustup cannot fetch the targets here; the crate needs Debian's cargo)"
        );
        tally.skipped += 4;
        return Ok(tally);
    }
    let dir =
        std::env::temp_dir().join(format!("tender-template-{}", std::process::id())).join("my-unikernel");
    let _ = std::fs::remove_dir_all(dir.parent().expect("has a parent"));
    crate::new::new(root, &[dir.display().to_string()])?;
    let mut verdict = |name: &str, ok: bool, detail: String| {
        if ok {
            println!("xtask: template: PASS {name}");
            tally.passed += 1;
        } else {
            println!("xtask: template: FAIL {name}: {detail}");
            tally.failed += 1;
        }
    };
    let run =
        user_cargo(&dir, &["run", "-q", "--", "one", "two"]).output().map_err(|e| format!("cargo: {e}"))?;
    let stdout = String::from_utf8_lossy(&run.stdout);
    let booted = run.status.success()
        && stdout.contains("Hello from my-unikernel!")
        && stdout.contains(r#"2 argument(s): ["one", "two"]"#);
    verdict(
        "cargo_run_boots_the_new_crate",
        booted,
        format!("{:?}\n{stdout}{}", run.status, String::from_utf8_lossy(&run.stderr)),
    );
    // The exit status passes through cargo run.
    let main = dir.join("src/main.rs");
    let text = std::fs::read_to_string(&main).map_err(|e| e.to_string())?;
    std::fs::write(&main, text.replace("\n    0\n}", "\n    7\n}")).map_err(|e| e.to_string())?;
    let code = user_cargo(&dir, &["run", "-q"]).output().map_err(|e| format!("cargo: {e}"))?.status.code();
    verdict("cargo_run_passes_the_exit_status", code == Some(7), format!("exit {code:?}"));
    std::fs::write(&main, text).map_err(|e| e.to_string())?;
    for (name, args) in [
        ("builds_for_aarch64", &["build", "-q", "--target", "aarch64-unknown-none"][..]),
        ("clippy_and_rustdoc_pass", &["clippy", "-q", "--", "-D", "warnings"][..]),
    ] {
        let out = user_cargo(&dir, args).output().map_err(|e| format!("cargo: {e}"))?;
        let mut ok = out.status.success();
        if name == "clippy_and_rustdoc_pass" && ok {
            ok = user_cargo(&dir, &["doc", "-q"])
                .env("RUSTDOCFLAGS", "-D warnings")
                .status()
                .is_ok_and(|s| s.success());
        }
        verdict(name, ok, String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let _ = std::fs::remove_dir_all(dir.parent().expect("has a parent"));
    Ok(tally)
}
