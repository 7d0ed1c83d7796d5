#!/usr/bin/env bash
# The demo: a pod of two busybox containers sharing localhost, and a second pod that reaches
# the first over the node bridge.
#   1. pod `web`: a pause process owning fresh net/ipc/uts namespaces, an eth0 from a veth
#      pair on the bridge `podrun-demo0`, an address from 10.244.77.0/24;
#   2. container `web-server` in pod web: busybox httpd on port 8080;
#   3. container `web-client` in pod web: fetches http://localhost:8080/ (same netns);
#   4. pod `client` + container `client-fetch`: fetches http://<web's IP>:8080/ over the bridge;
#   5. teardown: everything (pods, containers, veths, bridge, IPs, state) is removed on exit,
#      also when a step fails.
# Traffic stays on the demo's own bridge and namespaces: no NAT, nothing leaves the machine.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: error: run as root: sudo scripts/demo.sh" >&2
    exit 1
fi

# PODRUN_DEMO_SKIP_SETUP=1: the binary and rootfs are already built (runtime-tests/demo.rs)
[ "${PODRUN_DEMO_SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh
# the triple is fixed by .cargo/config.toml (a static build)
PODRUN="$REPO/target/x86_64-unknown-linux-gnu/release/podrun"
BRIDGE=podrun-demo0
SUBNET=10.244.77.0/24
WORK=$(mktemp -d /tmp/podrun-demo.XXXXXX)
ROOT="$WORK/state"
STORE="$WORK/ipam"

cleanup() {
    local rc=$?
    trap - EXIT
    printf '\n== teardown\n'
    for pod in client web; do
        if [ -d "$ROOT/pods/$pod" ]; then
            echo "\$ podrun pod delete --force $pod"
            "$PODRUN" --root "$ROOT" pod delete --force "$pod" || rc=1
        fi
    done
    for id in $(ls "$ROOT" 2>/dev/null | grep -v '^pods$' || true); do
        "$PODRUN" --root "$ROOT" delete --force "$id" || rc=1
    done
    if ip link show "$BRIDGE" >/dev/null 2>&1; then
        echo "demo: bridge $BRIDGE still present after the last pod; removing it" >&2
        ip link del "$BRIDGE" || true
        rc=1
    else
        echo "bridge $BRIDGE removed with the last pod; IPAM store: $(ls -A "$STORE" 2>/dev/null | wc -l) entries left"
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

podrun() { "$PODRUN" --root "$ROOT" "$@"; }
step() { printf '\n== %s\n' "$*"; }
show() { printf '$ podrun %s\n' "$*"; podrun "$@"; }

# A bundle running busybox `args...` on the shared, read-only busybox rootfs, with the
# demo's web root bind-mounted read-only at /www.
bundle() {
    local name=$1; shift
    local dir="$WORK/bundles/$name"
    mkdir -p "$dir"
    local args
    args=$(jq -n -c '$ARGS.positional' --args -- "$@")
    jq --arg rootfs "$REPO/oci-bundles/rootfs" --arg www "$WORK/www" --argjson args "$args" \
        '.root = {path: $rootfs, readonly: true}
         | .process.args = $args
         | .mounts += [{destination: "/www", type: "bind", source: $www, options: ["rbind", "ro"]}]' \
        "$REPO/oci-bundles/sleeper/config.json" >"$dir/config.json"
    echo "$dir"
}

mkdir -p "$WORK/www"
echo "hello from pod web (served by busybox httpd in container web-server)" >"$WORK/www/index.html"

step "1. pod web: pause process + eth0 on bridge $BRIDGE"
show pod create --bridge "$BRIDGE" --subnet "$SUBNET" --store-dir "$STORE" web
WEB=$(podrun pod state web)
WEB_IP=$(jq -r '.ip' <<<"$WEB")
echo "pod web: pause pid $(jq -r .pid <<<"$WEB"), eth0 $WEB_IP, host veth $(jq -r .network.hostVeth <<<"$WEB") on $(jq -r .bridge <<<"$WEB")"
echo "host side: $(ip -o -4 addr show dev "$BRIDGE" | awk '{print $2, $4}') (gateway)"

step "2. container web-server in pod web: httpd on :8080"
show run -d --pod web --bundle "$(bundle server httpd -f -p 8080 -h /www)" web-server
echo "web-server: pid $(podrun state web-server | jq -r .pid), status $(podrun state web-server | jq -r .status)"

step "3. container web-client in pod web: wget http://localhost:8080/ (shared netns)"
show run --pod web --bundle "$(bundle client sh -c '
    echo "in $(hostname): eth0 $(ip -o -4 addr show dev eth0 | awk "{print \$4}"), netns $(readlink /proc/self/ns/net)"
    for i in $(seq 50); do wget -q -O - http://localhost:8080/ 2>/dev/null && exit 0; usleep 100000; done
    echo "no answer from localhost:8080" >&2; exit 1')" web-client
echo "pod web netns: $(readlink /proc/"$(jq -r .pid <<<"$WEB")"/ns/net) (the same for both containers)"

step "4. pod client: wget http://${WEB_IP%/*}:8080/ across the bridge"
show pod create --bridge "$BRIDGE" --subnet "$SUBNET" --store-dir "$STORE" client
echo "pod client: eth0 $(podrun pod state client | jq -r .ip)"
show run --pod client --bundle "$(bundle fetch sh -c "
    wget -q -O - http://${WEB_IP%/*}:8080/ && echo \"(fetched by \$(hostname) from ${WEB_IP%/*})\"")" client-fetch

step "pods"
show pod list
