"""Cost over time: S3 requests of a run with an empty audit ledger and with a long-used one.

    .venv/bin/python bench/ledger_cost.py [--runs 3] [--decisions 10000] [--targets 1000]
                                          [--lambda-dir target/lambda] [--out bench/ledger-cost.json]

The same three paths as bench/latency.py (freshness check, Snapshot-Stalled alarm that acts,
RotationSucceeded that redeploys), the real Lambda binaries through the local Runtime API, latency
switch off. Each path runs `--runs` warm invocations on a fresh world twice over: once with the ledger
empty (`autoheal/` holds only what the run itself writes) and once after `/_world/seed-ledger` wrote
`--decisions` decision records (spread over 30 days, today included), as many finished claims, and
`--targets` per-target histories (tests/world/world.py `seed_ledger`, straight into the emulator's
store). Every S3 request Autoheal makes is counted from the emulator journal, by operation and by what
it touched (the ledger record kinds of bench/latency.py LEDGER_PARTS, or the data lake).

The bench fails unless both ledgers give the same count, operation by operation, in every run: the
ledger is only ever read by keys a run can name, never listed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import benchlib as b  # noqa: E402
import latency  # noqa: E402

LABELS = {"freshness": "freshness check (healthy, steady state)",
          "alarm": "Snapshot-Stalled alarm → forced deployment (acts)",
          "rotation": "RotationSucceeded → forced deployment (acts)"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--decisions", type=int, default=10_000)
    ap.add_argument("--targets", type=int, default=1_000)
    ap.add_argument("--only", default="freshness,alarm,rotation")
    ap.add_argument("--lambda-dir", default=str(b.ROOT / "target" / "lambda"))
    ap.add_argument("--out", default=str(HERE / "ledger-cost.json"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ledger-cost-"))
    started, load0 = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), b.machine()
    seeded: dict = {}

    def seed(emu: b.Emulator) -> None:
        out = emu.post("/_world/seed-ledger", {"decisions": args.decisions, "targets": args.targets}, timeout=1800)
        seeded.update(out)

    results, failures = {}, []
    try:
        with b.Emulator(log_name="ledger-cost-emulator") as emu:
            for name in [n for n in args.only.split(",") if n]:
                empty = latency.run_path(name, emu, Path(args.lambda_dir), args.runs, work)
                full = latency.run_path(name, emu, Path(args.lambda_dir), args.runs, work, prepare=seed)
                results[name] = {"empty": [s["s3_by_kind"] for s in empty], "full": [s["s3_by_kind"] for s in full],
                                 "empty_total": [s["s3_requests"] for s in empty],
                                 "full_total": [s["s3_requests"] for s in full]}
                kinds = {json.dumps(k, sort_keys=True) for k in results[name]["empty"] + results[name]["full"]}
                if len(kinds) != 1:
                    failures.append(f"{name}: S3 requests differ between runs or ledgers: {sorted(kinds)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nLedger: empty vs {seeded.get('decisions', args.decisions):,} decisions + "
          f"{seeded.get('claims', args.decisions):,} claims + {seeded.get('targets', args.targets):,} target "
          f"histories; {args.runs} runs each; {started}; before: {load0}; after: {b.machine()}\n")
    print("| run | S3 requests, empty ledger | S3 requests, full ledger | of which (each run, both ledgers) |")
    print("|---|---|---|---|")
    for name, r in results.items():
        kinds = r["full"][0] if r["full"] else {}
        print(f"| {LABELS[name]} | {'/'.join(map(str, sorted(set(r['empty_total']))))} | "
              f"{'/'.join(map(str, sorted(set(r['full_total']))))} | "
              f"{', '.join(f'{k} {v}' for k, v in kinds.items())} |")
    Path(args.out).write_text(json.dumps({"measured_at": started, "seeded": seeded, "results": results}, indent=1))
    if failures:
        print("\nFAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
