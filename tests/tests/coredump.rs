//! `--dumpcore=DIR`: an aborting guest leaves an ELF core that gdb reads (the trap's registers,
//! a backtrace from the image's symbols); a guest that exits normally leaves none.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tender_tests::{image, kvm_available, run_with_timeout, tender, Outcome};

fn dir(tag: &str) -> PathBuf {
    tender_tests::scratch_dir(&format!("cores-{tag}"))
}

fn boot(dir: &Path, example: &str) -> Outcome {
    let mut c = Command::new(tender());
    c.arg(format!("--dumpcore={}", dir.display())).arg(image(example));
    run_with_timeout(&mut c, Duration::from_secs(30))
}

fn cores(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect()
}

#[test]
fn a_trapping_guest_leaves_a_core_gdb_reads() {
    if !kvm_available("a_trapping_guest_leaves_a_core_gdb_reads") {
        return;
    }
    let d = dir("fault");
    let out = boot(&d, "fault");
    out.expect_code(255)
        .expect_stderr(&format!("tender: Guest aborted: core dumped to {}/core.tender.", d.display()));
    // The rip guest-rt's trap report names is the core's.
    let rip =
        out.stdout.split("rip 0x").nth(1).and_then(|s| s.split(',').next()).expect("trap report").to_string();
    let core = cores(&d);
    assert_eq!(core.len(), 1, "{core:?}");
    let meta = std::fs::metadata(&core[0]).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), (512 << 20) + 4096, "all of guest memory after a page of headers");
    let gdb = Command::new("gdb")
        .args(["-q", "-batch", "-nx", "-ex", "info registers rip", "-ex", "bt 1"])
        .arg(image("fault"))
        .arg(&core[0])
        .output()
        .expect("gdb (cargo xtask test installs it)");
    let text = String::from_utf8_lossy(&gdb.stdout).into_owned() + &String::from_utf8_lossy(&gdb.stderr);
    assert!(text.contains("Program terminated with signal SIGSEGV"), "{text}");
    assert!(text.contains(&format!("rip            0x{rip} ")), "rip {rip}:\n{text}");
    assert!(text.contains("#0  0x") && text.contains("__guest_rt_main"), "a symbol for the trap:\n{text}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn only_an_abort_leaves_a_core_and_a_bad_directory_is_one_line() {
    if !kvm_available("only_an_abort_leaves_a_core_and_a_bad_directory_is_one_line") {
        return;
    }
    let d = dir("ok");
    boot(&d, "hello").expect_code(0);
    assert!(cores(&d).is_empty(), "a successful guest leaves no core");
    boot(&d, "abort").expect_code(255).expect_stderr("core dumped to");
    assert_eq!(cores(&d).len(), 1);
    let _ = std::fs::remove_dir_all(&d);
    let out = boot(Path::new("/nonexistent/cores"), "hello");
    out.expect_code(1).expect_stderr("--dumpcore: /nonexistent/cores: cannot create core files there");
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
}
