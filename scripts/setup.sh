#!/usr/bin/env bash
# Prepares this checkout for the demo and the tests. Idempotent: a second run only checks.
#   1. installs the Debian packages below (apt-get, only the missing ones)
#   2. builds the busybox rootfs at oci-bundles/rootfs (only when missing or busybox changed)
#      and hard-links it into each example bundle (oci-bundles/<bundle>/rootfs)
#   3. builds the release binaries (cargo build --release)
#   4. links containerd-shim-podrun-v2 into /usr/local/sbin (on containerd's PATH)
# Needs root when something must be installed. Works without a tty (CI).
set -euo pipefail

# Every Debian package the scripts and tests use.
PACKAGES=(
    busybox-static              # the rootfs of the example bundles
    iproute2                    # ip: tests inspect links, addresses, routes, netns
    jq                          # scripts read JSON
    runc crun                   # reference runtimes the tests and benchmarks compare with
    hyperfine                   # benchmarks
    time                        # /usr/bin/time: peak RSS in the benchmarks
    strace                      # debugging the runtime
    libseccomp-dev pkg-config   # seccomp
    containernetworking-plugins # reference CNI plugins (/usr/lib/cni)
    util-linux                  # unshare, nsenter, mount, findmnt
    procps                      # ps, pgrep (tests look processes up by recorded PID only)
    containerd                  # real-client tests: containerd + ctr + containerd-shim-runc-v2
    podman conmon               # real-client tests: podman 4.3 and its container monitor
    catatonit                   # init of the locally built podman pod infra image
    etcd-server etcd-client     # node agent tests: a real etcd v3 (and etcdctl)
    protobuf-compiler           # protoc: etcd-client (podrun-node) and the k8s-cri test client compile .proto files at build time
    docker.io                   # real-client tests: dockerd 20.10 + /usr/bin/docker (+ tini as docker-init)
    qemu-system-x86 cpio        # the pure cgroup v2 lane (scripts/vm-v2.sh): a VM from an initramfs
    debootstrap                 # the systemd lane (scripts/vm-systemd.sh): its Debian root fs with systemd as PID 1
    uidmap passwd               # rootless: newuidmap/newgidmap for subid mappings; useradd/userdel for the test user
)

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUNDLES_DIR="$REPO/oci-bundles"
ROOTFS="$BUNDLES_DIR/rootfs"
BUSYBOX=/bin/busybox
# Bump when the layout built by build_rootfs changes, so existing rootfs dirs are rebuilt.
ROOTFS_LAYOUT=1
STAMP_FILE=etc/podrun-rootfs.stamp

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

missing_packages() {
    local p status
    for p in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || printf '%s\n' "$p"
    done
}

install_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    if [ "${#missing[@]}" -eq 0 ]; then
        log "packages: all ${#PACKAGES[@]} installed"
        return
    fi
    [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root: sudo $0"
    log "packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # Packages with a service (docker.io, containerd) must not start it: the tests run their
    # own private daemons. A policy-rc.d that exits 101 forbids invoke-rc.d to start anything;
    # it is removed afterwards only if this script put it there.
    local policy=/usr/sbin/policy-rc.d policy_made=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# made by podrun scripts/setup.sh: no service starts during install\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        policy_made=1
    fi
    local rc=0
    apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
    [ -z "$policy_made" ] || rm -f "$policy"
    [ "$rc" -eq 0 ] || die "apt-get install failed (exit $rc)"
}

# The stamp names what the rootfs was built from: the busybox binary and the layout version.
rootfs_stamp() {
    printf 'layout=%s busybox-sha256=%s\n' "$ROOTFS_LAYOUT" "$(sha256sum "$BUSYBOX" | cut -d' ' -f1)"
}

rootfs_up_to_date() {
    [ -f "$ROOTFS/$STAMP_FILE" ] && [ "$(cat "$ROOTFS/$STAMP_FILE")" = "$(rootfs_stamp)" ]
}

