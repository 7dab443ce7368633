#!/usr/bin/env bash
# `make bench`: the benchmarks behind BENCHMARKS.md. Sets up the pinned Python tools, builds the release
# CLI in its own target dir (target/bench, so it does not contend for the target-dir lock of a dev build), then runs
#   bench/compare_smoke.py  smoke-test.sh (bash + aws CLI) vs `autoheal smoke-test`, wall time
#   bench/s3_cost.py        S3 requests and wall time of the freshness check on 1/30/90-day histories
#   bench/reaction.py       alarm received → first remediation call issued (median, p95)
# Everything runs against the local emulator on 127.0.0.1. Takes about 30-45 min on 2 cores
# (a cold release build is ~9 min; the 90-day whole-prefix listing alone is ~10 min on the emulator).
# BENCH_SKIP_BUILD=1 reuses target/bench/release/autoheal as it is (no cargo call at all).
# BENCH_RUNS sets the number of measured compare_smoke runs (default 10, at least 7).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/venv.sh

export CARGO_TARGET_DIR="$PWD/target/bench"
export AUTOHEAL_BIN="$CARGO_TARGET_DIR/release/autoheal"
if [ "${BENCH_SKIP_BUILD:-0}" = 1 ] && [ -x "$AUTOHEAL_BIN" ]; then
    echo "tools/bench.sh: BENCH_SKIP_BUILD=1, reusing $AUTOHEAL_BIN as built" >&2
else
    echo "tools/bench.sh: building the release CLI into $CARGO_TARGET_DIR" >&2
    nice -n 19 "${CARGO:-cargo}" build --release --locked --bin autoheal
fi

echo "tools/bench.sh: smoke test wall time (bench/compare_smoke.py)" >&2
.venv/bin/python bench/compare_smoke.py --runs "${BENCH_RUNS:-10}"
echo
echo "tools/bench.sh: S3 cost of the freshness check (bench/s3_cost.py)" >&2
.venv/bin/python bench/s3_cost.py
echo
echo "tools/bench.sh: reaction time, alarm received → first remediation call (bench/reaction.py)" >&2
.venv/bin/python bench/reaction.py --runs "${BENCH_REACTION_RUNS:-20}"
