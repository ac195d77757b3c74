//! tender-oci driven directly with runc's command line, as an engine would: the lifecycle
//! (the guest does not boot before `start`), `state` and `list` JSON, `kill`, block devices
//! and memory limits from the bundle, plain containers handed to runc, one-line errors (also
//! in the `--log` JSON), and recovery from a create that crashed.

use serde_json::{json, Value};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tender_tests::engines::{engines_available, tender_oci, tender_oci_dir, tender_oci_state, Scratch};
use tender_tests::{image, run_with_timeout, Outcome};

const NEEDS: &[&str] = &["runc"];

/// A runc root, a log and bundles, all in one scratch directory.
struct Runtime {
    dir: Scratch,
}

impl Runtime {
    fn new(tag: &str) -> Runtime {
        Runtime { dir: Scratch::new(tag) }
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("log.json")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(tender_oci());
        c.arg("--root")
            .arg(self.root())
            .arg("--log")
            .arg(self.log())
            .args(["--log-format", "json"])
            .args(args);
        c
    }

    fn oci(&self, args: &[&str]) -> Outcome {
        run_with_timeout(&mut self.command(args), Duration::from_secs(60))
    }

    /// `create`, with the container's stdio in files (it outlives the command).
    fn create(&self, bundle: &Path, id: &str) -> Outcome {
        let (out, err) = (
            File::create(self.dir.join(format!("{id}.out"))).unwrap(),
            File::create(self.dir.join(format!("{id}.err"))).unwrap(),
        );
        let mut c = self.command(&["create", "--bundle", bundle.to_str().unwrap(), "--pid-file"]);
        c.arg(self.dir.join(format!("{id}.pid"))).arg(id).stdin(Stdio::null()).stdout(out).stderr(err);
        let status = c.status().unwrap();
        Outcome {
            code: status.code(),
            stdout: String::new(),
            stderr: self.output(id, "err"),
            elapsed: Duration::ZERO,
        }
    }

    fn output(&self, id: &str, which: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{id}.{which}"))).unwrap_or_default()
    }

