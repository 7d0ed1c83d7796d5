#!/bin/sh
# /init of the pure cgroup v2 VM (scripts/vm-v2.sh). Stage 1 copies the initramfs into a tmpfs
# and switch_roots there (pivot_root fails with EINVAL while / is the initramfs itself);
# stage 2 mounts cgroup2 alone at /sys/fs/cgroup, enables every controller, loads the modules,
# runs /cases.sh and ends the VM (qemu runs with -no-reboot).
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

if [ ! -e /.stage2 ]; then
    mkdir -p /newroot
    mount -t tmpfs -o size=800m,mode=755 tmpfs /newroot
    for d in /*; do
        case "$d" in /proc | /sys | /dev | /newroot) ;; *) cp -a "$d" /newroot/ ;; esac
    done
    mkdir -p /newroot/proc /newroot/sys /newroot/dev
    touch /newroot/.stage2
    exec switch_root /newroot /init
    echo "PODRUN-VM-ERROR switch_root failed"
    reboot -f
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /run /tmp /var/lib
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
dmesg -n 1 # kernel messages (OOM kills) must not split the result lines
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
    echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
done
echo "PODRUN-VM cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
echo "PODRUN-VM cgroup mounts: $(grep cgroup /proc/mounts | tr '\n' ';')"
for m in $(cat /lib/podrun-modules/order); do
    insmod "/lib/podrun-modules/$m.ko" || echo "PODRUN-VM-ERROR insmod $m failed"
done
ip link set lo up
echo "PODRUN-VM kernel $(uname -r), cases start at $(cut -d' ' -f1 /proc/uptime) s"
sh /cases.sh
echo "PODRUN-VM-DONE at $(cut -d' ' -f1 /proc/uptime) s"
sync
reboot -f
