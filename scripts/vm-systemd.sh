#!/usr/bin/env bash
# The systemd lane: boots Debian's bookworm cloud kernel under qemu (TCG) with systemd as PID 1
# (rdinit=/lib/systemd/systemd) on a small Debian root fs made by debootstrap (minbase +
# systemd, dbus, runc as the reference, jq, containerd for the podrun shim's cases), pure
# cgroup v2 by default. A oneshot unit runs
# scripts/vm-systemd/cases.sh and powers the VM off; each case prints one line
#   PODRUN-CASE <name> PASS|FAIL <detail>
# and the run ends with `PODRUN-VM-DONE`. runtime-tests/vm_systemd.rs turns them into tests.
# Exit code: 0 when the VM finished and every case passed, 1 otherwise.
#
# Caches (under target/, ignored by git): the kernel is scripts/vm-kernel.sh's, shared with
# the v2 lane (target/vm-v2); the root fs is debootstrapped once into
# target/vm-systemd/rootfs-<hash of the package list and suite> and packed once as an
# uncompressed cpio next to it (it boots faster than a gzipped one under TCG). Each run only
# appends a second cpio with its own files (binaries, bundle, cases, the unit), which the
# kernel unpacks over the first. qemu is killed by its recorded PID on any exit.
# Env: PODRUN_BIN_DIR, PODRUN_VM_CACHE (kernel), PODRUN_VM_SYSTEMD_CACHE (root fs),
# PODRUN_VM_TIMEOUT (seconds, 420), PODRUN_VM_CGROUP=v2|hybrid (hybrid: the v1 layout,
# systemd.unified_cgroup_hierarchy=0).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${PODRUN_BIN_DIR:-$REPO/target/x86_64-unknown-linux-gnu/release}
KCACHE=${PODRUN_VM_CACHE:-$REPO/target/vm-v2}
CACHE=${PODRUN_VM_SYSTEMD_CACHE:-$REPO/target/vm-systemd}
TIMEOUT=${PODRUN_VM_TIMEOUT:-420}
LAYOUT=${PODRUN_VM_CGROUP:-v2}
ROOTFS=$REPO/oci-bundles/rootfs
SUITE=bookworm
PACKAGES=systemd,systemd-sysv,dbus,runc,jq,procps,containerd

log() { printf 'vm-systemd: %s\n' "$*" >&2; }
die() { printf 'vm-systemd: error: %s\n' "$*" >&2; exit 1; }

for tool in qemu-system-x86_64 cpio jq apt-get dpkg debootstrap flock sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/setup.sh installs it)"
done
for b in podrun podrun-init podrun-pause containerd-shim-podrun-v2; do
    [ -x "$BIN_DIR/$b" ] || die "$BIN_DIR/$b is missing: cargo build --release"
done
[ -x "$ROOTFS/bin/busybox" ] || die "$ROOTFS is missing: run scripts/setup.sh"

# shellcheck source=scripts/vm-kernel.sh
. "$REPO/scripts/vm-kernel.sh"
vm_kernel "$KCACHE"

# The Debian mirror apt uses here (deb822 .sources or a one-line sources.list).
mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$SUITE" '
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
            /^$/ { if (ok && uri != "") { print uri; exit } ok = 0; uri = "" }
            END { if (ok && uri != "") print uri }' "$f" | head -n1
    done
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
        awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2 }'
}
MIRROR=$(mirror | head -n1)
[ -n "$MIRROR" ] || die "no $SUITE mirror in apt's sources"

# The root fs, once per package list: debootstrap into a temp dir, then packed as a cpio.
KEY=$(printf '%s %s\n' "$SUITE" "$PACKAGES" | sha256sum | cut -c1-12)
BASE=$CACHE/rootfs-$KEY.cpio
mkdir -p "$CACHE"
exec {lock}>"$CACHE/.rootfs.lock"
flock "$lock"
if [ ! -f "$BASE" ]; then
    tree=$CACHE/rootfs-$KEY.tmp
    rm -rf "$tree"
    log "debootstrap $SUITE ($PACKAGES) from $MIRROR into $tree"
    t0=$(date +%s)
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$tree" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
        { tail -n 30 "$CACHE/debootstrap.log" >&2; rm -rf "$tree"; die "debootstrap failed"; }
    rm -rf "$tree/var/cache/apt/archives/"*.deb "$tree/var/lib/apt/lists/"* "$tree/usr/share/doc" "$tree/usr/share/man" "$tree/usr/share/locale"
    # containerd's shims the cases do not use (only runc.v2 and podrun's): a smaller initramfs.
    rm -f "$tree/usr/bin/containerd-shim" "$tree/usr/bin/containerd-shim-runc-v1" "$tree/usr/bin/containerd-stress"
    (cd "$tree" && find . -print0 | cpio --null -o -H newc --quiet) >"$BASE.tmp"
    mv "$BASE.tmp" "$BASE"
    rm -rf "$tree"
    log "root fs cached: $(du -m "$BASE" | cut -f1) MiB in $(($(date +%s) - t0)) s"