# Writes the busybox rootfs into $1: bin/busybox, one symlink per applet, /etc basics, empty
# mount points.
build_rootfs() {
    local dir=$1 applet
    mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,root,proc,sys,dev,run,var,tmp}
    chmod 1777 "$dir/tmp"
    chmod 700 "$dir/root"
    install -m 0755 "$BUSYBOX" "$dir/bin/busybox"
    # `--list-full` prints each applet with its install dir (bin/sh, usr/bin/env, ...).
    while read -r applet; do
        case "$applet" in
            */*) [ -e "$dir/$applet" ] || [ -L "$dir/$applet" ] || ln -s /bin/busybox "$dir/$applet" ;;
        esac
    done < <("$BUSYBOX" --list-full)
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
        'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$dir/etc/passwd"
    printf '%s\n' 'root:x:0:' 'tty:x:5:' 'nogroup:x:65534:' >"$dir/etc/group"
    printf 'podrun\n' >"$dir/etc/hostname"
    # Present so that runtimes and pods can bind-mount over them on a read-only rootfs.
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$dir/etc/hosts"
    : >"$dir/etc/resolv.conf"
    rootfs_stamp >"$dir/$STAMP_FILE"
}

# Builds next to the final place and renames, so an interrupted run never leaves half a rootfs.
ensure_rootfs() {
    [ -x "$BUSYBOX" ] || die "$BUSYBOX is missing (package busybox-static)"
    if rootfs_up_to_date; then
        log "rootfs: $ROOTFS is up to date"
    else
        log "rootfs: building $ROOTFS from $BUSYBOX"
        local tmp="$ROOTFS.tmp.$$"
        rm -rf "$tmp"
        build_rootfs "$tmp"
        rm -rf "$ROOTFS"
        mv "$tmp" "$ROOTFS"
    fi
    link_bundle_rootfs
}

# Gives each bundle its own rootfs dir made of hard links to the shared one: no space used, and
# `runc run` accepts it (runc refuses a rootfs that is a symlink). A bundle whose stamp file is not
# the shared stamp's inode is stale (the shared rootfs was rebuilt) and is linked again.
link_bundle_rootfs() {
    local bundle
    for bundle in "$BUNDLES_DIR"/*/config.json; do
        bundle=$(dirname "$bundle")
        [ ! -L "$bundle/rootfs" ] && [ "$bundle/rootfs/$STAMP_FILE" -ef "$ROOTFS/$STAMP_FILE" ] && continue
        rm -rf "$bundle/rootfs"
        cp -al "$ROOTFS" "$bundle/rootfs"
    done
}

# sudo resets PATH; find the toolchain of root or of the user who called sudo.
find_cargo() {
    command -v cargo >/dev/null 2>&1 && return
    local home
    for home in "$HOME" "$(getent passwd "${SUDO_USER:-}" | cut -d: -f6)"; do
        if [ -n "$home" ] && [ -x "$home/.cargo/bin/cargo" ]; then
            export PATH="$home/.cargo/bin:$PATH"
            export CARGO_HOME="${CARGO_HOME:-$home/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$home/.rustup}"
            return
        fi
    done
    die "cargo not found: install Rust (https://rustup.rs) or put cargo on PATH"
}

build_release() {
    find_cargo
    log "cargo build --release"
    (cd "$REPO" && cargo build --release)
}

# containerd finds a runtime v2 shim by name on its PATH: io.containerd.podrun.v2 ->
# containerd-shim-podrun-v2. A symlink in /usr/local/sbin to the release binary (which finds
# podrun-init and podrun-pause beside itself, through /proc/self/exe).
link_shim() {
    local bin="$REPO/target/x86_64-unknown-linux-gnu/release/containerd-shim-podrun-v2"
    [ -x "$bin" ] || die "$bin missing after the build"
    mkdir -p /usr/local/sbin
    ln -sfn "$bin" /usr/local/sbin/containerd-shim-podrun-v2
    log "containerd shim: /usr/local/sbin/containerd-shim-podrun-v2 -> $bin"
}

install_packages
ensure_rootfs
build_release
link_shim
log "done"
