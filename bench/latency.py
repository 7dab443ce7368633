"""Autoheal at AWS's latency: every emulator answer delayed (default 25 ms ± 5 ms), and which calls
wait for which.

    .venv/bin/python bench/latency.py [--runs 10] [--latency 25+-5] [--only alarm,freshness,rotation]
                                      [--lambda-dir target/lambda] [--out bench/latency-results.json]

Runs the real Lambda binaries (target/lambda/<function>/bootstrap.zip, built by cargo lambda as in
bench/footprint/) through the local Runtime API (bench/footprint/runtime_api.py), one warm process per
function serving every run (after one discarded warm-up invocation), against tests/world/emulator.py
with its latency switch on. Three paths:

- alarm: alarm-responder, Snapshot-Stalled alarm in ALARM, stalled collector (the reaction benchmark's
  world): triage, guard, one forced deployment. Measured: event handed to the function → the
  emulator's arrival time of UpdateService (the first mutating call on ViewerAtlas; the ledger writes
  before it are Autoheal's own bookkeeping), and the whole invocation.
- freshness: freshness-check, Scheduled Event, healthy world, steady state (the known-good revision is
  already recorded, as at every run but the first): the whole invocation.
- rotation: rotation-redeploy, RotationSucceeded of the OAuth token: one forced deployment of the
  collector; the whole invocation, and event → UpdateService.

Each run gets a fresh world (moto reset + seed + the path's scenarios; the freshness path keeps its
world so the known-good record stays) and a new event id. Both clocks are this machine's wall clock.

Dependent round trips come from the emulator journal, which records for every call the arrival time
`t` and the time its answer left `t_end`: a call B depends on A when B arrived after A's answer left.
A call's depth is 1 + the largest depth among the calls it depends on; the critical path is the
deepest chain, walked back from its last call. A chain of calls that the code awaits one after the
other (whether or not the data requires it) counts as a chain, which is what the target is about.
The emulator is one Python process: when twenty calls arrive together, it parses them one after the
other under its interpreter lock, so on a loaded machine the last of a concurrent batch can arrive
tens of milliseconds (seen: over 100 ms at a load average of 11) after the first one, and after the
first one's answer has left: it would be counted as waiting for it. So the round trips are counted
in a second pass of `--structure-runs` runs with a long fixed delay (`--structure-latency`, default
250 ms), which such queueing does not reach: there, only calls that really waited for an answer
chain. The timing pass's own count is printed beside it; where it is higher, that is the queueing.

Output: one Markdown table per path, the critical path of the first measured run, and the raw samples
in --out.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "footprint"))
import benchlib as b  # noqa: E402
from measure import lambda_env, unzip_bootstrap  # noqa: E402  (Lambda's environment, the unpacked zip)
from runtime_api import RuntimeAPI  # noqa: E402

EVENTS = ROOT / "tests" / "fixtures" / "events"
ACCOUNT = "123456789012"
STALLED = "ViewerAtlas-Collector-Snapshot-Stalled"

# path -> function, event fixture, scenarios after the seed, reseed every run, expected outcome
PATHS = {
    "alarm": ("alarm-responder", "alarm-eventbridge-snapshot-stalled.json",
              [{"name": "collector-stalled", "args": {"minutes": 90}},
               {"name": "alarm", "args": {"alarm": STALLED}}], True, "remediated"),
    "freshness": ("freshness-check", "schedule-freshness.json", [], False, "healthy"),
    "rotation": ("rotation-redeploy", "secret-rotation-succeeded.json", [], True, "remediated"),
}


def parse_latency(spec: str) -> tuple[float, float]:
    base, _, jitter = spec.replace("±", "+-").partition("+-")
    return float(base), float(jitter or 0)


# -- critical path ---------------------------------------------------------------------------------

def chains(calls: list[dict]) -> list[dict]:
    """Gives every call its depth and the call it waited for last (`after`), in arrival order."""
    calls = sorted(calls, key=lambda c: c["t"])
    for i, c in enumerate(calls):
        before = [p for p in calls[:i] if p["t_end"] <= c["t"]]
        if before:
            # The deepest predecessor; among equals, the one whose answer came last (what it waited for).
            p = max(before, key=lambda p: (p["depth"], p["t_end"]))
            c["depth"], c["after"] = p["depth"] + 1, p
        else:
            c["depth"], c["after"] = 1, None
    return calls


def path_to(call: dict) -> list[dict]:
    out = []
    while call is not None:
        out.append(call)
        call = call["after"]
    return out[::-1]


# The ledger's record kinds (docs/architecture.md, "The ledger"), for naming S3 requests.
LEDGER_PARTS = ("claims/", "targets/", "pending/", "deliveries/", "decisions/", "known-good/", "incidents/",
                "schedules/", "pauses/", "conversations/")


def label(c: dict) -> str:
    op = c["op"]
    if c["service"] == "s3":
        key = c["path"].split("/", 2)[-1]
        for part in LEDGER_PARTS:
            if part in key:
                return f"{op} ledger {part.rstrip('/')}"
        return f"{op} {key.rsplit('/', 1)[0][-40:]}/" if op == "ListObjects" else f"{op} {key[-50:]}"
    return op


def s3_kind(c: dict) -> str:
    """`GetObject ledger targets`, `ListObjects data`, …: what an S3 request was for."""
    key = c["path"].split("/", 2)[-1]
    part = next((p for p in LEDGER_PARTS
                 if key.startswith("autoheal/" + p)), None)
    return f"{c['op']} ledger {part.rstrip('/')}" if part else f"{c['op']} data"


def analyse(journal: list[dict], t0: float, t_done: float) -> dict:
    calls = chains([dict(c) for c in journal if c.get("client") == "autoheal" and "t_end" in c])
    first_mut = next((c for c in calls if c["op"] in ("UpdateService", "RunTask", "PutMetricAlarm",
                                                      "DisableRule", "EnableRule")), None)
    last = max(calls, key=lambda c: (c["depth"], c["t_end"])) if calls else None
    whole = path_to(last) if last else []
    out = {
        "calls": len(calls),
        "whole_ms": (t_done - t0) * 1000,
        "whole_depth": last["depth"] if last else 0,
        "whole_path": [label(c) for c in whole],
        "whole_on_path_ms": sum(c["t_end"] - c["t"] for c in whole) * 1000,
        "concurrency": max((sum(1 for o in calls if o["t"] <= c["t"] < o["t_end"]) for c in calls), default=0),
        "s3_requests": sum(1 for c in calls if c["service"] == "s3"),
        "s3_by_kind": dict(sorted(Counter(s3_kind(c) for c in calls if c["service"] == "s3").items())),
    }
    if first_mut is not None:
        before = path_to(first_mut)[:-1]
        out.update({
            "mutation": first_mut["op"],
            "to_mutation_ms": (first_mut["t"] - t0) * 1000,
            "to_mutation_depth": len(before),
            "to_mutation_path": [label(c) for c in before],
            "to_mutation_on_path_ms": sum(c["t_end"] - c["t"] for c in before) * 1000,
            "calls_before_mutation": sum(1 for c in calls if c["t"] < first_mut["t"]),
            "to_mutation_detail": detail(path_to(first_mut), t0),
        })
    out["path_detail"] = detail(whole, t0)
    # Every call by its round (its depth): what shares a round trip with the critical path's call.
    rounds: dict[int, Counter] = {}
    for c in calls:
        rounds.setdefault(c["depth"], Counter())[label(c)] += 1
    out["rounds"] = [dict(sorted(rounds[d].items())) for d in sorted(rounds)]
    return out


def detail(path: list[dict], t0: float) -> list[dict]:
    return [{"op": label(c), "start_ms": round((c["t"] - t0) * 1000, 1),
             "end_ms": round((c["t_end"] - t0) * 1000, 1), "depth": c["depth"]} for c in path]


# -- runs ------------------------------------------------------------------------------------------

def run_path(name: str, emu: b.Emulator, lambda_dir: Path, runs: int, work: Path, prepare=None) -> list[dict]:
    """`runs` measured warm invocations (after one discarded) of the path's function; `prepare(emu)`
    runs after each fresh world is built (bench/ledger_cost.py seeds the ledger there)."""
    function, fixture, scenarios, reseed, expect = PATHS[name]

    def world():
        emu.fresh_world(scenarios)
        if prepare is not None:
            prepare(emu)

    zip_path = lambda_dir / function / "bootstrap.zip"
    if not zip_path.exists():
        sys.exit(f"{zip_path} is missing: build the Lambda zips (tools/bench.sh does, or see bench/footprint/measure.py)")
    d = work / function
    d.mkdir(exist_ok=True)
    binary = unzip_bootstrap(zip_path, d)
    base = json.loads((EVENTS / fixture).read_text())
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}"
    samples = []
    world()
    with RuntimeAPI() as api, open(work / f"{function}.log", "wb") as log:
        env = lambda_env(function, api.address, emu.url, str(work))
        proc = None
        try:
            for i in range(runs + 1):  # run 0 warms the process (and records the known-good revision)
                if reseed and i > 0:
                    world()
                emu.journal(clear=True)
                event = dict(base, id=f"latency-{name}-{i}-{time.time_ns()}")
                s = api.arm(json.dumps(event).encode(), arn)  # a started process is parked in GET /next
                if proc is None:
                    proc = subprocess.Popen([str(binary)], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=str(d))
                if not s.done.wait(timeout=120):
                    raise RuntimeError(f"{name} run {i}: no response within 120 s (log {work / function}.log)")
                report = json.loads(s.outcome_body or b"null")
                got = report.get("outcome") if isinstance(report, dict) else None
                if s.outcome != "response" or got != expect:
                    raise RuntimeError(f"{name} run {i}: {s.outcome}, outcome {got} (expected {expect}): "
                                       f"{(report or {}).get('reason') if isinstance(report, dict) else report}")
                time.sleep(0.05)  # the last answers' t_end are written just after they leave
                a = analyse(emu.journal(clear=True), s.delivered_wall, s.outcome_wall)
                print(f"  {name} run {i}: whole {a['whole_ms']:.0f} ms, depth {a['whole_depth']}"
                      + (f"; to {a['mutation']} {a['to_mutation_ms']:.0f} ms, depth {a['to_mutation_depth']}"
                         if "mutation" in a else ""), file=sys.stderr, flush=True)
                if i > 0:
                    samples.append(a)
        finally:
            if proc is not None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
    return samples


def summary(name: str, samples: list[dict], structure: list[dict], delay_ms: float) -> dict:
    """Times from the timing pass; dependent round trips from the structure pass."""
    med = lambda k: statistics.median(s[k] for s in samples)  # noqa: E731
    depth = lambda k, xs: sorted({s[k] for s in xs})  # noqa: E731
    out = {"path": name, "runs": len(samples), "whole_ms_median": med("whole_ms"),
           "whole_ms_p90": b.percentile([s["whole_ms"] for s in samples], 90),
           "whole_depth": depth("whole_depth", structure), "whole_depth_timing_pass": depth("whole_depth", samples),
           "whole_on_path_ms_median": med("whole_on_path_ms"), "calls": depth("calls", samples),
           "concurrency_max": max(s["concurrency"] for s in samples)}
    out["whole_budget_ms"] = 1.25 * max(out["whole_depth"]) * delay_ms
    if all("mutation" in s for s in samples + structure):
        out.update({"to_mutation_ms_median": med("to_mutation_ms"),
                    "to_mutation_ms_p90": b.percentile([s["to_mutation_ms"] for s in samples], 90),
                    "to_mutation_depth": depth("to_mutation_depth", structure),
                    "to_mutation_depth_timing_pass": depth("to_mutation_depth", samples),
                    "to_mutation_on_path_ms_median": med("to_mutation_on_path_ms"),
                    "calls_before_mutation": depth("calls_before_mutation", samples)})
        out["to_mutation_budget_ms"] = 1.25 * max(out["to_mutation_depth"]) * delay_ms
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--latency", default="25+-5", help="MS[+-JITTER], milliseconds")
    ap.add_argument("--only", default=",".join(PATHS))
    ap.add_argument("--lambda-dir", default=str(ROOT / "target" / "lambda"))
    ap.add_argument("--out", default=str(HERE / "latency-results.json"))
    ap.add_argument("--structure-latency", type=float, default=250.0,
                    help="fixed delay (ms) of the pass that counts the dependent round trips")
    ap.add_argument("--structure-runs", type=int, default=3)
    args = ap.parse_args()
    delay, jitter = parse_latency(args.latency)
    work = Path(tempfile.mkdtemp(prefix="latency-"))
    results, started, load0 = {}, time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), b.machine()
    with b.Emulator(args=["--latency", args.latency], log_name="latency-emulator") as emu:
        for name in [n for n in args.only.split(",") if n]:
            samples = run_path(name, emu, Path(args.lambda_dir), args.runs, work)
            emu.set_latency(args.structure_latency, 0)
            structure = run_path(name, emu, Path(args.lambda_dir), args.structure_runs, work)
            emu.set_latency(delay, jitter)
            results[name] = {"summary": summary(name, samples, structure, delay), "samples": samples,
                             "structure": structure}
    load1 = b.machine()

    j = lambda xs: "/".join(map(str, xs))  # noqa: E731
    print(f"\nLatency {delay:g} ms ± {jitter:g} ms per answer; {args.runs} warm runs per path; round trips "
          f"counted in {args.structure_runs} runs at {args.structure_latency:g} ms; {started}; before: {load0}; "
          f"after: {load1}\n")
    print("| path | measured, median (p90) | dependent round trips (timing pass) | 1.25 × round trips × delay | "
          "time inside calls on the path | calls (max in flight) |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        s = r["summary"]
        if "to_mutation_ms_median" in s:
            print(f"| {name}: event → {r['samples'][0]['mutation']} | {s['to_mutation_ms_median']:.0f} ms "
                  f"({s['to_mutation_ms_p90']:.0f}) | {j(s['to_mutation_depth'])} ({j(s['to_mutation_depth_timing_pass'])}) | "
                  f"{s['to_mutation_budget_ms']:.0f} ms | {s['to_mutation_on_path_ms_median']:.0f} ms | "
                  f"{j(s['calls_before_mutation'])} before it |")
        print(f"| {name}: whole invocation | {s['whole_ms_median']:.0f} ms ({s['whole_ms_p90']:.0f}) | "
              f"{j(s['whole_depth'])} ({j(s['whole_depth_timing_pass'])}) | {s['whole_budget_ms']:.0f} ms | "
              f"{s['whole_on_path_ms_median']:.0f} ms | {j(s['calls'])} ({s['concurrency_max']}) |")
    for name, r in results.items():
        first = r["structure"][0]
        for what, key in (("event → first mutating call", "to_mutation_detail"), ("whole invocation", "path_detail")):
            if key in first:
                print(f"\nCritical path of {name}, {what} (first structure run, {args.structure_latency:g} ms per "
                      "answer; ms after the event was handed over):")
                for i, c in enumerate(first[key], 1):
                    print(f"  {i:2}. {c['op']}  [{c['start_ms']:.0f} → {c['end_ms']:.0f}]")
        print(f"\nEvery call of {name} by round (first structure run; a call's round is 1 + the deepest call "
              "it waited for):")
        for d, ops in enumerate(first.get("rounds", []), 1):
            print(f"  {d:2}. " + ", ".join(f"{op}{f' ×{n}' if n > 1 else ''}" for op, n in ops.items()))
    Path(args.out).write_text(json.dumps({"measured_at": started, "latency": args.latency,
                                          "machine_before": load0, "machine_after": load1,
                                          "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