    fn state(&self, id: &str) -> Value {
        let out = self.oci(&["state", id]);
        out.expect_code(0);
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("state is not JSON ({e}): {out}"))
    }

    /// Waits until the container has stopped.
    fn wait_stopped(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.state(id)["status"] != "stopped" {
            assert!(Instant::now() < deadline, "{id} still running:\n{}", self.output(id, "out"));
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A bundle running `args` from a rootfs holding `files` (host path → path inside).
    fn bundle(
        &self,
        name: &str,
        files: &[(PathBuf, &str)],
        args: &[&str],
        edit: impl FnOnce(&mut Value),
    ) -> PathBuf {
        let b = self.dir.join(name);
        std::fs::create_dir_all(b.join("rootfs")).unwrap();
        for (from, inside) in files {
            let to = b.join("rootfs").join(inside.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(from, to).unwrap();
        }
        let mut cfg = json!({
            "ociVersion": "1.0.2-dev",
            "process": { "terminal": false, "user": { "uid": 0, "gid": 0 }, "args": args,
                         "env": ["PATH=/bin:/usr/bin"], "cwd": "/", "noNewPrivileges": true },
            "root": { "path": "rootfs", "readonly": true },
            "hostname": "unikernel",
            "mounts": [
                { "destination": "/proc", "type": "proc", "source": "proc" },
                { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            ],
            "linux": { "namespaces": [ { "type": "pid" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" }, { "type": "network" } ],
                       "resources": { "devices": [ { "allow": false, "access": "rwm" } ] } }
        });
        edit(&mut cfg);
        std::fs::write(b.join("config.json"), cfg.to_string()).unwrap();
        b
    }

    /// The last entry of the `--log` JSON.
    fn last_log(&self) -> Value {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        serde_json::from_str(text.lines().last().unwrap_or("{}")).unwrap()
    }
}

#[test]
fn lifecycle_boots_only_at_start_and_leaves_nothing() {
    if !engines_available("oci_cli_lifecycle", NEEDS) {
        return;
    }
    let rt = Runtime::new("cli-life");
    let bundle = rt.bundle("b", &[(image("hello"), "/hello.hvt")], &["/hello.hvt", "x"], |_| {});
    rt.create(&bundle, "life").expect_code(0);
    let st = rt.state("life");
    assert_eq!(st["status"], "created");
    assert_eq!(st["bundle"], bundle.to_str().unwrap(), "state reports the engine's bundle");
    let pid = std::fs::read_to_string(rt.dir.join("life.pid")).unwrap();
    assert_eq!(st["pid"].as_u64().unwrap().to_string(), pid.trim());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rt.output("life", "out"), "", "the guest ran before start");
    let list = rt.oci(&["list", "--format", "json"]);
    let list: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(list[0]["id"], "life");
    assert_eq!(list[0]["bundle"], bundle.to_str().unwrap());

    let ps = rt.oci(&["ps", "--format", "json", "life"]);
    assert_eq!(
        ps.expect_code(0).stdout.trim(),
        format!("[{}]", pid.trim()),
        "the container's one process is tender"
    );

    rt.oci(&["start", "life"]).expect_code(0);
    rt.wait_stopped("life");
    assert_eq!(rt.output("life", "out"), "Hello, world!\narg[0]: x\nSUCCESS\n");
    rt.oci(&["delete", "life"]).expect_code(0);
    let gone = rt.oci(&["state", "life"]);
    gone.expect_code(1);
    assert_eq!(gone.stderr.lines().count(), 1, "{gone}");
    assert!(tender_oci_state(&rt.root()).is_empty());
}

#[test]
fn version_and_features_name_tender_and_runc() {
    if !engines_available("oci_cli_version", NEEDS) {
        return;
    }
    let rt = Runtime::new("cli-version");
    let v = rt.oci(&["--version"]);
    v.expect_code(0).expect_stdout("tender-oci version ").expect_stdout("runc: ");
    let f = rt.oci(&["features"]);
    let f: Value = serde_json::from_str(&f.expect_code(0).stdout).unwrap();
    assert_eq!(f["annotations"]["io.github.tender.oci.unikernels"], "solo5-hvt");
    assert!(f["ociVersionMax"].is_string(), "runc's own features are kept: {f}");
    rt.oci(&["--help"]).expect_code(0).expect_stdout("usage: tender-oci");
}

#[test]
fn kill_stops_the_guest_through_tenders_signal_path() {
    if !engines_available("oci_cli_kill", NEEDS) {
        return;
    }
    let rt = Runtime::new("cli-kill");
    let bundle = rt.bundle("b", &[(image("time"), "/time.hvt")], &["/time.hvt"], |_| {});
    rt.create(&bundle, "k").expect_code(0);
    rt.oci(&["start", "k"]).expect_code(0);
    // pause and resume go to runc: the freezer stops tender and its vCPU with it.
    rt.oci(&["pause", "k"]).expect_code(0);
    assert_eq!(rt.state("k")["status"], "paused");
    rt.oci(&["resume", "k"]).expect_code(0);
    assert_eq!(rt.state("k")["status"], "running");
    rt.oci(&["kill", "k", "TERM"]).expect_code(0);
    let t = Instant::now();
    rt.wait_stopped("k");
    assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
    assert!(rt.output("k", "err").contains("tender: Exiting on signal 15"), "{}", rt.output("k", "err"));
    // A unikernel has no processes to exec into.
    rt.oci(&["exec", "k", "/bin/sh"])
        .expect_code(1)
        .expect_stderr("exec is not supported for unikernel container k");
    rt.oci(&["delete", "--force", "k"]).expect_code(0);
    assert!(tender_oci_state(&rt.root()).is_empty());
}

#[test]
fn disks_and_memory_come_from_the_bundle() {
    if !engines_available("oci_cli_devices", NEEDS) {
        return;
    }
    let rt = Runtime::new("cli-dev");
    let disk = rt.dir.join("disk.img");
    std::fs::write(&disk, vec![0u8; 4 << 20]).unwrap();
    let mount =
        json!({ "destination": "/block/storage", "type": "bind", "source": disk, "options": ["bind", "rw"] });
    let bundle = rt.bundle("blk", &[(image("blk"), "/blk.hvt")], &["/blk.hvt"], |c| {
        c["mounts"].as_array_mut().unwrap().push(mount);
        c["annotations"] = json!({ "tender.block-sector-size.storage": "4096" });
    });
    rt.create(&bundle, "disk").expect_code(0);
    rt.oci(&["start", "disk"]).expect_code(0);
    rt.wait_stopped("disk");
    let out = rt.output("disk", "out");
    assert!(
        out.contains("storage: capacity 4194304 bytes, block size 4096") && out.contains("SUCCESS"),
        "{out}"
    );
    rt.oci(&["delete", "disk"]).expect_code(0);

    let nodisk = rt.bundle("nodisk", &[(image("blk"), "/blk.hvt")], &["/blk.hvt"], |_| {});
    let refused = rt.create(&nodisk, "nodisk");
    refused
        .expect_code(1)
        .expect_stderr("block device 'storage': /block/storage does not exist in the container");
    assert_eq!(rt.oci(&["state", "nodisk"]).code, Some(1), "a failed create leaves no container");

    let limited = rt.bundle("mem", &[(image("globals"), "/globals.hvt")], &["/globals.hvt"], |c| {
        c["linux"]["resources"]["memory"] = json!({ "limit": 100 << 20 });
    });
    rt.create(&limited, "mem").expect_code(0);
    rt.oci(&["start", "mem"]).expect_code(0);
    rt.wait_stopped("mem");
    assert!(rt.output("mem", "out").contains("memory: 84 MiB"), "{}", rt.output("mem", "out"));
    rt.oci(&["delete", "mem"]).expect_code(0);
    assert!(tender_oci_state(&rt.root()).is_empty());
}

#[test]
fn plain_containers_are_handed_to_runc() {
    if !engines_available("oci_cli_plain", NEEDS) {
        return;
    }
    let rt = Runtime::new("cli-plain");
    let bundle = rt.bundle(
        "b",
        &[(PathBuf::from("/bin/busybox"), "/bin/busybox")],
        &["busybox", "echo", "plain"],
        |_| {},
    );
    rt.create(&bundle, "plain").expect_code(0);
    assert_eq!(rt.state("plain")["status"], "created");
    assert!(tender_oci_state(&rt.root()).is_empty(), "runc's container, not ours");
    rt.oci(&["start", "plain"]).expect_code(0);
    rt.wait_stopped("plain");
    assert_eq!(rt.output("plain", "out"), "plain\n");
    rt.oci(&["delete", "plain"]).expect_code(0);
}

#[test]
fn bad_input_gets_one_line_and_leaves_nothing() {
    if !engines_available("oci_cli_errors", NEEDS) {
        return;
    }
    let rt = Runtime::new("cli-err");
    let one_line = |o: &Outcome, text: &str| {
        o.expect_code(1).expect_stderr(text);
        assert_eq!(o.stderr.lines().count(), 1, "{o}");
        assert_eq!(rt.last_log()["level"], "error");
        assert!(rt.last_log()["msg"].as_str().unwrap().contains(text), "{}", rt.last_log());
    };
    one_line(&rt.oci(&["state", "nosuch"]), "container does not exist"); // runc's own words
    one_line(
        &rt.oci(&["create", "--bundle", "/nonexistent/bundle", "x"]),
        "bundle /nonexistent/bundle: no such directory",
    );
    one_line(&rt.oci(&["create", "--bogus", "x"]), "flag provided but not defined: -bogus");
    one_line(&rt.oci(&["start", "../escape"]), "invalid container id");

    let broken = rt.bundle("broken", &[], &["/x"], |_| {});
    std::fs::write(broken.join("config.json"), "{ \"ociVersion\": ").unwrap();
    one_line(&rt.create(&broken, "broken"), "config.json: invalid OCI runtime config");

    // hello with its ELF header saying aarch64 (or x86_64 on an arm64 host).
    let mut foreign = std::fs::read(image("hello")).unwrap();
    let other: u16 = if cfg!(target_arch = "x86_64") { 183 } else { 62 };
    foreign[18..20].copy_from_slice(&other.to_le_bytes());
    let path = rt.dir.join("foreign.hvt");
    std::fs::write(&path, foreign).unwrap();
    let b = rt.bundle("foreign", &[(path, "/hello.hvt")], &["/hello.hvt"], |_| {});
    let arch = if cfg!(target_arch = "x86_64") { "built for aarch64" } else { "built for x86_64" };
    one_line(&rt.create(&b, "foreign"), arch);

    let forced =
        rt.bundle("forced", &[(PathBuf::from("/bin/busybox"), "/bin/busybox")], &["/bin/busybox"], |c| {
            c["annotations"] = json!({ "tender.unikernel": "true" });
        });
    one_line(&rt.create(&forced, "forced"), "not a Solo5 hvt unikernel");
    assert!(tender_oci_state(&rt.root()).is_empty());
}

#[test]
fn a_crashed_create_does_not_block_a_retry_and_a_running_one_is_not_disturbed() {
    if !engines_available("oci_cli_crash", NEEDS) {
        return;
    }
    let rt = Runtime::new("cli-crash");
    let bundle = rt.bundle("b", &[(image("hello"), "/hello.hvt")], &["/hello.hvt"], |_| {});
    // What a create killed half-way leaves: an unfinished record, no runc container.
    let dir = tender_oci_dir(&rt.root()).join("again");
    std::fs::create_dir_all(dir.join("guest")).unwrap();
    std::fs::write(
        dir.join("record.json"),
        r#"{"bundle":"/old","complete":false,"taps":[],"netns_pinned":false}"#,
    )
    .unwrap();
    rt.create(&bundle, "again").expect_code(0);
    rt.oci(&["delete", "again"]).expect_code(0);

    // A create in progress holds the lock: a second one for the id is refused at once.
    let dir = tender_oci_dir(&rt.root()).join("busy");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = File::create(dir.join("lock")).unwrap();
    // SAFETY: flock on a file this test owns.
    assert_eq!(unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) }, 0);
    rt.create(&bundle, "busy").expect_code(1).expect_stderr("container busy is being created or deleted");
    assert!(dir.is_dir(), "the other create's state must stay");
    drop(lock);
    rt.create(&bundle, "busy").expect_code(0);
    rt.create(&bundle, "busy").expect_code(1).expect_stderr("container with id busy already exists");
    rt.oci(&["delete", "busy"]).expect_code(0);
    assert!(tender_oci_state(&rt.root()).is_empty());
}

#[test]
fn a_runc_container_of_the_same_id_is_never_touched() {
    if !engines_available("oci_cli_same_id", NEEDS) {
        return;
    }
    let rt = Runtime::new("cli-sameid");
    let plain = rt.bundle(
        "plain",
        &[(PathBuf::from("/bin/busybox"), "/bin/busybox")],
        &["busybox", "sleep", "30"],
        |_| {},
    );
    rt.create(&plain, "shared").expect_code(0);
    let uk = rt.bundle("uk", &[(image("hello"), "/hello.hvt")], &["/hello.hvt"], |_| {});
    rt.create(&uk, "shared").expect_code(1).expect_stderr("container with id shared already exists");
    assert_eq!(rt.state("shared")["status"], "created", "runc's container must be untouched");
    assert!(tender_oci_state(&rt.root()).is_empty());
    rt.oci(&["delete", "--force", "shared"]).expect_code(0);
}

#[test]
fn entrypoints_resolve_as_exec_would_and_pod_sandboxes_go_to_runc() {
    if !engines_available("oci_cli_resolve", NEEDS) {
        return;
    }
    let rt = Runtime::new("cli-resolve");
    let rel = rt.bundle("rel", &[(image("hello"), "/app/hello.hvt")], &["./hello.hvt", "x"], |c| {
        c["process"]["cwd"] = json!("/app");
    });
    rt.create(&rel, "rel").expect_code(0);
    rt.oci(&["start", "rel"]).expect_code(0);
    rt.wait_stopped("rel");
    assert_eq!(rt.output("rel", "out"), "Hello, world!\narg[0]: x\nSUCCESS\n");
    rt.oci(&["delete", "rel"]).expect_code(0);
    // A pod annotation meant for the unikernel also reaches the pod's pause container.
    let pause = rt.bundle(
        "pause",
        &[(PathBuf::from("/bin/busybox"), "/bin/busybox")],
        &["busybox", "echo", "sandbox"],
        |c| {
            c["annotations"] =
                json!({ "tender.unikernel": "true", "io.kubernetes.cri.container-type": "sandbox" });
        },
    );
    rt.create(&pause, "pause").expect_code(0);
    rt.oci(&["start", "pause"]).expect_code(0);
    rt.wait_stopped("pause");
    assert_eq!(rt.output("pause", "out"), "sandbox\n");
    rt.oci(&["delete", "pause"]).expect_code(0);
}

/// Links and ingress qdiscs in a namespace, as `ip`/`tc` print them.
fn net_state(ns: &str) -> String {
    let links = Command::new("ip").args(["-n", ns, "-o", "link"]).output().unwrap();
    let qdiscs = Command::new("tc").args(["-n", ns, "qdisc", "show"]).output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&links.stdout), String::from_utf8_lossy(&qdiscs.stdout))
}

