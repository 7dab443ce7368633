"""Autoheal's freshness-check function against its Python peer (bench/peer/freshness_check.py,
sequential and threaded), through the same local Lambda Runtime API, against the same emulator world,
without and with the emulator's latency switch.

    .venv/bin/python bench/peer/compare.py [--rounds 5] [--warm 5] [--latency 25+-5]
                                           [--lambda-dir target/lambda] [--out bench/peer/results.json]

Per condition (latency off, then on), `--rounds` rounds; in each round every implementation is started
once, in turn (so a load swing on the shared machine hits all three alike), and serves one cold
invocation and then `--warm` warm ones before it is killed. Measured:

- init: perf_counter() just before the process is spawned → its first GET /next (bench/footprint/
  runtime_api.py). Rust: the bootstrap binary. Python: `python -m awslambdaric freshness_check.<handler>`
  in a task directory holding the unpacked handler zip: interpreter start, awslambdaric, the handler
  module's import (boto3, five clients, the thread pool). Lambda's own sandbox set-up is in neither.
- first invocation: event handed out → response posted; cold start = init + first invocation.
- warm invocation: the same, for the later invocations of the same process.
- peak RSS: VmHWM of the process after its last invocation (for Python, the interpreter with
  awslambdaric, boto3 and the handler).
- requests and dependent round trips of one invocation, from the emulator journal (the peer is tagged
  with AWS_SDK_UA_APP_ID=autoheal-peer, which puts `app/autoheal-peer` in its user agent).
- package: the zip Lambda would receive. Rust: target/lambda/freshness-check/bootstrap.zip. Python:
  the handler file zipped; boto3 and its dependencies (botocore, s3transfer, jmespath, python-dateutil,
  six, urllib3), which Lambda's Python runtime already bundles, are zipped separately from this venv
  and reported beside it, as is awslambdaric (the runtime's own client, part of no upload).

The world is the healthy seeded ViewerAtlas, in steady state: one untimed run records the known-good
revision first, so every measured run reads it and writes nothing (as every freshness run but the
first does). Every run must end `healthy` with the same nine checks passing, or the bench fails.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "footprint"))
import benchlib as b  # noqa: E402
import latency  # noqa: E402  (chains: dependent round trips)
from measure import lambda_env, proc_status_kib, unzip_bootstrap  # noqa: E402
from runtime_api import RuntimeAPI  # noqa: E402

EVENT = ROOT / "tests" / "fixtures" / "events" / "schedule-freshness.json"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:freshness-check"
CHECKS = {"ecs_cluster_active", "task_definitions_resolve", "collector_service_active", "collector_rollout",
          "collector_running", "collector_recent_logs", "s3_snapshot_freshness", "analysis_output_freshness",
          "schedule_targets_current"}
BOTO_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")


class Impl:
    def __init__(self, name: str, cmd: list[str], cwd: Path, env: dict, client: str):
        self.name, self.cmd, self.cwd, self.extra_env, self.client = name, cmd, cwd, env, client
        self.samples: list[dict] = []


def site_packages() -> Path:
    out = subprocess.run([str(b.VENV_BIN / "python"), "-c", "import boto3, os; print(os.path.dirname(os.path.dirname(boto3.__file__)))"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def zip_size(paths: list[Path], base: Path) -> int:
    """Bytes of a deflated zip of `paths` (files or trees), names relative to `base`; no .pyc."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in paths:
            files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
            for f in files:
                if "__pycache__" not in f.parts:
                    z.write(f, f.relative_to(base))
    return len(buf.getvalue())