fi
exec {lock}>&-

WORK=$(mktemp -d "${TMPDIR:-/tmp}/podrun-vm-systemd.XXXXXX")
QPID=
cleanup() {
    local qemu
    qemu=$(cat "$WORK/qemu.pid" 2>/dev/null || true)
    if [ -n "$qemu" ] && [ "$(cat "/proc/$qemu/comm" 2>/dev/null)" = qemu-system-x86 ]; then
        kill -KILL "$qemu" 2>/dev/null || true
    fi
    if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
        kill -KILL "$QPID" 2>/dev/null || true
        wait "$QPID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The run's files, overlaid on the root fs. bookworm's /bin, /lib, /sbin are symlinks into
# usr/: everything goes under usr/ or etc/, never to a path that would replace them.
S=$WORK/stage
P=$S/usr/local/lib/podrun
mkdir -p "$S/usr/local/bin" "$P" "$S/etc/systemd/system/multi-user.target.wants"
for b in podrun podrun-init podrun-pause containerd-shim-podrun-v2; do
    install -m 0755 "$BIN_DIR/$b" "$S/usr/local/bin/$b"
done
# The busybox image for containerd's cases, built here (no registry): `ctr images import`.
bash "$REPO/scripts/oci-image.sh" "$P/busybox.tar" localhost/podrun-busybox:latest >/dev/null
mkdir -p "$P/rootfs"
cp -a "$ROOTFS/." "$P/rootfs/"
vm_base_config "$BIN_DIR/podrun" "$WORK" . >"$P/base.json"
install -m 0755 "$REPO/scripts/vm-systemd/cases.sh" "$P/cases.sh"
install -m 0644 "$REPO/scripts/vm-systemd/podrun-cases.service" "$S/etc/systemd/system/podrun-cases.service"
ln -s ../podrun-cases.service "$S/etc/systemd/system/multi-user.target.wants/podrun-cases.service"
ln -s /lib/systemd/system/multi-user.target "$S/etc/systemd/system/default.target"
# What a test VM does not need on its way to the unit (≈ 6.5 s boot instead of much more).
for u in getty@.service serial-getty@.service console-getty.service getty.target \
    apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
    systemd-tmpfiles-clean.timer timers.target systemd-logind.service systemd-firstboot.service \
    systemd-machine-id-commit.service ldconfig.service systemd-hwdb-update.service \
    systemd-journal-catalog-update.service systemd-update-done.service systemd-pstore.service \
    systemd-modules-load.service systemd-binfmt.service sys-kernel-debug.mount \
    sys-kernel-tracing.mount sys-fs-fuse-connections.mount sys-kernel-config.mount \
    systemd-random-seed.service systemd-update-utmp.service systemd-update-utmp-runlevel.service \
    e2scrub_reap.service containerd.service; do
    ln -s /dev/null "$S/etc/systemd/system/$u"
done
(cd "$S" && find . -print0 | cpio --null -o -H newc --quiet) >"$WORK/overlay.cpio"
cat "$BASE" "$WORK/overlay.cpio" >"$WORK/initrd.cpio"
rm -rf "$S" "$WORK/overlay.cpio"

cg_args="systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all"
if [ "$LAYOUT" = hybrid ]; then
    cg_args="systemd.unified_cgroup_hierarchy=0"
fi
log "initramfs $(du -m "$WORK/initrd.cpio" | cut -f1) MiB, kernel $KERNEL_PACKAGE, cgroups $LAYOUT"
start=$(date +%s)
timeout --kill-after=5 "$TIMEOUT" qemu-system-x86_64 -cpu max -m 2048 -smp 2 \
    -nic none -display none -monitor none -serial "file:$WORK/console.log" -no-reboot \
    -pidfile "$WORK/qemu.pid" \
    -kernel "$VMLINUZ" -initrd "$WORK/initrd.cpio" \
    -append "console=ttyS0 panic=-1 quiet rdinit=/lib/systemd/systemd $cg_args systemd.show_status=0 podrun.layout=$LAYOUT" \
    </dev/null >"$WORK/qemu.out" 2>&1 &
QPID=$!
set +e
wait "$QPID"
rc=$?
set -e
QPID=
tr -d '\r' <"$WORK/console.log"
cat "$WORK/qemu.out" >&2
log "qemu exit code $rc after $(($(date +%s) - start)) s"
[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || log "TIMED OUT after ${TIMEOUT}s"
grep -q '^PODRUN-VM-DONE' "$WORK/console.log" || { log "the VM did not finish its cases"; exit 1; }
if grep -q '^PODRUN-CASE [^ ]* FAIL' "$WORK/console.log"; then
    exit 1
fi
exit 0
