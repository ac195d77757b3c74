#!/usr/bin/env python3
"""Drives containerd's CRI plugin as a kubelet does, for tests/tests/oci_cri.rs.

usage: cri_pod.py SOCKET HANDLER IMAGE LOG_DIR [ARGS...]

RunPodSandbox (with runtime handler HANDLER, host network: no CNI needed), CreateContainer
from IMAGE with ARGS, StartContainer, ContainerStatus until it exits, then StopPodSandbox
and RemovePodSandbox. Prints one `key: value` line per fact the test checks; exits non-zero
(with the reason) if a call fails or something is left behind.
"""
import os
import sys
import time
import uuid

import grpc
from cri_api.v1 import api_pb2, api_pb2_grpc


def main():
    socket, handler, image, log_dir, *args = sys.argv[1:]
    channel = grpc.insecure_channel("unix://" + socket)
    rt = api_pb2_grpc.RuntimeServiceStub(channel)
    version = rt.Version(api_pb2.VersionRequest(), timeout=10)
    print(f"runtime: {version.runtime_name} {version.runtime_version}", flush=True)

    uid = uuid.uuid4().hex
    sandbox_config = api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name="unikernel", uid=uid, namespace="default", attempt=0),
        log_directory=log_dir,
        linux=api_pb2.LinuxPodSandboxConfig(
            security_context=api_pb2.LinuxSandboxSecurityContext(
                namespace_options=api_pb2.NamespaceOption(network=api_pb2.NODE)
            )
        ),
    )
    pod = rt.RunPodSandbox(
        api_pb2.RunPodSandboxRequest(config=sandbox_config, runtime_handler=handler), timeout=60
    ).pod_sandbox_id
    print(f"pod: {pod}", flush=True)
    try:
        container = rt.CreateContainer(
            api_pb2.CreateContainerRequest(
                pod_sandbox_id=pod,
                config=api_pb2.ContainerConfig(
                    metadata=api_pb2.ContainerMetadata(name="guest", attempt=0),
                    image=api_pb2.ImageSpec(image=image),
                    args=args,
                    log_path="guest.log",
                ),
                sandbox_config=sandbox_config,
            ),
            timeout=60,
        ).container_id
        rt.StartContainer(api_pb2.StartContainerRequest(container_id=container), timeout=60)
        deadline = time.time() + 60
        while True:
            status = rt.ContainerStatus(
                api_pb2.ContainerStatusRequest(container_id=container), timeout=10
            ).status
            if status.state == api_pb2.CONTAINER_EXITED:
                break
            if time.time() > deadline:
                sys.exit(f"container {container} still in state {status.state} after 60 s")
            time.sleep(0.1)
        print(f"exit_code: {status.exit_code}", flush=True)
        with open(os.path.join(log_dir, "guest.log")) as f:
            for line in f:
                print(f"log: {line.rstrip()}", flush=True)
    finally:
        rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    left = rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(), timeout=10).items
    containers = rt.ListContainers(api_pb2.ListContainersRequest(), timeout=10).containers
    print(f"left: {len(left)} pods, {len(containers)} containers", flush=True)


if __name__ == "__main__":
    main()