def run_round(impl: Impl, emu: b.Emulator, warm: int, work: Path, rnd: int, cond: str) -> None:
    base = json.loads(EVENT.read_text())
    with RuntimeAPI() as api, open(work / f"{impl.name}-{cond}-{rnd}.log", "wb") as log:
        env = {**lambda_env("freshness-check", api.address, emu.url, str(work / "home")),
               "AWS_DEFAULT_REGION": "us-east-1", **impl.extra_env}
        p = None
        try:
            for i in range(warm + 1):
                emu.journal(clear=True)
                s = api.arm(json.dumps(dict(base, id=f"peer-{cond}-{rnd}-{i}")).encode(), ARN)
                if p is None:
                    t0 = time.perf_counter()
                    p = subprocess.Popen(impl.cmd, env=env, cwd=str(impl.cwd), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
                if not s.done.wait(timeout=120):
                    raise RuntimeError(f"{impl.name}: no response within 120 s (log {log.name})")
                rep = json.loads(s.outcome_body or b"null")
                passed = {c["name"] for c in rep.get("checks", []) if c.get("status") == "pass"} if isinstance(rep, dict) else set()
                if s.outcome != "response" or rep.get("outcome") != "healthy" or not CHECKS <= passed:
                    raise RuntimeError(f"{impl.name} {cond} round {rnd} run {i}: {s.outcome} "
                                       f"{(rep or {}).get('outcome') if isinstance(rep, dict) else rep}: "
                                       f"{(rep or {}).get('reason') if isinstance(rep, dict) else ''} (log {log.name})")
                time.sleep(0.05)  # the last answers' t_end are written just after they leave
                calls = [c for c in emu.journal(clear=True) if c.get("client") == impl.client and "t_end" in c]
                depth = max((c["depth"] for c in latency.chains(calls)), default=0)
                row = {"invoke_ms": (s.outcome_at - s.first_next_at) * 1000, "requests": len(calls), "depth": depth,
                       "writes": sum(1 for c in calls if c["mutating"])}
                if i == 0:
                    row["init_ms"] = (s.first_next_at - t0) * 1000
                    row["cold"] = True
                impl.samples.append(row)
            impl.samples[-1]["hwm_kib"] = proc_status_kib(p.pid, "VmHWM")
        finally:
            if p is not None:
                p.send_signal(signal.SIGKILL)
                p.wait(timeout=10)


def summarise(impl: Impl) -> dict:
    cold = [s for s in impl.samples if s.get("cold")]
    warm = [s for s in impl.samples if not s.get("cold")]
    med = statistics.median
    return {
        "init_ms": med(s["init_ms"] for s in cold),
        "first_ms": med(s["invoke_ms"] for s in cold),
        "cold_ms": med(s["init_ms"] + s["invoke_ms"] for s in cold),
        "warm_ms": med(s["invoke_ms"] for s in warm),
        "warm_p90_ms": b.percentile([s["invoke_ms"] for s in warm], 90),
        "hwm_mib": med(s["hwm_kib"] for s in impl.samples if "hwm_kib" in s) / 1024,
        "requests": sorted({s["requests"] for s in impl.samples}),
        "depth": sorted({s["depth"] for s in warm}),
        "writes": sorted({s["writes"] for s in impl.samples}),
        "cold_n": len(cold), "warm_n": len(warm),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warm", type=int, default=5)
    ap.add_argument("--latency", default="25+-5")
    ap.add_argument("--lambda-dir", default=str(ROOT / "target" / "lambda"))
    ap.add_argument("--out", default=str(HERE / "results.json"))
    args = ap.parse_args()

    zip_rust = Path(args.lambda_dir) / "freshness-check" / "bootstrap.zip"
    if not zip_rust.exists():
        sys.exit(f"{zip_rust} is missing: build the Lambda zips (tools/bench.sh does)")
    work = Path(tempfile.mkdtemp(prefix="peer-"))
    (work / "home").mkdir()
    try:
        # The Rust function as Lambda unpacks it; the Python handler likewise, from its own zip.
        rust_dir = work / "rust"
        unzip_bootstrap(zip_rust, rust_dir)
        task = work / "task"
        task.mkdir()
        handler_zip = work / "handler.zip"
        with zipfile.ZipFile(handler_zip, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(HERE / "freshness_check.py", "freshness_check.py")
        with zipfile.ZipFile(handler_zip) as z:
            z.extractall(task)
        sp = site_packages()
        sizes = {
            "rust_zip": zip_rust.stat().st_size,
            "rust_unpacked": (rust_dir / "bootstrap").stat().st_size,
            "python_handler_zip": handler_zip.stat().st_size,
            "boto3_zip": zip_size([sp / p for p in BOTO_PACKAGES if (sp / p).exists()], sp),
            "awslambdaric_zip": zip_size([sp / "awslambdaric"], sp),
        }
        py = str(b.VENV_BIN / "python")
        py_env = {"PYTHONPATH": str(task), "LAMBDA_TASK_ROOT": str(task), "AWS_SDK_UA_APP_ID": "autoheal-peer",
                  "PYTHONDONTWRITEBYTECODE": "1"}
        impls = [
            Impl("rust", [str(rust_dir / "bootstrap")], rust_dir, {}, "autoheal"),
            Impl("python-sequential", [py, "-m", "awslambdaric", "freshness_check.handler"], task, py_env, "peer"),
            Impl("python-threaded", [py, "-m", "awslambdaric", "freshness_check.handler_threaded"], task, py_env, "peer"),
        ]
        results = {"sizes": sizes, "conditions": {}}
        for cond, lat in (("no-latency", None), ("latency", args.latency)):
            for impl in impls:
                impl.samples = []
            started, load0 = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), b.machine()
            with b.Emulator(args=["--latency", lat] if lat else [], log_name="peer-emulator") as emu:
                emu.fresh_world()
                warmup = Impl("warm-up", impls[0].cmd, rust_dir, {}, "autoheal")
                run_round(warmup, emu, 0, work, 0, cond)  # records the known-good revision
                for rnd in range(args.rounds):
                    for impl in impls:
                        run_round(impl, emu, args.warm, work, rnd, cond)
                        last = impl.samples[-1]
                        print(f"  {cond} round {rnd} {impl.name}: init {impl.samples[-args.warm - 1]['init_ms']:.0f} ms, "
                              f"last warm {last['invoke_ms']:.0f} ms, {last['requests']} requests, depth {last['depth']}",
                              file=sys.stderr, flush=True)
            results["conditions"][cond] = {"latency": lat, "started": started, "machine_before": load0,
                                           "machine_after": b.machine(),
                                           "summary": {i.name: summarise(i) for i in impls},
                                           "samples": {i.name: i.samples for i in impls}}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mb = 1e6
    print(f"\nPackage: Rust bootstrap.zip {sizes['rust_zip'] / mb:.2f} MB ({sizes['rust_unpacked'] / mb:.1f} MB unpacked); "
          f"Python handler zip {sizes['python_handler_zip'] / 1e3:.1f} kB, plus boto3 and its dependencies "
          f"{sizes['boto3_zip'] / mb:.1f} MB zipped (bundled by Lambda's Python runtime: not uploaded), "
          f"awslambdaric {sizes['awslambdaric_zip'] / 1e3:.0f} kB (the runtime's own)")
    for cond, c in results["conditions"].items():
        s = c["summary"]
        r = s["rust"]
        print(f"\n{cond} ({c['latency'] or 'emulator answers as fast as it can'}); {args.rounds} cold starts and "
              f"{args.rounds * args.warm} warm invocations each; {c['started']}; {c['machine_before']} → "
              f"{c['machine_after'].split('load average ')[-1]}\n")
        # Round trips mean something only under the delay (and even there the emulator's queueing can
        # add one: bench/latency.py counts them properly).
        print("| | init | 1st invocation | cold start (init + 1st) | warm invocation, median (p90) | peak RSS | "
              "requests / dependent round trips (warm) |")
        print("|---|---|---|---|---|---|---|")
        for name, x in s.items():
            ratio = (lambda k: "" if name == "rust" else f" ({x[k] / r[k]:.1f}×)")  # noqa: E731
            print(f"| {name} | {x['init_ms']:.0f} ms{ratio('init_ms')} | {x['first_ms']:.0f} ms{ratio('first_ms')} | "
                  f"{x['cold_ms']:.0f} ms{ratio('cold_ms')} | {x['warm_ms']:.0f} ms ({x['warm_p90_ms']:.0f}){ratio('warm_ms')} | "
                  f"{x['hwm_mib']:.1f} MiB{ratio('hwm_mib')} | {'/'.join(map(str, x['requests']))} / "
                  f"{'/'.join(map(str, x['depth'])) if c['latency'] else '–'} |")
    Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
