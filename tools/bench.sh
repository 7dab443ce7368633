#!/usr/bin/env bash
# `make bench`: the benchmarks behind BENCHMARKS.md. Sets up the pinned Python tools, builds the release
# CLI in its own target dir (target/bench, so it does not contend for the target-dir lock of a dev build), then runs
#   bench/compare_smoke.py  smoke-test.sh (bash + aws CLI) vs `autoheal smoke-test`, wall time
#   bench/s3_cost.py        S3 requests and wall time of the freshness check on 1/30/90-day histories
#   bench/reaction.py       alarm received → first remediation call issued (median, p95)
#   bench/footprint/        the five Lambda zips and a bare lambda_runtime hello-world, built with
#                           cargo lambda for this machine's architecture: zip size, init time, peak
#                           RSS, over plain HTTP and over HTTPS (measure.py, measure.py --tls)
#   bench/latency.py        the Lambda binaries with every emulator answer delayed 25 ms ± 5 ms: alarm
#                           → first mutating call, whole freshness check, whole rotation redeploy, and
#                           the dependent round trips of each (part "latency")
#   bench/peer/compare.py   the freshness-check function against a Python/boto3 peer (sequential and
#                           threaded), same Runtime API and world, without and with latency ("peer")
#   bench/ledger_cost.py    S3 requests of three runs with an empty ledger and with 10,000 decisions
#                           and 1,000 targets in it ("ledger")
# Everything runs against the local emulator on 127.0.0.1. Takes about 45-60 min on 2 cores
# (cold release builds: ~9 min for the CLI, ~7-13 min for the Lambda zips; the 90-day whole-prefix
# listing alone is ~10 min on the emulator).
# BENCH_SKIP_BUILD=1 reuses what is built (target/bench/release/autoheal, target/lambda/*,
# bench/footprint/hello/target/lambda/hello) without calling cargo.
# BENCH_PARTS picks parts (default "smoke s3 reaction footprint latency peer ledger").
# BENCH_RUNS sets the number of measured compare_smoke runs (default 10, at least 7).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/venv.sh

PARTS=" ${BENCH_PARTS:-smoke s3 reaction footprint latency peer ledger} "
part() { [[ "$PARTS" == *" $1 "* ]]; }

export CARGO_TARGET_DIR="$PWD/target/bench"
export AUTOHEAL_BIN="$CARGO_TARGET_DIR/release/autoheal"
if ! part smoke && ! part s3 && ! part reaction; then
    :  # the CLI is not needed
elif [ "${BENCH_SKIP_BUILD:-0}" = 1 ] && [ -x "$AUTOHEAL_BIN" ]; then
    echo "tools/bench.sh: BENCH_SKIP_BUILD=1, reusing $AUTOHEAL_BIN as built" >&2
else
    echo "tools/bench.sh: building the release CLI into $CARGO_TARGET_DIR" >&2
    nice -n 19 "${CARGO:-cargo}" build --release --locked --bin autoheal
fi

if part smoke; then
    echo "tools/bench.sh: smoke test wall time (bench/compare_smoke.py)" >&2
    .venv/bin/python bench/compare_smoke.py --runs "${BENCH_RUNS:-10}"
    echo
fi
if part s3; then
    echo "tools/bench.sh: S3 cost of the freshness check (bench/s3_cost.py)" >&2
    .venv/bin/python bench/s3_cost.py
    echo
fi
if part reaction; then
    echo "tools/bench.sh: reaction time, alarm received → first remediation call (bench/reaction.py)" >&2
    .venv/bin/python bench/reaction.py --runs "${BENCH_REACTION_RUNS:-20}"
    echo
fi
# The Lambda zips, for every part that starts the functions. Measured where they run: an arm64 build
# cannot be started on an x86_64 machine (and this project's bench machine has only the x86_64
# standard library), so build for the host. Built once per `make bench`.
ZIPS_READY=0
lambda_zips() {
    [ "$ZIPS_READY" = 1 ] && return 0
    case "$(uname -m)" in
        aarch64|arm64) ARCH=--arm64 ;;
        *) ARCH=--x86-64 ;;
    esac
    if [ "${BENCH_SKIP_BUILD:-0}" = 1 ] && [ -f target/lambda/freshness-check/bootstrap.zip ] \
        && { ! part footprint || [ -f bench/footprint/hello/target/lambda/hello/bootstrap.zip ]; }; then
        echo "tools/bench.sh: BENCH_SKIP_BUILD=1, reusing target/lambda/* and the hello-world zip" >&2
    else
        echo "tools/bench.sh: building the Lambda zips ($ARCH) with cargo lambda" >&2
        (unset CARGO_TARGET_DIR; PATH="$PWD/.venv/bin:$PATH" nice -n 19 cargo-lambda lambda build \
            --release "$ARCH" --output-format zip --locked --bin freshness-check --bin alarm-responder \
            --bin rotation-redeploy --bin deployment-watch --bin task-watch)
        (unset CARGO_TARGET_DIR; cd bench/footprint/hello && PATH="$PWD/../../../.venv/bin:$PATH" \
            nice -n 19 cargo-lambda lambda build --release "$ARCH" --output-format zip --locked)
    fi
    ZIPS_READY=1
}

if part footprint; then
    lambda_zips
    echo "tools/bench.sh: footprint over plain HTTP (bench/footprint/measure.py)" >&2
    .venv/bin/python bench/footprint/measure.py --runs "${BENCH_FOOTPRINT_RUNS:-15}"
    echo
    echo "tools/bench.sh: footprint over HTTPS (bench/footprint/measure.py --tls)" >&2
    .venv/bin/python bench/footprint/measure.py --runs "${BENCH_FOOTPRINT_RUNS:-15}" --tls \
        --out bench/footprint/results-tls.json
    echo
fi
if part latency; then
    lambda_zips
    echo "tools/bench.sh: at AWS's latency, 25 ms ± 5 ms per answer (bench/latency.py)" >&2
    .venv/bin/python bench/latency.py --runs "${BENCH_LATENCY_RUNS:-10}" --latency "${BENCH_LATENCY:-25+-5}"
    echo
fi
if part peer; then
    lambda_zips
    echo "tools/bench.sh: freshness check against its Python peer (bench/peer/compare.py)" >&2
    .venv/bin/python bench/peer/compare.py --rounds "${BENCH_PEER_ROUNDS:-5}" --warm "${BENCH_PEER_WARM:-5}" \
        --latency "${BENCH_LATENCY:-25+-5}"
    echo
fi
if part ledger; then
    lambda_zips
    echo "tools/bench.sh: S3 requests with an empty and a full ledger (bench/ledger_cost.py)" >&2
    .venv/bin/python bench/ledger_cost.py
fi
