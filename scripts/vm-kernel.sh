# Sourced by scripts/vm-v2.sh and scripts/vm-systemd.sh: Debian's cloud kernel for the qemu
# lanes. `vm_kernel CACHE` downloads (`apt-get download`, never installs) and unpacks with
# `dpkg -x` the package linux-image-cloud-amd64 depends on into CACHE/kernel/<package> once,
# and sets VMLINUZ (the kernel image) and KMODS (its lib/modules/<version> dir).
# Needs log() and die() from the sourcing script.

vm_kernel_package() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}

vm_kernel() {
    local cache=$1 pkg kdir deb lock
    # Both lanes may start at once (one cargo test run): one download at a time.
    mkdir -p "$cache"
    exec {lock}>"$cache/.kernel.lock"
    flock "$lock"
    pkg=$(vm_kernel_package)
    if [ -z "$pkg" ]; then
        log "apt-get update (linux-image-cloud-amd64 is not in apt's lists)"
        apt-get update -q >/dev/null
        pkg=$(vm_kernel_package)
    fi
    [ -n "$pkg" ] || die "no package found behind linux-image-cloud-amd64"
    kdir=$cache/kernel/$pkg
    if [ ! -f "$kdir/.unpacked" ]; then
        log "downloading and unpacking $pkg into $kdir (never installed)"
        rm -rf "$kdir" "$kdir.tmp"
        mkdir -p "$kdir.tmp/deb"
        # _apt cannot write into a root-owned 0700 dir: download as root into a fresh dir.
        (cd "$kdir.tmp/deb" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
        deb=$(ls "$kdir.tmp/deb/"*.deb 2>/dev/null | head -n1)
        [ -n "$deb" ] || die "apt-get download $pkg produced no .deb"
        dpkg -x "$deb" "$kdir.tmp/root"
        rm -rf "$kdir.tmp/deb"
        touch "$kdir.tmp/.unpacked"
        mv "$kdir.tmp" "$kdir"
    fi
    exec {lock}>&-
    KERNEL_PACKAGE=$pkg
    VMLINUZ=$(ls "$kdir"/root/boot/vmlinuz-* | head -n1)
    KMODS=$(ls -d "$kdir"/root/lib/modules/* | head -n1)
}

# vm_base_config PODRUN DIR FILTER: the base config of every VM case on stdout: podrun's default
# spec (written into DIR) with Docker's default capabilities (CAP_MKNOD included) and device
# list, then the jq FILTER (`.` for none); the cases change it with jq inside the VM.
vm_base_config() {
    "$1" spec --bundle "$2"
    jq '
  .process.terminal = false
  | .root = {path: "rootfs", readonly: false}
  | .process.capabilities = ({
      bounding: ["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD",
                 "CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP",
                 "CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]
    } | .effective = .bounding | .permitted = .bounding)
  | .linux.resources.devices = [
      {allow: false, access: "rwm"},
      {allow: true, type: "c", access: "m"},
      {allow: true, type: "b", access: "m"},
      {allow: true, type: "c", major: 1, minor: 3, access: "rwm"},
      {allow: true, type: "c", major: 1, minor: 5, access: "rwm"},
      {allow: true, type: "c", major: 1, minor: 7, access: "rwm"},
      {allow: true, type: "c", major: 1, minor: 8, access: "rwm"},
      {allow: true, type: "c", major: 1, minor: 9, access: "rwm"},
      {allow: true, type: "c", major: 5, minor: 0, access: "rwm"},
      {allow: true, type: "c", major: 5, minor: 1, access: "rwm"},
      {allow: true, type: "c", major: 5, minor: 2, access: "rwm"},
      {allow: true, type: "c", major: 136, access: "rwm"}
    ]
    | '"$3" "$2/config.json"
}
