//! tender-oci as a Docker runtime (`dockerd --add-runtime tender=…`, `docker run --runtime
//! tender`): an image from `docker load` boots, and `-m 64m` sizes the guest's memory.

use tender_tests::engines::{engines_available, oci_image, Docker};

const NEEDS: &[&str] = &["dockerd", "docker", "runc", "nsenter"];

#[test]
fn docker_runs_unikernels_and_sizes_them_by_the_memory_limit() {
    if !engines_available("oci_docker", NEEDS) {
        return;
    }
    let d = Docker::start("docker");
    for image in ["hello", "globals", "busybox"] {
        d.run(&["load", "-i", oci_image(image).to_str().unwrap()]).expect_code(0);
    }
    let hello = d.run_container(&["tender/hello:latest", "from", "docker"]);
    hello.expect_code(0).expect_stdout("Hello, world!\narg[0]: from\narg[1]: docker\nSUCCESS");
    // 64 MiB less tender's 16 MiB (docs/oci.md).
    let limited = d.run_container(&["-m", "64m", "tender/globals:latest"]);
    limited.expect_code(0).expect_stdout("memory: 48 MiB");
    let unlimited = d.run_container(&["tender/globals:latest"]);
    unlimited.expect_code(0).expect_stdout("memory: 512 MiB");
    let plain = d.run_container(&["tender/busybox:latest", "echo", "plain"]);
    plain.expect_code(0).expect_stdout("plain");
    let too_small = d.run_container(&["-m", "8m", "tender/hello:latest"]);
    assert_ne!(too_small.code, Some(0), "{too_small}");
    assert!(
        too_small.stderr.contains("memory limit of 8 MiB leaves no room for a guest"),
        "{too_small}\ndockerd:\n{}",
        d.log()
    );
}
