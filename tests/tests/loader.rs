//! The loader never reads an image whole: a huge file that is not an ELF is refused at once
//! with a small footprint, a valid image with a huge tail runs small, a FIFO is refused
//! without blocking, and a manifest naming a device twice is refused.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;
use tender_tests::{image, kvm_available, tender_run, Outcome};

/// The peak RSS of this test's largest child so far, in MiB (nextest runs each test in its
/// own process, so the children are this test's).
fn children_peak_rss_mib() -> i64 {
    // SAFETY: getrusage fills the struct we pass; zeroed is a valid initial value.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u
    };
    usage.ru_maxrss / 1024
}

fn scratch(name: &str) -> PathBuf {
    let dir = tender_tests::scratch_dir(&format!("loader-{name}"));
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

fn run(args: &[&OsStr]) -> Outcome {
    tender_run(args)
}

#[test]
fn a_gib_of_non_elf_is_refused_at_once_and_small() {
    let p = scratch("huge-not-elf.hvt");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(1 << 30).unwrap(); // sparse: costs no disk
    let out = run(&[p.as_os_str()]);
    out.expect_code(1).expect_stderr("invalid executable: not an ELF file");
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
    assert!(out.elapsed < Duration::from_secs(1), "took {:?}", out.elapsed);
    let rss = children_peak_rss_mib();
    assert!(rss <= 32, "peak RSS {rss} MiB for a 1 GiB file");
    let _ = std::fs::remove_file(&p);
}

#[test]
fn a_valid_image_with_a_gib_tail_runs_small() {
    if !kvm_available("a_valid_image_with_a_gib_tail_runs_small") {
        return;
    }
    let p = scratch("hello-with-tail.hvt");
    std::fs::copy(image("hello"), &p).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(f.metadata().unwrap().len() + (1 << 30)).unwrap();
    drop(f);
    run(&[p.as_os_str(), OsStr::new("tail")]).expect_code(0).expect_stdout("Hello, world!\narg[0]: tail");
    let rss = children_peak_rss_mib();
    assert!(rss <= 32, "peak RSS {rss} MiB with a 1 GiB tail");
    let _ = std::fs::remove_file(&p);
}

#[test]
fn a_fifo_as_kernel_is_refused_without_blocking() {
    let p = scratch("fifo.hvt");
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Nobody ever writes to it: an open(2) without O_NONBLOCK would wait forever.
    let out = run(&[p.as_os_str()]);
    out.expect_code(1).expect_stderr("fifo.hvt: not a regular file");
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
    assert!(out.elapsed < Duration::from_secs(1), "took {:?}", out.elapsed);
    let _ = std::fs::remove_file(&p);
}

#[test]
fn a_device_declared_twice_is_refused() {
    let mut bytes = std::fs::read(image("multi")).unwrap();
    // The manifest's entry for net1, NUL-padded in its 68-byte name field; renamed net0.
    let at = bytes.windows(8).position(|w| w == b"net1\0\0\0\0").expect("multi declares net1");
    bytes[at + 3] = b'0';
    let p = scratch("duplicate.hvt");
    std::fs::write(&p, bytes).unwrap();
    let out = run(&[p.as_os_str()]);
    out.expect_code(1).expect_stderr("invalid manifest: entry 63: duplicate device name 'net0'");
    let _ = std::fs::remove_file(&p);
}
