#!/bin/sh
# The AArch64 test scenarios, run inside the arm64 VM on its (nested) KVM: the
# same behaviours the x86_64 integration tests check (tests/tests/*.rs). Prints
# "aarch64-vm: PASS <name>" or "aarch64-vm: FAIL <name>: <why>" (with the
# output) per test and a final "aarch64-vm: N passed, M failed".

T=/tender
I=/images
pass=0
fail=0

# run NAME STATUS CMD...: runs CMD (60 s at most) and checks its exit status;
# then has/lacks check its output; verdict prints the result.
run() {
    name=$1
    want=$2
    shift 2
    why=""
    start=$(cut -d' ' -f1 /proc/uptime)
    timeout -s KILL 120 "$@" > /tmp/out 2>&1
    code=$?
    [ "$code" = "$want" ] || why="$why; exit status $code, expected $want"
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

# Devices, once their guests exist.
if [ -e $I/blk.hvt ]; then
    dd if=/dev/zero of=/tmp/disk.img bs=1024 count=1024 2> /dev/null
    run blk_writes_and_verifies_the_whole_disk 0 $T --block:storage=/tmp/disk.img $I/blk.hvt
    has SUCCESS; verdict
else
    skip blk "no blk guest yet"
fi

# Starts $T --net:service=tap0 IMAGE in the background; waits for "ready".
serve() {
    $T --net:service=tap0 "$1" > /tmp/guest.out 2>&1 &
    guest=$!
    i=0
    while [ $i -lt 300 ] && ! grep -q ready /tmp/guest.out; do
        kill -0 $guest 2> /dev/null || break
        sleep 0.2
        i=$((i + 1))
    done
}
stop() {
    kill $guest 2> /dev/null
    wait $guest 2> /dev/null
    cat /tmp/guest.out >> /tmp/out
}
if [ -e $I/ping.hvt ] || [ -e $I/http.hvt ]; then
    if ip tuntap add dev tap0 mode tap 2> /dev/null || tunctl -t tap0 > /dev/null; then
        ip addr add 10.0.0.1/24 dev tap0 2> /dev/null || ifconfig tap0 10.0.0.1 netmask 255.255.255.0
        ip link set tap0 up 2> /dev/null || ifconfig tap0 up
    else
        skip net "could not create a TAP interface"
    fi
fi
if [ -e $I/ping.hvt ] && [ -d /sys/class/net/tap0 ]; then
    serve $I/ping.hvt
    run ping_over_tap 0 ping -c 10 -i 0.2 -W 5 10.0.0.2
    stop
    has " 0% packet loss"; has "ready"; verdict
else
    skip ping_over_tap "no ping guest or TAP"
fi
if [ -e $I/http.hvt ] && [ -d /sys/class/net/tap0 ]; then
    serve $I/http.hvt
    run http_over_tap 0 wget -q -T 10 -O - http://10.0.0.2/
    stop
    has "tender"; has "ready"; verdict
else
    skip http_over_tap "no http guest or TAP"
fi

echo "aarch64-vm: $pass passed, $fail failed"
