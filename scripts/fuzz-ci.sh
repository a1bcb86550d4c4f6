#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for N seconds each (docs/RELIABILITY.md, "Fuzzing").
#
#   scripts/fuzz-ci.sh          20 s per target
#   scripts/fuzz-ci.sh 600      a long run: 10 minutes per target
#
# Installs the pinned cargo-fuzz if it is missing. cargo-fuzz passes -Z flags (sanitizers), so
# the stable toolchain runs with RUSTC_BOOTSTRAP=1. Corpora are kept in fuzz/corpus/<target>
# between runs; a crash prints its report, leaves its input in fuzz/artifacts/<target> and
# fails the script.
# CARGO_TARGET_DIR, if set, is used with a -fuzz suffix (the sanitizer build shares nothing
# with the normal one).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}
version=0.13.1
if ! cargo fuzz --version 2>/dev/null | grep -q "$version"; then
    cargo install cargo-fuzz --version "$version" --locked
fi
export RUSTC_BOOTSTRAP=1
target_dir=${CARGO_TARGET_DIR:-target}${CARGO_TARGET_DIR:+-fuzz}
start=$(date +%s)
cargo fuzz build --target-dir "$target_dir"
echo "fuzz build: $(( $(date +%s) - start )) s"
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target"
    echo "== $target (${seconds} s)"
    log="$target_dir/$target.log"
    status=0
    cargo fuzz run --target-dir "$target_dir" "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done)' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -40 "$log"
        echo "FINDING in $target (input saved under fuzz/artifacts/$target)"
        exit 1
    fi
done
echo "fuzz-ci: $(( $(date +%s) - start )) s in all"
