//! tender-oci under containerd (`ctr run --runc-binary`, the runc v2 shim calling it as runc):
//! unikernels from a root filesystem and from an imported image, exit statuses, a plain
//! container handed to runc, a network server stopped with `ctr task kill`.

use std::time::Duration;
use tender_tests::engines::{
    container_netns, engines_available, oci_image, tender_oci, tender_oci_state, Containerd,
};
use tender_tests::image;

const NEEDS: &[&str] = &["containerd", "ctr", "runc", "script"];

/// A root filesystem directory holding the given example images (and busybox).
fn rootfs(c: &Containerd, images: &[&str]) -> std::path::PathBuf {
    let dir = c.dir.join("rootfs");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    for name in images {
        std::fs::copy(image(name), dir.join(format!("{name}.hvt"))).unwrap();
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    dir
}

#[test]
fn unikernels_run_and_pass_their_exit_status_and_plain_containers_still_work() {
    if !engines_available("oci_containerd", NEEDS) {
        return;
    }
    let c = Containerd::start("ctr", false);
    let rootfs = rootfs(&c, &["hello", "abort"]);
    let root = rootfs.to_str().unwrap();

    let hello = c.run(&["--rootfs", root, "hello1", "/hello.hvt", "one", "two"]);
    hello.expect_code(0).expect_stdout("Hello, world!\narg[0]: one\narg[1]: two\nSUCCESS");

    let abort = c.run(&["--rootfs", root, "abort1", "/abort.hvt"]);
    abort.expect_code(255).expect_stdout("abort test: this panic is deliberate");

    let plain = c.run(&["--rootfs", root, "plain1", "/bin/busybox", "echo", "handed to runc"]);
    plain.expect_code(0).expect_stdout("handed to runc");

    // Terminal mode: ctr passes --console-socket; the guest's console is the pty (script(1)
    // gives ctr the terminal it needs).
    let oci = tender_oci();
    let ctr_line = format!(
        "ctr --address {} -n {} run --rm -t --runc-binary {} --rootfs {root} tty1 /hello.hvt on-a-tty",
        c.socket().display(),
        c.namespace,
        oci.display()
    );
    let tty = tender_tests::engines::run(std::process::Command::new("script").args([
        "-qec",
        &ctr_line,
        "/dev/null",
    ]));
    // (Both ptys turn "\n" into "\r\n": the lines end in "\r\r\n".)
    tty.expect_code(0)
        .expect_stdout("Hello, world!\r")
        .expect_stdout("arg[0]: on-a-tty\r")
        .expect_stdout("SUCCESS\r");

    c.ctr(&["image", "import", oci_image("hello").to_str().unwrap()]).expect_code(0);
    let imported = c.run(&["docker.io/tender/hello:latest", "hello2"]);
    imported.expect_code(0).expect_stdout("Hello, world!\nno arguments\nSUCCESS");

    assert!(
        tender_oci_state(&c.runc_root()).is_empty(),
        "state left: {:?}",
        tender_oci_state(&c.runc_root())
    );
    assert_eq!(c.ctr(&["container", "ls", "-q"]).stdout, "", "containers left");
}

#[test]
fn a_guest_without_its_network_is_refused_at_create() {
    if !engines_available("oci_containerd_nonet", NEEDS) {
        return;
    }
    let c = Containerd::start("ctrnonet", false);
    let rootfs = rootfs(&c, &["http"]);
    // ctr gives the container a network namespace with only loopback.
    let out = c.run(&["--rootfs", rootfs.to_str().unwrap(), "nonet", "/http.hvt"]);
    out.expect_code(1)
        .expect_stderr("net device 'service': the container has no network interface for it (0 found)");
    assert!(tender_oci_state(&c.runc_root()).is_empty());
}

#[test]
fn ctr_task_kill_stops_a_network_server_cleanly() {
    if !engines_available("oci_containerd_kill", NEEDS) {
        return;
    }
    let c = Containerd::start("ctrkill", false);
    let rootfs = rootfs(&c, &["http"]);
    let net = container_netns(&c.ns, "ctrk-c", "10.31.0.1/24", "10.31.0.2/24");
    let netns = format!("network:/run/netns/{}", net.name);
    let oci = tender_oci();
    let mut server = tender_tests::guest::Background::start(&mut c.ctr_command(&[
        "run",
        "--rm",
        "--runc-binary",
        oci.to_str().unwrap(),
        "--with-ns",
        &netns,
        "--rootfs",
        rootfs.to_str().unwrap(),
        "web",
        "/http.hvt",
    ]));
    // The guest learnt the container's address from tender-oci (--ipv4=10.31.0.2/24).
    server.wait_for("ready: serving http://10.31.0.2/", Duration::from_secs(60));
    // The first SYN may race the neighbour entries of a fresh veth: retry for a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let page = loop {
        let out = c.ns.command("curl").args(["-s", "-m", "5", "http://10.31.0.2/"]).output().unwrap();
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        if body.contains("Hello from a unikernel on tender") || std::time::Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        page.contains("Hello from a unikernel on tender"),
        "{page:?}\n{}\n{}",
        server.stdout(),
        server.stderr()
    );
    let taps = std::process::Command::new("ip").args(["-n", &net.name, "-o", "link"]).output().unwrap();
    assert!(String::from_utf8_lossy(&taps.stdout).contains(": tnd"), "no TAP in the container's namespace");

    c.ctr(&["task", "kill", "web"]).expect_code(0);
    let code = server.finish(Duration::from_secs(30));
    assert_eq!(code, Some(1), "stdout:\n{}\nstderr:\n{}", server.stdout(), server.stderr());
    assert!(server.stderr().contains("tender: Exiting on signal 15"), "{}", server.stderr());
    // delete removed the TAP and the redirect from the container's namespace, and our state.
    let links = std::process::Command::new("ip").args(["-n", &net.name, "-o", "link"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&links.stdout).contains(": tnd"), "TAP left behind");
    let qdisc = std::process::Command::new("tc")
        .args(["-n", &net.name, "qdisc", "show", "dev", "eth0"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&qdisc.stdout).contains("ingress"), "redirect left behind");
    assert!(tender_oci_state(&c.runc_root()).is_empty());
}
