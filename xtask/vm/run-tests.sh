#!/bin/sh
# The AArch64 test scenarios, run inside the arm64 VM on its (nested) KVM: the
# same behaviours the x86_64 integration tests check (tests/tests/*.rs). Prints
# "aarch64-vm: PASS <name>" or "aarch64-vm: FAIL <name>: <why>" (with the
# output) per test and a final "aarch64-vm: N passed, M failed".

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

# The examples.
run hello_with_arguments 0 $T $I/hello.hvt one two
has "Hello, world!"; has "arg[0]: one"; has "arg[1]: two"; has SUCCESS; verdict
run hello_without_arguments 0 $T $I/hello.hvt
has "no arguments"; has SUCCESS; verdict
run time_sleeps_accurately 0 $T $I/time.hvt
has SUCCESS; verdict; show
run abort_exits_255_with_the_panic_message 255 $T $I/abort.hvt
has "panicked"; lacks SUCCESS; verdict
run fault_reports_the_trap_and_exits_255 255 $T $I/fault.hvt
has "guest-rt: trap: synchronous exception"; has "data abort, same EL"; has "FAR 0x8"; lacks SUCCESS
verdict; show
run globals_are_initialized_and_bss_is_zero 0 $T $I/globals.hvt
has SUCCESS; verdict

# Memory sizes: the smallest, an odd one, the largest (every PMD and the stack at 4 GiB - 16).
run smallest_memory_2_mib 0 $T --mem=2 $I/hello.hvt
has SUCCESS; verdict
run odd_memory_is_rounded_down 0 $T --mem=5 $I/globals.hvt
has "rounded"; has SUCCESS; verdict
run largest_memory_4_gib 0 $T --mem=4096 $I/globals.hvt
has SUCCESS; verdict
run too_much_memory_is_an_error 1 $T --mem=4098 $I/hello.hvt
has "tender:"; verdict

# Bad images and command lines.
echo "just text" > /tmp/text.hvt
run text_file_is_not_an_executable 1 $T /tmp/text.hvt
has "tender: /tmp/text.hvt:"; has "invalid executable"; verdict
run missing_file_is_named 1 $T /nonexistent/k.hvt
has "/nonexistent/k.hvt: Could not read the kernel image"; verdict
if [ -e $I/foreign/hello.hvt ]; then
    run x86_64_image_is_rejected 1 $T $I/foreign/hello.hvt
    has "invalid executable"; verdict
fi
run version_names_the_abi 0 $T --version
has "ABI version 2"; verdict
run help_succeeds 0 $T --help
has "KERNEL"; verdict
run unknown_option_is_an_error 1 $T --frobnicate $I/hello.hvt
has "frobnicate"; verdict

# Hand-made hostile guests (xtask/src/aarch64/hostile.rs), if built.
for img in $I/hostile/*.hvt; do
    [ -e "$img" ] || break
    base=${img##*/}
    base=${base%.hvt}
    # File name: <name>.<expected status>.hvt; the expected message is in <name>.expect.
    want=${base##*.}
    case_name=${base%.*}
    expect=$(cat "$I/hostile/$case_name.expect")
    run "hostile_$case_name" "$want" $T "$img"
    [ -z "$expect" ] || has "$expect"
    verdict
done

if [ -e $I/hostile-spin.hvt ]; then
    start=$(cut -d' ' -f1 /proc/uptime)
    why=""
    name=sigterm_stops_a_spinning_guest
    $T $I/hostile-spin.hvt > /tmp/out 2>&1 &
    pid=$!
    sleep 1
    kill -TERM $pid
    wait $pid
    code=$?
    [ "$code" = 1 ] || why="exit status $code, expected 1"
    has "Exiting on signal 15"; verdict
fi

# Seccomp (tests/tests/seccomp.rs): the filter is on while a guest runs, and a call outside
# the list (the test-only hook makes getppid, 173 on arm64) kills tender with SIGSYS.
start=$(cut -d' ' -f1 /proc/uptime)
why=""
name=seccomp_filter_is_on_while_the_guest_runs
$T $I/time.hvt > /tmp/out 2>&1 &
pid=$!
sleep 1
mode=$(awk '/^Seccomp:/ { print $2 }' /proc/$pid/status)
kill -TERM $pid
wait $pid
[ "$mode" = 2 ] || why="Seccomp: '$mode', expected 2"
verdict
run seccomp_violation_dies_of_sigsys 159 env TENDER_TEST_SECCOMP_VIOLATION=1 $T $I/hello.hvt
has "tender: seccomp: blocked system call 173"; lacks "Hello"; verdict
run seccomp_off_is_off 0 env TENDER_TEST_SECCOMP_VIOLATION=1 $T --seccomp=off $I/hello.hvt
has "Hello, world!"; verdict

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

# Devices, once their guests exist.
if [ -e $I/blk.hvt ]; then
    for sector in 512 4096; do
        dd if=/dev/zero of=/tmp/disk.img bs=1024 count=1024 2> /dev/null
        run "blk_writes_and_verifies_the_whole_disk_$sector" 0 \
            $T --block:storage=/tmp/disk.img --block-sector-size:storage=$sector $I/blk.hvt
        has "block size $sector"; has SUCCESS; verdict
    done
else
    skip blk "no blk guest"
fi

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

echo "aarch64-vm: $pass passed, $fail failed"
