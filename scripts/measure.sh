#!/usr/bin/env bash
# The scripted measurements of docs/BENCHMARKS.md, in one go. Slow (about 15 minutes without
# the 100k daemon run; see below): not part of CI.
#
#   scripts/measure.sh            machine, binary size, every measurement at its documented size
#   QUICK=1 scripts/measure.sh    small sizes and few samples (a smoke run, ~2 minutes)
#   BIG=1 scripts/measure.sh      adds the 100k-people runs (`measure pure 100000` and
#                                 `measure daemon 100000`), which take tens of minutes today
#                                 because a sync pass is quadratic in the people stored
#
# Results are lines starting with RESULT; the whole output also lands in target/measure.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/measure.txt
mkdir -p target
exec > >(tee "$out") 2>&1

echo "== machine"
nproc
lscpu | head -15
free -h
rustc --version
cargo --version

echo "== release binary size"
cargo build --release --bin lintel
cp target/release/lintel target/lintel.stripped
strip target/lintel.stripped
echo "RESULT binary_size unstripped=$(stat -c %s target/release/lintel) stripped=$(stat -c %s target/lintel.stripped)"

measure() {
    echo "== measure $*"
    cargo bench --bench measure -- "$@"
}

if [[ -n "${QUICK:-}" ]]; then
    measure pure 10000
    measure daemon 1000 5 2
    measure latency tcp 10
    measure rtu 19200 150
    measure revocation up 10
    exit 0
fi

measure pure 10000
measure daemon 10000 60 5
measure store 10000
measure libraries 10000
for transport in tcp rtu mqtt; do
    measure latency "$transport" 100
done
measure rtu 19200
measure rtu 115200
measure revocation up 50
measure revocation down 50
if [[ -n "${BIG:-}" ]]; then
    measure pure 100000
    measure daemon 100000 30 3
    measure store 100000
fi
echo "== done: $out"
