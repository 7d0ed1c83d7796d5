#!/usr/bin/env bash
# The pure cgroup v2 lane: boots Debian's bookworm cloud kernel under qemu (TCG) from an
# initramfs holding busybox, the static podrun binaries, Debian's runc (the reference) and the
# test driver scripts/vm-v2/cases.sh; cgroup2 is mounted alone at /sys/fs/cgroup with every
# controller enabled. Prints the guest's console; each case prints one line
#   PODRUN-CASE <name> PASS|FAIL <detail>
# and the run ends with `PODRUN-VM-DONE`. runtime-tests/vm_v2.rs turns the lines into tests.
# Exit code: 0 when the VM finished and every case passed, 1 otherwise.
#
# The kernel package (the one linux-image-cloud-amd64 depends on) is `apt-get download`ed and
# unpacked with `dpkg -x` into the cache dir (default target/vm-v2, ignored by git); it is never
# installed, and a second run re-uses it. Nothing is left behind: the initramfs and the staging
# dir are removed, qemu is killed by its recorded PID on any exit.
# Env: PODRUN_BIN_DIR (release binaries), PODRUN_VM_CACHE, PODRUN_VM_TIMEOUT (seconds, 300),
# PODRUN_VM_KVM=1 to try KVM (nested KVM fails on the CI machine kind: TCG is the default).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${PODRUN_BIN_DIR:-$REPO/target/x86_64-unknown-linux-gnu/release}
CACHE=${PODRUN_VM_CACHE:-$REPO/target/vm-v2}
TIMEOUT=${PODRUN_VM_TIMEOUT:-300}
ROOTFS=$REPO/oci-bundles/rootfs
MODULES=(llc stp bridge veth brd overlay) # insmod order: bridge needs stp and llc

log() { printf 'vm-v2: %s\n' "$*" >&2; }
die() { printf 'vm-v2: error: %s\n' "$*" >&2; exit 1; }

for tool in qemu-system-x86_64 cpio jq apt-get dpkg ldd; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/setup.sh installs it)"
done
for b in podrun podrun-init podrun-pause podrun-cni; do
    [ -x "$BIN_DIR/$b" ] || die "$BIN_DIR/$b is missing: cargo build --release"
done
[ -x "$ROOTFS/bin/busybox" ] || die "$ROOTFS is missing: run scripts/setup.sh"
RUNC=$(command -v runc) || die "runc is missing (scripts/setup.sh installs it)"

# The kernel: downloaded and unpacked once into $CACHE/kernel/<package> (shared with
# scripts/vm-systemd.sh).
# shellcheck source=scripts/vm-kernel.sh
. "$REPO/scripts/vm-kernel.sh"
vm_kernel "$CACHE"
pkg=$KERNEL_PACKAGE

WORK=$(mktemp -d "${TMPDIR:-/tmp}/podrun-vm-v2.XXXXXX")
QPID=
# qemu writes its own PID to $WORK/qemu.pid; $QPID is the `timeout` around it. Both are
# killed by those recorded PIDs (never by name) if still there.
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

# The initramfs: the busybox rootfs of the bundles as its base, plus everything below.
STAGE=$WORK/stage
cp -a "$ROOTFS" "$STAGE"
mkdir -p "$STAGE/usr/local/bin" "$STAGE/lib/podrun-modules" "$STAGE/rootfs"
cp -a "$ROOTFS/." "$STAGE/rootfs/" # the containers' rootfs
for b in podrun podrun-init podrun-pause podrun-cni; do
    install -m 0755 "$BIN_DIR/$b" "$STAGE/usr/local/bin/$b"
done
for m in "${MODULES[@]}"; do
    f=$(find "$KMODS/kernel" -name "$m.ko" -o -name "$m.ko.xz" | head -n1)
    [ -n "$f" ] || die "module $m not found under $KMODS"
    case "$f" in *.xz) xz -dc "$f" >"$STAGE/lib/podrun-modules/$m.ko" ;; *) cp "$f" "$STAGE/lib/podrun-modules/" ;; esac
done
printf '%s\n' "${MODULES[@]}" >"$STAGE/lib/podrun-modules/order"

# Dynamic tools (runc as the reference, jq for the configs) with their ldd libraries, under
# usr/ (the bundle rootfs has real /lib, /bin dirs; the libraries go where ldd found them).
copy_with_libs() {
    local bin=$1 dest=$2 lib
    install -D -m 0755 "$bin" "$STAGE$dest"
    for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
        [ -e "$STAGE$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$STAGE$lib"
    done
}
copy_with_libs "$RUNC" /usr/sbin/runc
copy_with_libs "$(command -v jq)" /usr/bin/jq
copy_with_libs "$(command -v setpriv)" /usr/local/bin/setpriv # util-linux's: the rootless cases (busybox's has no --reuid)
rm -f "$STAGE/bin/jq" "$STAGE/usr/bin/runc" # no busybox applets of those names, but be sure

# The base config of every case: podrun's default spec with Docker's default capabilities
# (CAP_MKNOD included) and device list; the cases change it with jq inside the VM.
vm_base_config "$BIN_DIR/podrun" "$WORK" \
    '.linux.resources.devices += [{allow: true, type: "c", major: 10, minor: 200, access: "rwm"}]' \
    >"$STAGE/base.json"
install -m 0755 "$REPO/scripts/vm-v2/init.sh" "$STAGE/init"
install -m 0755 "$REPO/scripts/vm-v2/cases.sh" "$STAGE/cases.sh"

# Uncompressed: it boots faster than a gzipped one under TCG.
(cd "$STAGE" && find . -print0 | cpio --null -o -H newc --quiet) >"$WORK/initrd.cpio"
rm -rf "$STAGE"
log "initramfs $(du -m "$WORK/initrd.cpio" | cut -f1) MiB, kernel $pkg"

accel=(-cpu max)
if [ "${PODRUN_VM_KVM:-0}" = 1 ] && [ -w /dev/kvm ]; then
    accel=(-enable-kvm -cpu host)
fi
start=$(date +%s)
# -nic none: the guest has no network to the outside; -no-reboot: `reboot -f` or a panic
# ends qemu. The hard timeout is qemu's own deadline; the PID is recorded for cleanup.
timeout --kill-after=5 "$TIMEOUT" qemu-system-x86_64 "${accel[@]}" -m 1024 -smp 2 \
    -nic none -display none -monitor none -serial "file:$WORK/console.log" -no-reboot \
    -pidfile "$WORK/qemu.pid" \
    -kernel "$VMLINUZ" -initrd "$WORK/initrd.cpio" \
    -append "console=ttyS0 panic=-1 quiet cgroup_no_v1=all rdinit=/init" \
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
