#!/usr/bin/env bash
# The node agent's reaction time (issue 19): from a node's lease appearing in etcd to its route
# being present on every other node. A real etcd runs in an "underlay" netns of this script's
# own; two nodes (netns on the underlay bridge, 10.244.200.0/24, test-only) run
# `podrun node join` (host-gw). Each try puts a new lease key for a third node's subnet with
# etcdctl and polls both nodes' route tables (`ip -n ... route show`) until the route is in
# both. The lease appears somewhere between etcdctl's start (t0) and its exit (t1), so the
# figure is bounded: t2 - t1 (from the put's return: at most the agent's share) and t2 - t0
# (from the put's start: with etcdctl's own start and round trip).
#
# Usage: scripts/bench-node-agent.sh [TRIES]
# prints the medians, ms: "<from put return> <from put start> <etcdctl put alone>"
set -euo pipefail
TRIES=${1:-20}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PODRUN="$REPO/target/x86_64-unknown-linux-gnu/release/podrun"
for b in "$PODRUN" "${PODRUN%/*}/podrun-node" etcd etcdctl ip jq; do
    command -v "$b" >/dev/null 2>&1 || { echo "bench-node-agent: $b missing (scripts/setup.sh, cargo build --release)" >&2; exit 1; }
done
T=prbna$$
W=$(mktemp -d /tmp/podrun-bench-agent.XXXXXX)
PIDS=()
cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    for n in "$T-n1" "$T-n2" "$T-ul"; do ip netns del "$n" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
ip netns add "$T-ul"
ip -n "$T-ul" link set lo up
ip -n "$T-ul" link add ulbr type bridge
ip -n "$T-ul" addr add 10.244.200.254/24 dev ulbr
ip -n "$T-ul" link set ulbr up
for i in 1 2; do
    ip netns add "$T-n$i"
    ip -n "$T-n$i" link set lo up
    ip -n "$T-ul" link add "ul$i" type veth peer name ul0 netns "$T-n$i"
    ip -n "$T-ul" link set "ul$i" master ulbr up
    ip -n "$T-n$i" addr add "10.244.200.$i/24" dev ul0
    ip -n "$T-n$i" link set ul0 up
done
ctl() { ip netns exec "$T-ul" env ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:2379 "$@"; }
ip netns exec "$T-ul" etcd --name b --data-dir "$W/etcd" \
    --listen-client-urls http://10.244.200.254:2379,http://127.0.0.1:2379 \
    --advertise-client-urls http://10.244.200.254:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster b=http://127.0.0.1:2380 \
    >"$W/etcd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 200); do ctl endpoint health >/dev/null 2>&1 && break; sleep 0.05; done
ctl put /coreos.com/network/config '{"Network": "10.244.0.0/16", "SubnetMin": "10.244.1.0", "SubnetMax": "10.244.99.0", "Backend": {"Type": "host-gw"}}' >/dev/null
for i in 1 2; do
    ip netns exec "$T-n$i" "$PODRUN" --root "$W/root$i" node join --etcd-endpoints http://10.244.200.254:2379 \
        --public-ip "10.244.200.$i" --subnet-file "$W/subnet$i.env" 2>"$W/agent$i.log" &
    PIDS+=($!)
done
for _ in $(seq 1 400); do grep -q joined "$W/agent1.log" && grep -q joined "$W/agent2.log" && break; sleep 0.05; done
grep -q joined "$W/agent1.log" && grep -q joined "$W/agent2.log" || { echo "bench-node-agent: the agents did not join:" >&2; cat "$W"/agent*.log >&2; exit 1; }
ms=()
after_ms=()
put_ms=()
for k in $(seq 1 "$TRIES"); do
    s="10.244.$((100 + k)).0"
    t0=${EPOCHREALTIME/./}
    ctl put "/coreos.com/network/subnets/$s-24" '{"PublicIP": "10.244.200.9", "BackendType": "host-gw"}' >/dev/null
    t1=${EPOCHREALTIME/./}
    until [ -n "$(ip -n "$T-n1" route show "$s/24")" ] && [ -n "$(ip -n "$T-n2" route show "$s/24")" ]; do
        if [ $(( ${EPOCHREALTIME/./} - t0 )) -gt 10000000 ]; then
            echo "bench-node-agent: no route to $s/24 after 10 s; agent logs:" >&2
            cat "$W/agent1.log" "$W/agent2.log" >&2
            exit 1
        fi
    done
    t2=${EPOCHREALTIME/./}
    ms+=("$(( (t2 - t0) ))")
    put_ms+=("$(( (t1 - t0) ))")
    after_ms+=("$(( (t2 - t1) ))")
    ctl del "/coreos.com/network/subnets/$s-24" >/dev/null
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m / 1000}'; }
echo "$(median "${after_ms[@]}") $(median "${ms[@]}") $(median "${put_ms[@]}")"
