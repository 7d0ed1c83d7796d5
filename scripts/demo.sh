#!/usr/bin/env bash
# The demo: runs the example bundle oci-bundles/hello with podrun and shows its output.
# Everything it makes (a state root under /run/podrun-demo) is removed on exit, also on failure.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: error: run as root: sudo scripts/demo.sh" >&2
    exit 1
fi

bash scripts/setup.sh
PODRUN="$REPO/target/release/podrun"
mkdir -p /run/podrun-demo
ROOT=$(mktemp -d /run/podrun-demo/root.XXXXXX)

cleanup() {
    "$PODRUN" --root "$ROOT" delete --force demo-hello >/dev/null 2>&1 || true
    rm -rf "$ROOT"
    rmdir /run/podrun-demo 2>/dev/null || true
}
trap cleanup EXIT

step() { printf '\n$ %s\n' "$*"; }

step podrun --root "$ROOT" run --bundle oci-bundles/hello demo-hello
"$PODRUN" --root "$ROOT" run --bundle oci-bundles/hello demo-hello
