//! tender-oci as podman's runtime (`podman --runtime`, conmon calling it as runc): a loaded
//! image boots; the `http` example on podman's default network answers curl at the
//! container's address, from inside the test's namespace, and stops cleanly.

use std::time::{Duration, Instant};
use tender_tests::engines::{engines_available, oci_image, Podman};

const NEEDS: &[&str] = &["podman", "conmon", "runc", "nsenter"];

#[test]
fn podman_runs_a_loaded_unikernel_image() {
    if !engines_available("oci_podman_hello", NEEDS) {
        return;
    }
    let p = Podman::new("pmhello");
    p.run(&["load", "-i", oci_image("hello").to_str().unwrap()]).expect_code(0);
    let out = p.run_container(&["--rm", "--network=none", "tender/hello:latest", "a", "b"]);
    out.expect_code(0).expect_stdout("Hello, world!\narg[0]: a\narg[1]: b\nSUCCESS");
    p.run(&["load", "-i", oci_image("abort").to_str().unwrap()]).expect_code(0);
    p.run_container(&["--rm", "--network=none", "tender/abort:latest"]).expect_code(255);
    p.run(&["load", "-i", oci_image("busybox").to_str().unwrap()]).expect_code(0);
    let plain = p.run_container(&["--rm", "--network=none", "tender/busybox:latest", "echo", "plain"]);
    plain.expect_code(0).expect_stdout("plain");
}

#[test]
fn http_on_podmans_default_network_answers_curl() {
    if !engines_available("oci_podman_http", NEEDS) {
        return;
    }
    let p = Podman::new("pmhttp");
    p.run(&["load", "-i", oci_image("http").to_str().unwrap()]).expect_code(0);
    p.run_container(&["-d", "--name", "web", "tender/http:latest"]).expect_code(0);
    let ip = p.run(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]).stdout.trim().to_string();
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "no address for the container: {ip:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let page = loop {
        let out = p.ns.command("curl").args(["-s", "-m", "5", &format!("http://{ip}/")]).output().unwrap();
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        if body.contains("Hello from a unikernel on tender") || Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let logs = p.run(&["logs", "web"]);
    assert!(page.contains("Hello from a unikernel on tender"), "no page from {ip}: {page:?}\nlogs:\n{logs}");
    logs.expect_stdout(&format!("ready: serving http://{ip}/"));
    // The guest took the container's MAC: to podman's network it is the container.
    let mac = p.run(&["inspect", "-f", "{{.NetworkSettings.MacAddress}}", "web"]).stdout.trim().to_string();
    logs.expect_stdout(&format!("service: mac {mac} mtu 1500"));
    p.run(&["stop", "--time", "10", "web"]).expect_code(0);
    let code = p.run(&["inspect", "-f", "{{.State.ExitCode}}", "web"]);
    assert_eq!(code.stdout.trim(), "1", "tender exits 1 on SIGTERM");
    p.run(&["logs", "web"]).expect_stderr("tender: Exiting on signal 15");
    p.run(&["rm", "web"]).expect_code(0);
}
