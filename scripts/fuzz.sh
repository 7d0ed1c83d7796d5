#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60), starting from the committed seeds.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs the nightly toolchain; installs cargo-fuzz if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi

status=0
for t in "${targets[@]}"; do
    seeds="fuzz/corpus/$t"
    corpus="fuzz/target/corpus-work/$t"
    mkdir -p "$corpus" "$seeds"
    echo "fuzz: $t for ${seconds}s"
    # The committed seeds (fuzz/corpus) stay as they are; new inputs go to the working corpus.
    if ! cargo +nightly fuzz run --fuzz-dir fuzz "$t" "$corpus" "$seeds" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1; then
        echo "fuzz: $t FAILED (crash input under fuzz/artifacts/$t)"
        status=1
    fi
done
exit "$status"
