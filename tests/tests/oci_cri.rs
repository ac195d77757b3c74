//! tender-oci at the CRI level, as a kubelet drives it: containerd's CRI plugin with runtime
//! handler `tender` (runc v2 shim, BinaryName = tender-oci), called through the CRI v1 gRPC API
//! by tests/cri/cri_pod.py: RunPodSandbox (the pause container goes to runc), CreateContainer
//! and StartContainer from an imported unikernel image, ContainerStatus, the container log,
//! StopPodSandbox and RemovePodSandbox leaving nothing behind.

use std::process::Command;
use tender_tests::engines::{engines_available, oci_image, run, tender_oci_state, Containerd};
use tender_tests::root;

const NEEDS: &[&str] = &["containerd", "ctr", "runc", "python3"];

/// Runs one pod with one container from `image`; returns the script's output.
fn pod(c: &Containerd, image: &str, args: &[&str]) -> tender_tests::Outcome {
    let logs = c.dir.join(format!("logs-{}", image.replace(['/', ':', '.'], "-")));
    std::fs::create_dir_all(&logs).unwrap();
    let mut cmd = Command::new("python3");
    cmd.env("PYTHONPATH", root().join("target/cri-py"))
        .arg(root().join("tests/cri/cri_pod.py"))
        .arg(c.socket())
        .arg("tender")
        .arg(image)
        .arg(&logs)
        .args(args);
    run(&mut cmd)
}

#[test]
fn a_pod_with_runtime_handler_tender_runs_a_unikernel_through_the_cri() {
    if !engines_available("oci_cri", NEEDS) {
        return;
    }
    assert!(
        root().join("target/cri-py/cri_api").is_dir(),
        "the CRI client is missing: `cargo xtask test` installs it into target/cri-py"
    );
    let c = Containerd::start("cri", true);
    for image in ["pause", "hello", "abort"] {
        c.ctr(&["image", "import", oci_image(image).to_str().unwrap()]).expect_code(0);
    }

    let hello = pod(&c, "docker.io/tender/hello:latest", &["from", "kubernetes"]);
    hello.expect_code(0);
    hello
        .expect_stdout("exit_code: 0\n")
        .expect_stdout(" stdout F Hello, world!\n")
        .expect_stdout(" stdout F arg[0]: from\n")
        .expect_stdout(" stdout F SUCCESS\n")
        .expect_stdout("left: 0 pods, 0 containers");

    let abort = pod(&c, "docker.io/tender/abort:latest", &[]);
    abort.expect_code(0).expect_stdout("exit_code: 255\n").expect_stdout("left: 0 pods, 0 containers");

    assert!(
        tender_oci_state(&c.runc_root()).is_empty(),
        "state left: {:?}",
        tender_oci_state(&c.runc_root())
    );
    let tasks = c.ctr(&["task", "ls", "-q"]);
    assert_eq!(tasks.stdout, "", "tasks left behind\ncontainerd:\n{}", c.log());
}
