#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS_PER_TARGET (default 10) and prints, per
# target, the executions, executions per second and whether it crashed. Exits non-zero when a
# target crashed (the input is saved under fuzz/artifacts/<target>/; replay it with
# `RUST_BACKTRACE=1 RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> <file>`).
#
# cargo-fuzz needs nightly compiler flags; on a stable toolchain RUSTC_BOOTSTRAP=1 allows them.
# No sanitizer (-s none): the targets are safe Rust, and AddressSanitizer halves the speed.
# Inputs that make Automerge panic are expected: alliance catches those panics (see
# fuzz/src/lib.rs); only a panic that escapes alliance is a crash.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-10}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(ticket wire_frame session_frames received_changes received_document store_load)
fi
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

echo "== building the fuzz targets"
start=$(date +%s)
cargo fuzz build -s none
echo "build: $(($(date +%s) - start)) s"

crashed=0
printf '%-20s %12s %10s %s\n' target executions exec/s result
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log="fuzz/artifacts/$t/last-run.log"
    result=ok
    if ! cargo fuzz run -s none "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$secs" -timeout=30 -print_final_stats=1 >"$log" 2>&1; then
        result="CRASH (see $log and fuzz/artifacts/$t/)"
        crashed=1
    fi
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
    rate=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log" | tail -1)
    printf '%-20s %12s %10s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$result"
done
exit "$crashed"
