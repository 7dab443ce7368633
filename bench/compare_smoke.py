"""Wall time of the runbook's smoke test (bench/smoke-test.sh: bash + AWS CLI) against `autoheal smoke-test`.

    .venv/bin/python bench/compare_smoke.py [--runs 10] [--autoheal PATH] [--json OUT]

One emulator, one healthy world (POST /_world/seed), both commands timed alternately on that same world
(the order flips every round so drift hits both alike). Round 0 is a warm-up and is discarded. Every run
of both must pass (exit 0) or the bench fails. Prints a markdown table: median, p90 (nearest rank),
min and max wall time of each, and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile

import benchlib as b


def count_script_requests(env: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-awsdebug-") as tmp:
        wrapper, log = os.path.join(tmp, "aws"), os.path.join(tmp, "debug.log")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nexec "$BENCH_REAL_AWS" --debug "$@" 2>>"$BENCH_DEBUG_LOG"\n')
        os.chmod(wrapper, 0o755)
        env2 = dict(env, AWS_CLI=wrapper, BENCH_REAL_AWS=str(b.VENV_BIN / "aws"), BENCH_DEBUG_LOG=log)
        _, cp = b.timed(["bash", str(b.SMOKE_SH)], env2, timeout=900)
        if cp.returncode != 0:
            raise RuntimeError(f"smoke-test.sh with --debug failed:\n{cp.stdout}\n{cp.stderr}")
        ops = {}
        with open(log, errors="replace") as f:
            for line in f:
                m = re.search(r"Making request for OperationModel\(name=(\w+)\)", line)
                if m:
                    ops[m.group(1)] = ops.get(m.group(1), 0) + 1
        return ops


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10, help="measured runs of each command (>= 7; default 10)")
    ap.add_argument("--autoheal", help="autoheal binary (default target/bench/release/autoheal or $AUTOHEAL_BIN)")
    ap.add_argument("--json", help="also write the raw timings here")
    args = ap.parse_args()
    if args.runs < 7:
        ap.error("--runs must be at least 7")
    autoheal = b.autoheal_bin(args.autoheal)

    script_cmd = ["bash", str(b.SMOKE_SH)]
    autoheal_cmd = [str(autoheal), "smoke-test"]
    times = {"script": [], "autoheal": []}
    s3_requests = set()
    last = {}
    single = {"aws --version": [], "aws ecs describe-clusters": []}

    load_before = b.machine()
    with b.Emulator() as emu:
        emu.fresh_world()
        env = b.bench_env(emu.url)

        def run_script(keep: bool) -> None:
            # The CLI waiter alone may take up to ~10 min against a real rollout; bounded here.
            dt, cp = b.timed(script_cmd, env, timeout=900)
            if cp.returncode != 0 or "Smoke test passed" not in cp.stdout:
                raise RuntimeError(f"smoke-test.sh failed (exit {cp.returncode}):\n{cp.stdout}\n{cp.stderr}")
            last["script"] = dt
            if keep:
                times["script"].append(dt)

        def run_autoheal(keep: bool) -> None:
            dt, cp = b.timed(autoheal_cmd, env, timeout=300)
            report = b.autoheal_report(cp) if cp.stdout.strip() else {}
            if cp.returncode != 0:
                raise RuntimeError(f"autoheal smoke-test failed (exit {cp.returncode}): "
                                   f"{report.get('reason', cp.stdout[-800:])}\n{cp.stderr[-800:]}")
            status, detail = b.check_detail(report, "s3_snapshot_freshness")
            m = re.search(r"(\d+) S3 requests", detail)
            if status != "pass" or not m:
                raise RuntimeError(f"s3_snapshot_freshness did not pass as expected: {status} {detail!r}")
            s3_requests.add(int(m.group(1)))
            last["autoheal"] = dt
            if keep:
                times["autoheal"].append(dt)

        for rnd in range(args.runs + 1):
            keep = rnd > 0
            order = (run_script, run_autoheal) if rnd % 2 == 0 else (run_autoheal, run_script)
            for f in order:
                f(keep)
            print(f"round {rnd}{' (warm-up, discarded)' if not keep else ''}: "
                  f"smoke-test.sh {last['script']:.3f} s, autoheal {last['autoheal']:.3f} s", file=sys.stderr)

        # What one autoheal run asks of AWS, as the emulator journal saw it (Rust SDK requests only).
        emu.journal(clear=True)
        run_autoheal(False)
        ops = {}
        for e in emu.journal(clear=True):
            key = f"{e['service']}:{e['op']}"
            ops[key] = ops.get(key, 0) + 1

        # What one smoke-test.sh run asks of AWS: the same script, its aws calls wrapped with --debug
        # (the script sends most CLI stderr to /dev/null, so the wrapper keeps the log itself).
        script_ops = count_script_requests(env)

        # Where the script's time goes: one CLI process start, and one CLI call (bench/smoke-test.sh
        # starts the aws CLI 10 times and python3 twice, one after the other).
        aws = str(b.VENV_BIN / "aws")
        for _ in range(5):
            for label, cmd in (("aws --version", [aws, "--version"]),
                               ("aws ecs describe-clusters", [aws, "--endpoint-url", emu.url, "--region", "us-east-1",
                                                              "ecs", "describe-clusters", "--clusters",
                                                              "vieweratlas-cluster", "--output", "text"])):
                dt, cp = b.timed(cmd, env, timeout=120)
                if cp.returncode != 0:
                    raise RuntimeError(f"{label} failed: {cp.stderr[-500:]}")
                single[label].append(dt)

    s, a = times["script"], times["autoheal"]
    ms = lambda x: f"{x * 1000:,.0f} ms"  # noqa: E731
    rows = [
        ("bench/smoke-test.sh (bash + aws CLI v1)", s),
        ("autoheal smoke-test (release binary)", a),
    ]
    print()
    print(f"Smoke test wall time, healthy world, {args.runs} runs each after 1 warm-up each, alternating")
    print(f"Machine: before {load_before}; after {b.machine()}")
    print()
    print("| command | median | p90 | min | max |")
    print("|---|---:|---:|---:|---:|")
    for name, v in rows:
        print(f"| {name} | {ms(b.median(v))} | {ms(b.percentile(v, 90))} | {ms(min(v))} | {ms(max(v))} |")
    ratio_med = b.median(s) / b.median(a)
    ratio_p90 = b.percentile(s, 90) / b.percentile(a, 90)
    print()
    print(f"Ratio (smoke-test.sh / autoheal): median {ratio_med:.1f}x, p90 {ratio_p90:.1f}x "
          f"(goal >= 20x: {'met' if ratio_med >= 20 else 'NOT met'} on the median)")
    print(f"autoheal's s3_snapshot_freshness reported S3 requests per run: {sorted(s3_requests)}")
    print(f"AWS requests in one autoheal smoke-test run (emulator journal): {sum(ops.values())}: "
          + ", ".join(f"{k} x{v}" for k, v in sorted(ops.items())))
    print(f"AWS requests in one smoke-test.sh run (aws --debug): {sum(script_ops.values())}: "
          + ", ".join(f"{k} x{v}" for k, v in sorted(script_ops.items())))
    print()
    print("Where smoke-test.sh's time goes (it starts the aws CLI 10 times and python3 twice, sequentially):")
    print()
    print("| single command, 5 runs | median |")
    print("|---|---:|")
    for label, v in single.items():
        print(f"| `{label}` | {ms(b.median(v))} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": args.runs, "seconds": times, "single_commands": single, "autoheal_requests": ops, "script_requests": script_ops, "ratio_median": ratio_med, "ratio_p90": ratio_p90,
                       "autoheal_s3_requests": sorted(s3_requests)}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