#[test]
fn a_failed_create_leaves_no_tap_and_the_log_keeps_runcs_reason() {
    if !engines_available("oci_cli_undo", NEEDS) {
        return;
    }
    let rt = Runtime::new("cli-undo");
    // Two interfaces: multi's two NICs get TAPs, then its 61 disks are missing: all undone.
    let ns = tender_tests::netns::NetNs::new("cli-undo");
    let ip = |args: &[&str]| {
        assert!(Command::new("ip").args(["-n", &ns.name]).args(args).status().unwrap().success())
    };
    ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "eth1"]);
    ip(&["link", "set", "eth0", "up"]);
    ip(&["link", "set", "eth1", "up"]);
    let netns = format!("/run/netns/{}", ns.name);
    let multi = rt.bundle("multi", &[(image("multi"), "/multi.hvt")], &["/multi.hvt"], |c| {
        c["linux"]["namespaces"][4] = json!({ "type": "network", "path": netns });
    });
    let out = rt.create(&multi, "multi");
    out.expect_code(1).expect_stderr("block device 'disk1': /block/disk1 does not exist in the container");
    let after = net_state(&ns.name);
    assert!(!after.contains(": tnd") && !after.contains("ingress"), "left behind:\n{after}");
    assert_eq!(rt.oci(&["state", "multi"]).code, Some(1));
    assert!(tender_oci_state(&rt.root()).is_empty());

    // tender-oci's own (here: the host's) namespace is never joined to a guest.
    let own = format!("/proc/{}/ns/net", std::process::id());
    let host = rt.bundle("host", &[(image("http"), "/http.hvt")], &["/http.hvt"], |c| {
        c["linux"]["namespaces"][4] = json!({ "type": "network", "path": own });
    });
    rt.create(&host, "host").expect_code(1).expect_stderr("shares tender-oci's network namespace");

    // When runc itself fails, its reason is the log's last word (our cleanup adds none).
    let bad = rt.bundle("badmount", &[(image("hello"), "/hello.hvt")], &["/hello.hvt"], |c| {
        let m = json!({ "destination": "/data", "type": "bind", "source": "/nonexistent/tender-src", "options": ["bind"] });
        c["mounts"].as_array_mut().unwrap().push(m);
    });
    rt.create(&bad, "badmount").expect_code(1);
    let last = rt.last_log();
    assert!(last["msg"].as_str().unwrap().contains("nonexistent/tender-src"), "{last}");
    assert!(tender_oci_state(&rt.root()).is_empty());
}
