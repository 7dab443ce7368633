"""Reaction time: alarm event received → first remediation call issued.

    .venv/bin/python bench/reaction.py [--runs 20] [--autoheal PATH]

Each run: a fresh world with a stalled collector and the Snapshot-Stalled alarm in ALARM; then
`autoheal handle` is started with the alarm's EventBridge event on stdin (a new event id per run). The
clock starts just before the process is spawned (the event is "received") and stops at the time the
emulator journal records Autoheal's UpdateService request (the first and only mutation of this path;
both clocks are this machine's wall clock). So the figure includes process start, configuration, the
whole RUNBOOK §2 triage (service, tasks, three log groups, freshness, secrets, task definition), the
live re-check and the ledger claim and reservation. A warm Lambda skips the process start.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time

import benchlib as b

EVENT = b.ROOT / "tests" / "fixtures" / "events" / "alarm-eventbridge-snapshot-stalled.json"
ALARM = "ViewerAtlas-Collector-Snapshot-Stalled"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--autoheal", default=None)
    args = ap.parse_args()
    binary = str(b.autoheal_bin(args.autoheal))
    base = json.loads(EVENT.read_text())
    samples = []
    with b.Emulator() as emu:
        env = b.bench_env(emu.url)
        for i in range(args.runs + 1):
            emu.fresh_world()
            emu.post("/_world/scenario", {"name": "collector-stalled", "args": {"minutes": 90}})
            emu.post("/_world/scenario", {"name": "alarm", "args": {"alarm": ALARM}})
            emu.journal(clear=True)
            ev = dict(base, id=f"reaction-{i}")
            t0 = time.time()
            cp = subprocess.run([binary, "handle"], input=json.dumps(ev), env=env, capture_output=True,
                                text=True, timeout=120)
            report = json.loads(cp.stdout)
            if report.get("outcome") != "remediated":
                raise RuntimeError(f"run {i}: expected remediated, got {report.get('outcome')}: {report.get('reason')}")
            updates = [e["t"] for e in emu.journal(clear=True) if e.get("op") == "UpdateService"]
            if len(updates) != 1:
                raise RuntimeError(f"run {i}: {len(updates)} UpdateService calls")
            if i > 0:  # the first run warms the page cache
                samples.append(updates[0] - t0)
    ms = sorted(s * 1000 for s in samples)
    print(f"| runs | median | p95 | min | max |\n|---|---|---|---|---|\n"
          f"| {len(ms)} | {b.median(ms):.0f} ms | {b.percentile(ms, 95):.0f} ms | {ms[0]:.0f} ms | {ms[-1]:.0f} ms |")
    print(f"\n{b.machine()}; binary {binary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
