#!/bin/sh
# The AArch64 tests, run inside the arm64 VM on its (nested) KVM: first the few
# scenarios the integration suite cannot run here (core dumps without gdb, TAP
# networking without iproute2 namespaces), each printing "aarch64-vm: PASS <name>"
# or "aarch64-vm: FAIL <name>: <why>" and a final "aarch64-vm: N passed, M failed";
# then the suite itself (tests/tests/*.rs, cross-built), as libtest JSON events.

T=/tender
I=/images
pass=0
fail=0

# run NAME STATUS CMD...: runs CMD (120 s at most) and checks its exit status
# (unless STATUS is "-"); then has/lacks check its output; verdict prints the result.
run() {
    name=$1
    want=$2
    shift 2
    why=""
    start=$(cut -d' ' -f1 /proc/uptime)
    timeout -s KILL 120 "$@" > /tmp/out 2>&1
    code=$?
    [ "$want" = - ] || [ "$code" = "$want" ] || why="$why; exit status $code, expected $want"
}
has() { grep -qF -- "$1" /tmp/out || why="$why; output lacks '$1'"; }
lacks() { ! grep -qF -- "$1" /tmp/out || why="$why; output has '$1'"; }
verdict() {
    secs=$(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')
    if [ -z "$why" ]; then
        pass=$((pass + 1))
        echo "aarch64-vm: PASS $name (${secs} s)"
    else
        fail=$((fail + 1))
        echo "aarch64-vm: FAIL $name: ${why#; }"
        sed 's/^/aarch64-vm:   | /' /tmp/out
    fi
}
skip() { echo "aarch64-vm: SKIP $1: $2"; }
# show: print the output of the last test even if it passed.
show() { sed 's/^/aarch64-vm:   | /' /tmp/out; }

# The examples, command lines, memory sizes, bad and hostile images, seccomp and block
# devices are the integration suite's (run at the end). Here: what it cannot do in this VM
# (no gdb for its core-dump tests, no iproute2 namespaces for its network tests).

# Core dumps (tests/tests/coredump.rs): an aborting guest leaves an ELF core, a clean one none.
mkdir -p /tmp/cores
run dumpcore_writes_a_core_when_the_guest_traps 255 $T --dumpcore=/tmp/cores $I/fault.hvt
has "core dumped to /tmp/cores/core.tender."
core=$(ls /tmp/cores/core.tender.* 2> /dev/null | head -1)
[ -n "$core" ] && [ "$(head -c 4 "$core" | tail -c 3)" = ELF ] || why="$why; no ELF core in /tmp/cores"
verdict
rm -f /tmp/cores/*
run dumpcore_leaves_nothing_after_success 0 $T --dumpcore=/tmp/cores $I/hello.hvt
[ -z "$(ls /tmp/cores)" ] || why="$why; a core after a clean exit"
verdict

# mktap NAME [ADDR/24]: a TAP interface, up (busybox's ip has no tuntap: tunctl).
mktap() {
    tunctl -t "$1" > /dev/null || return 1
    [ -z "$2" ] || ip addr add "$2" dev "$1"
    ip link set "$1" up
}
# serve IMAGE [OPTION]: starts $T --net:service=tap0 [OPTION] IMAGE in the background,
# waits for "ready".
serve() {
    $T --net:service=tap0 $2 "$1" > /tmp/guest.out 2>&1 &
    guest=$!
    i=0
    while [ $i -lt 300 ] && ! grep -q ready /tmp/guest.out; do
        kill -0 $guest 2> /dev/null || break
        sleep 0.2
        i=$((i + 1))
    done
}
# stop: ends the background guest and appends its output to the test's (so
# checks of what the client got come before it).
stop() {
    kill $guest 2> /dev/null
    wait $guest 2> /dev/null
    sed 's/^/guest: /' /tmp/guest.out >> /tmp/out
}
mktap tap0 10.0.0.1/24 || echo "aarch64-vm: could not create TAP interface tap0"
if [ -e $I/ping.hvt ] && [ -d /sys/class/net/tap0 ]; then
    serve $I/ping.hvt
    run ping_over_tap 0 ping -c 20 -i 0.1 -W 5 10.0.0.2
    has " 0% packet loss"
    stop
    has "ready"; has "via net ring"; verdict
    serve $I/ping.hvt --no-net-ring
    run ping_over_tap_by_hypercall 0 ping -c 20 -i 0.1 -W 5 10.0.0.2
    has " 0% packet loss"
    stop
    has "via hypercalls"; verdict
else
    skip ping_over_tap "no ping guest or TAP"
fi
# busybox's wget crashes on arm64 (static glibc), so HTTP goes through nc.
if [ -e $I/http.hvt ] && [ -d /sys/class/net/tap0 ]; then
    serve $I/http.hvt
    run http_over_tap - sh -c "printf 'GET / HTTP/1.0\r\nHost: 10.0.0.2\r\n\r\n' | nc -w 10 10.0.0.2 80"
    has "HTTP/1.1 200"; has "tender"; verdict
    run http_404_over_tap - sh -c "printf 'GET /missing HTTP/1.0\r\n\r\n' | nc -w 10 10.0.0.2 80"
    has "HTTP/1.1 404"
    stop
    verdict
else
    skip http_over_tap "no http guest or TAP"
fi
if [ -e $I/echo.hvt ] && [ -d /sys/class/net/tap0 ]; then
    serve $I/echo.hvt
    run tcp_echo_over_tap - sh -c "echo 'hello from arm64' | nc -w 3 10.0.0.2 7"
    has "hello from arm64"
    stop
    has "via net ring"; verdict
else
    skip tcp_echo_over_tap "no echo guest or TAP"
fi
if [ -e $I/multi.hvt ] && mktap tap1 && mktap tap2; then
    disks=""
    for i in $(seq 1 61); do
        dd if=/dev/zero of=/tmp/disk$i.img bs=512 count=1 2> /dev/null
        disks="$disks --block:disk$i=/tmp/disk$i.img"
    done
    run sixty_one_disks_and_two_nics_at_once 0 $T $disks --net:net0=tap1 --net:net1=tap2 $I/multi.hvt
    has SUCCESS
    [ "$(head -c 6 /tmp/disk61.img)" = disk61 ] || why="$why; disk61 does not start with its name"
    verdict
else
    skip multi "no multi guest or TAPs"
fi

# The integration suite itself (tests/tests/*.rs, cross-built; xtask/src/aarch64/toolchain.rs
# lists which), each test in its own process: one line per libtest JSON event and one with
# its exit status, marked for the host, which counts them (a test that printed SKIP counts as
# skipped; one that reported nothing, or exited non-zero without failing, as failed).
# Arch-specific cases are cfg'd in the suite. KVM must work here; namespaces need not.
export TENDER_BIN=$T TENDER_IMAGES=$I RUSTC_BOOTSTRAP=1 TENDER_REQUIRE_KVM=1 TENDER_REQUIRE_NETNS=0
for t in /tests/*; do
    [ -x "$t" ] || continue
    b=${t##*/}
    "$t" --list --format terse 2> /dev/null | sed -n 's/: test$//p' > /tmp/suite.names
    echo "aarch64-vm: suite-list $b $(wc -l < /tmp/suite.names)"
    while read -r n; do
        "$t" --exact "$n" --test-threads=1 -Z unstable-options --format json --show-output \
            > /tmp/suite.json 2> /tmp/suite.err
        rc=$?
        sed "s|^|aarch64-vm: json $b |" /tmp/suite.json
        [ "$rc" = 0 ] || sed "s|^|aarch64-vm: $b stderr: |" /tmp/suite.err
        echo "aarch64-vm: suite-exit $b $rc $n"
    done < /tmp/suite.names
done

echo "aarch64-vm: $pass passed, $fail failed"
