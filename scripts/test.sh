#!/usr/bin/env bash
# Runs every test: the unit tests and the black-box runtime tests (runtime-tests/), in release mode.
# Needs root: the runtime tests create namespaces, mounts, cgroups and network devices.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh hooks` runs tests matching "hooks").
# Exit code: that of `cargo test` (0 = every test passed); 1 when the tests passed but the code
# is not rustfmt-clean.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

if [ "$(id -u)" -ne 0 ]; then
    echo "test: error: the runtime tests must run as root (they create namespaces, mounts," \
        "cgroups and network devices): sudo scripts/test.sh" >&2
    exit 1
fi

bash scripts/setup.sh
# setup.sh may have put cargo on PATH for sudo users; find it the same way.
command -v cargo >/dev/null 2>&1 || export PATH="$HOME/.cargo/bin:$PATH"

# The code is kept as rustfmt writes it (default settings); a difference fails the run after
# the tests, so the tests still run and report.
fmt=ok
if ! cargo fmt --version >/dev/null 2>&1; then
    echo "test: rustfmt is not installed: the format check is skipped" >&2
elif ! cargo fmt --check >/dev/null 2>&1; then
    fmt=FAILED
    echo "test: the code is not rustfmt-clean (cargo fmt --check); run: cargo fmt" >&2
fi

log=$(mktemp /tmp/podrun-test-log.XXXXXX)
trap 'rm -f "$log"' EXIT

# A hung test must fail the run, not stall CI: the whole test run gets a deadline
# (PODRUN_TEST_TIMEOUT seconds, default 30 minutes; CI's budget is 40).
set +e
RUST_BACKTRACE=1 timeout --kill-after=30 "${PODRUN_TEST_TIMEOUT:-1800}" \
    cargo test --release --no-fail-fast "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

echo
echo "=== summary ==="
grep -E '^ +Running |^ +Doc-tests |^test result:|^test .* FAILED$|^error(\[|:)|^vm_v2: |^vm_systemd: ' "$log" || true
# Each failed test's panic message (up to its backtrace), so the summary alone says why.
awk '/^thread .* panicked at /{n=12} n>0 && /^(stack backtrace:|note: )/{n=0} n>0{print "  | " $0; n--}' "$log"
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "test: TIMED OUT after ${PODRUN_TEST_TIMEOUT:-1800}s (a test hung; see the last 'test ...' lines above)"
elif [ "$rc" -eq 0 ]; then
    echo "test: all tests passed"
else
    echo "test: FAILED (cargo test exit code $rc)"
fi
if [ "$fmt" != ok ]; then
    echo "test: FAILED: the code is not rustfmt-clean (cargo fmt --check); run: cargo fmt"
    [ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
