//! tender needs no root: a user given access to /dev/kvm (ACLs, removed afterwards), a disk
//! file and a TAP of its own runs hello, blk and ping (answering from the test's namespace).

use std::process::Command;
use std::time::Duration;
use tender_tests::guest::Background;
use tender_tests::netns::{netns_available, NetNs};
use tender_tests::{image, kvm_available, run_with_timeout, tender, Outcome};

fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// The devices an unprivileged tender opens: KVM, and the TUN clone device for its TAP
/// (world-writable on a stock Debian, 0600 on some hosts).
const DEVICES: [&str; 2] = ["/dev/kvm", "/dev/net/tun"];

/// A system user with read-write access to [`DEVICES`] through ACLs; all go on drop.
struct User {
    name: String,
    uid: u32,
    gid: u32,
    /// The devices' ACLs before (`getfacl` text), restored exactly on drop.
    acls: String,
}

impl User {
    fn new() -> User {
        let name = format!("tnd{}", std::process::id());
        let _ = Command::new("userdel").arg(&name).output();
        sh("useradd", &["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", &name]);
        let id = |flag: &str| {
            let out = Command::new("id").args([flag, &name]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse::<u32>().unwrap()
        };
        let acls = Command::new("getfacl").arg("--absolute-names").args(DEVICES).output().unwrap();
        assert!(acls.status.success(), "getfacl: {}", String::from_utf8_lossy(&acls.stderr));
        let acls = String::from_utf8(acls.stdout).unwrap();
        let user = User { uid: id("-u"), gid: id("-g"), name, acls };
        for dev in DEVICES {
            sh("setfacl", &["-m", &format!("u:{}:rw", user.name), dev]);
        }
        user
    }

    /// `tender ARGS` as this user (inside `ns` if given: nsenter joins it, then drops root).
    fn tender(&self, ns: Option<&NetNs>, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        if let Some(ns) = ns {
            c.arg(format!("--net=/run/netns/{}", ns.name));
        }
        c.args(["--setuid", &self.uid.to_string(), "--setgid", &self.gid.to_string()])
            .arg(tender())
            .args(args);
        c
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let saved = std::env::temp_dir().join(format!("tender-acls-{}", std::process::id()));
        if std::fs::write(&saved, &self.acls).is_ok() {
            let _ = Command::new("setfacl").arg(format!("--restore={}", saved.display())).output();
            let _ = std::fs::remove_file(&saved);
        }
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

fn run(c: &mut Command) -> Outcome {
    run_with_timeout(c, Duration::from_secs(60))
}

#[test]
fn hello_blk_and_ping_run_as_an_ordinary_user() {
    if !kvm_available("unprivileged") || !netns_available("unprivileged") {
        return;
    }
    let user = User::new();
    let hello = image("hello");
    // Sanity: without the ACL this user could not open /dev/kvm at all.
    run(&mut user.tender(None, &["--version"])).expect_code(0);
    run(&mut user.tender(None, &[hello.to_str().unwrap(), "as", "user"]))
        .expect_code(0)
        .expect_stdout("Hello, world!\narg[0]: as\narg[1]: user\nSUCCESS");

    let disk = std::env::temp_dir().join(format!("tender-unpriv-{}.img", std::process::id()));
    std::fs::write(&disk, vec![0u8; 4 << 20]).unwrap();
    sh("chown", &[&format!("{}:{}", user.uid, user.gid), disk.to_str().unwrap()]);
    let block = format!("--block:storage={}", disk.display());
    run(&mut user.tender(None, &[&block, image("blk").to_str().unwrap()]))
        .expect_code(0)
        .expect_stdout("SUCCESS");
    let _ = std::fs::remove_file(&disk);

    let ns = NetNs::new("unpriv");
    sh("ip", &["-n", &ns.name, "tuntap", "add", "tap0", "mode", "tap", "user", &user.uid.to_string()]);
    sh("ip", &["-n", &ns.name, "link", "set", "tap0", "up"]);
    sh("ip", &["-n", &ns.name, "addr", "add", "10.0.0.1/24", "dev", "tap0"]);
    let mut guest = Background::start(
        &mut user.tender(Some(&ns), &["--net:service=tap0", image("ping").to_str().unwrap()]),
    );
    guest.wait_for("ready", Duration::from_secs(30));
    let status = std::fs::read_to_string(format!("/proc/{}/status", guest.pid())).unwrap_or_default();
    let ping = run(ns.command("ping").args(["-c", "5", "-i", "0.2", "10.0.0.2"]));
    assert!(ping.stdout.contains(" 0% packet loss"), "{ping}\nguest:\n{}{}", guest.stdout(), guest.stderr());
    assert_eq!(guest.terminate(), Some(1));
    // nsenter exec'd tender in place: the process that served was the user's, not root's.
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or_default().to_string();
    assert!(uid_line.contains(&format!("\t{}\t", user.uid)), "{uid_line}");
}

#[test]
fn without_access_to_kvm_the_error_says_so() {
    if !kvm_available("unprivileged_denied") {
        return;
    }
    let name = format!("tnx{}", std::process::id());
    let _ = Command::new("userdel").arg(&name).output();
    sh("useradd", &["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", &name]);
    let id = |flag: &str| {
        let out = Command::new("id").args([flag, &name]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let (uid, gid) = (id("-u"), id("-g"));
    let hello = image("hello");
    let out =
        run(Command::new("nsenter").args(["--setuid", &uid, "--setgid", &gid]).arg(tender()).arg(&hello));
    let _ = Command::new("userdel").arg(&name).output();
    let kvm_open_to_all = std::fs::metadata("/dev/kvm")
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o006 == 0o006)
        .unwrap_or(false);
    if kvm_open_to_all {
        out.expect_code(0);
    } else {
        out.expect_code(1).expect_stderr("/dev/kvm");
        assert_eq!(out.stderr.lines().count(), 1, "{out}");
    }
}
