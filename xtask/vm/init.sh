#!/bin/busybox sh
# /init of the arm64 test VM (built by xtask/src/aarch64/initramfs.rs): set up a
# minimal system, load the modules the tests need, run the tests, power off.
# Every line meant for the host starts with "aarch64-vm:".
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run

echo "aarch64-vm: booted Linux $(uname -r) on $(uname -m), $(grep -c ^processor /proc/cpuinfo) CPUs, $(uptime)"
while read -r m; do
    [ -n "$m" ] && { insmod "/modules/$m.ko" || echo "aarch64-vm: could not load module $m"; }
done < /modules/load-order
if [ ! -c /dev/kvm ]; then
    echo "aarch64-vm: /dev/kvm is missing; the kernel says:"
    dmesg | grep -i -E 'kvm|hyp' | sed 's/^/aarch64-vm:   /'
fi
[ -c /dev/net/tun ] || { mkdir -p /dev/net && mknod /dev/net/tun c 10 200; }

sh /run-tests.sh
echo "aarch64-vm: done after $(cut -d' ' -f1 /proc/uptime) s of uptime"
sync
poweroff -f
