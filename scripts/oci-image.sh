#!/usr/bin/env bash
# Builds an OCI image archive (an OCI image layout in a tar) from a root filesystem directory,
# with plain tar + sha256sum + jq: no registry, no daemon. The result is importable by
# `ctr images import` and loadable by `podman load`; with `--docker-archive`, a docker-archive
# (what `docker save` writes) loadable by `docker load` instead.
#
#   scripts/oci-image.sh [--docker-archive] [--rootfs DIR] [--entrypoint JSON] [--cmd JSON] OUT.tar [NAME]
#
#   --docker-archive   write manifest.json + <config digest>.json + <layer digest>/layer.tar
#                      (docker load names the image by manifest.json's RepoTags)
#   --rootfs DIR       the image's only layer (default: oci-bundles/rootfs, the busybox rootfs
#                      built by scripts/setup.sh)
#   --entrypoint JSON  the image config's Entrypoint, e.g. '["/catatonit","-P"]' (default: none)
#   --cmd JSON         the image config's Cmd (default: ["/bin/sh"])
#   NAME               the image reference (default: localhost/podrun-busybox:latest)
#
# The name is recorded twice in index.json: as `io.containerd.image.name` (what ctr import
# names the image by) and as `org.opencontainers.image.ref.name` (what podman load names an
# OCI archive by). The layer is an uncompressed tar made reproducible (sorted names, owner 0,
# mtime 0), so the same rootfs always gives the same image id.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOTFS="$REPO/oci-bundles/rootfs"
ENTRYPOINT=null
CMD='["/bin/sh"]'
FORMAT=oci

die() { printf 'oci-image: error: %s\n' "$*" >&2; exit 1; }
usage() { die "usage: $0 [--docker-archive] [--rootfs DIR] [--entrypoint JSON] [--cmd JSON] OUT.tar [NAME]"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --docker-archive) FORMAT=docker; shift ;;
        --rootfs) [ $# -ge 2 ] || usage; ROOTFS=$2; shift 2 ;;
        --entrypoint) [ $# -ge 2 ] || usage; ENTRYPOINT=$2; shift 2 ;;
        --cmd) [ $# -ge 2 ] || usage; CMD=$2; shift 2 ;;
        --) shift; break ;;
        -*) usage ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] && [ $# -le 2 ] || usage
OUT=$1
NAME=${2:-localhost/podrun-busybox:latest}

command -v jq >/dev/null || die "jq is missing (scripts/setup.sh installs it)"
[ -d "$ROOTFS" ] || die "rootfs $ROOTFS is missing: run scripts/setup.sh first"
jq -e 'type == "array" or type == "null"' <<<"$ENTRYPOINT" >/dev/null 2>&1 \
    || die "--entrypoint must be a JSON array: $ENTRYPOINT"
jq -e 'type == "array" or type == "null"' <<<"$CMD" >/dev/null 2>&1 \
    || die "--cmd must be a JSON array: $CMD"

case "$(uname -m)" in
    x86_64) ARCH=amd64 ;;
    aarch64) ARCH=arm64 ;;
    armv7l) ARCH=arm ;;
    *) ARCH=$(uname -m) ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/oci-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
BLOBS="$WORK/blobs/sha256"
mkdir -p "$BLOBS"

# Moves file $1 into blobs/ under its digest and prints "DIGEST SIZE".
add_blob() {
    local digest size
    digest=$(sha256sum "$1" | cut -d' ' -f1)
    size=$(stat -c %s "$1")
    mv "$1" "$BLOBS/$digest"
    printf 'sha256:%s %s\n' "$digest" "$size"
}

tar_reproducible() {
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=gnu "$@"
}

# The layer: the whole rootfs. Uncompressed, so its digest is also its diff id.
tar_reproducible -C "$ROOTFS" -cf "$WORK/layer" .
read -r LAYER_DIGEST LAYER_SIZE < <(add_blob "$WORK/layer")

jq -n --arg arch "$ARCH" --arg layer "$LAYER_DIGEST" \
    --argjson entrypoint "$ENTRYPOINT" --argjson cmd "$CMD" '{
    created: "1970-01-01T00:00:00Z",
    architecture: $arch,
    os: "linux",
    config: ({
        Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        WorkingDir: "/"
    } + (if $entrypoint == null then {} else {Entrypoint: $entrypoint} end)
      + (if $cmd == null then {} else {Cmd: $cmd} end)),
    rootfs: {type: "layers", diff_ids: [$layer]},
    history: [{created: "1970-01-01T00:00:00Z", created_by: "scripts/oci-image.sh"}]
}' >"$WORK/config"
read -r CONFIG_DIGEST CONFIG_SIZE < <(add_blob "$WORK/config")

# Tars the named files of directory $1 into OUT: written next to it and renamed, so a failed run
# never leaves half an archive.
write_archive() {
    local dir=$1
    shift
    tar_reproducible -C "$dir" -cf "$OUT.tmp.$$" "$@"
    mv "$OUT.tmp.$$" "$OUT"
    printf '%s\n' "$CONFIG_DIGEST"
}

if [ "$FORMAT" = docker ]; then
    # docker-archive: the same config and layer under the names `docker save` uses.
    DOCKER="$WORK/docker"
    mkdir -p "$DOCKER/${LAYER_DIGEST#sha256:}"
    mv "$BLOBS/${CONFIG_DIGEST#sha256:}" "$DOCKER/${CONFIG_DIGEST#sha256:}.json"
    mv "$BLOBS/${LAYER_DIGEST#sha256:}" "$DOCKER/${LAYER_DIGEST#sha256:}/layer.tar"
    jq -n --arg config "${CONFIG_DIGEST#sha256:}.json" --arg name "$NAME" \
        --arg layer "${LAYER_DIGEST#sha256:}/layer.tar" \
        '[{Config: $config, RepoTags: [$name], Layers: [$layer]}]' >"$DOCKER/manifest.json"
    write_archive "$DOCKER" manifest.json "${CONFIG_DIGEST#sha256:}.json" "${LAYER_DIGEST#sha256:}"
    exit 0
fi

jq -n --arg config "$CONFIG_DIGEST" --argjson config_size "$CONFIG_SIZE" \
    --arg layer "$LAYER_DIGEST" --argjson layer_size "$LAYER_SIZE" '{
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $config, size: $config_size},
    layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $layer, size: $layer_size}]
}' >"$WORK/manifest"
read -r MANIFEST_DIGEST MANIFEST_SIZE < <(add_blob "$WORK/manifest")

jq -n --arg manifest "$MANIFEST_DIGEST" --argjson size "$MANIFEST_SIZE" --arg name "$NAME" \
    --arg arch "$ARCH" '{
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: $manifest,
        size: $size,
        platform: {architecture: $arch, os: "linux"},
        annotations: {
            "io.containerd.image.name": $name,
            "org.opencontainers.image.ref.name": $name
        }
    }]
}' >"$WORK/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$WORK/oci-layout"

write_archive "$WORK" oci-layout index.json blobs
