"""Lambda footprint of Autoheal's five functions against a bare lambda_runtime hello-world.

Reproduce (from the repository root; each build is a cold release build with zig, ~10 min on 2 cores):

    PATH=$PWD/.venv/bin:$PATH nice cargo-lambda lambda build --release --x86-64 --output-format zip \
        --locked --bin freshness-check --bin alarm-responder --bin rotation-redeploy \
        --bin deployment-watch --bin task-watch
    (cd bench/footprint/hello && PATH=../../../.venv/bin:$PATH nice cargo-lambda lambda build \
        --release --x86-64 --output-format zip --locked)
    .venv/bin/python bench/footprint/measure.py --runs 15   # the BENCHMARKS.md figures

Options: --only freshness-check,alarm-responder (a subset), --lambda-dir DIR (other zips),
--env KEY=VALUE (extra environment for every process), --tls (reach the emulator through a local TLS
front, tls_front.py: handshakes, and the machine's whole CA bundle as the trust store;
BENCHMARKS.md's HTTPS table), --variant LABEL=DIR
(repeatable: compare builds in one interleaved round-robin, e.g. --variant before=/tmp/old
--variant after=target/lambda), --out FILE.

Artifacts read: target/lambda/<name>/bootstrap.zip and
bench/footprint/hello/target/lambda/hello/bootstrap.zip. arm64 is not measured (the aarch64 std is
not installed on the bench machine); the builds are x86_64-unknown-linux-gnu.

What is measured, per function:
- zip: size of bootstrap.zip (what would be uploaded).
- init: perf_counter() just before the process is spawned → the Runtime API receiving its first
  GET /2018-06-01/runtime/invocation/next (bench/footprint/runtime_api.py, on 127.0.0.1). For Autoheal
  that covers process start, logging set-up, Config::from_env, the AWS SDK config load and building
  the seven clients (autoheal::lambda::serve). Median over --runs starts, after one discarded warm-up
  round that fills the page cache. The functions are started round-robin (hello, then each Autoheal
  function, then again), so a load swing on the machine affects all of them alike.
- peak RSS: VmHWM from /proc/<pid>/status read right after the first invocation's /response (or
  /error) has arrived; the invocation does the function's real work against a freshly seeded emulator
  world (tests/world/emulator.py on loopback: plain HTTP, so no TLS handshakes; the SDK still loads the
  system trust roots at init, so that cost is in the figures).
  Also VmHWM at the first GET /next (after init, before any work).
Each start gets a fresh world (moto reset + seed, plus the scenario listed in FUNCTIONS), so every run
does the same work. The process is killed after its one invocation. Every start gets its own Runtime
API server on a new port, so a killed process's in-flight GET /next cannot reach the next one.

The environment is built from scratch, like Lambda's: AWS_LAMBDA_* (128 MB), the Autoheal settings
(region us-east-1, bucket, topic, test credentials, AWS_ENDPOINT_URL = the emulator, Twitch validation
off), HOME = an empty directory and AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE = /dev/null.

Output: a Markdown table on stdout and the raw samples in bench/footprint/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "world"))
from harness import Emulator  # noqa: E402
from runtime_api import RuntimeAPI  # noqa: E402
from tls_front import TlsFront  # noqa: E402

EVENTS = ROOT / "tests" / "fixtures" / "events"
ACCOUNT = "123456789012"

# function -> (event fixture, world scenarios applied after the seed[, changes to the event])
FUNCTIONS = {
    "freshness-check": ("schedule-freshness.json", []),
    # The reaction benchmark's path: stalled collector, alarm in ALARM -> triage, ledger, UpdateService.
    "alarm-responder": ("alarm-eventbridge-snapshot-stalled.json", [
        {"name": "collector-stalled", "args": {"minutes": 90}},
        {"name": "alarm", "args": {"alarm": "ViewerAtlas-Collector-Snapshot-Stalled"}},
    ]),
    "rotation-redeploy": ("secret-rotation-succeeded.json", []),
    "deployment-watch": ("ecs-deployment-failed-collector.json", []),
    # The stopped analysis task's log stream shows a transient failure -> one manual RunTask. The
    # sample names revision 7, which the seeded world does not have; the analysis exits 0 on failure.
    "task-watch": ("ecs-task-stopped-analysis.json", [
        {"name": "task-log", "args": {"family": "vieweratlas-analysis",
                                      "task_id": "6f1e2d3c4b5a69788796a5b4c3d2e1f0",
                                      "kind": "analysis-pipeline-failed"}},
    ], {"detail.taskDefinitionArn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/vieweratlas-analysis:2",
        "detail.containers.0.exitCode": 0}),
}
HELLO_ZIP = HERE / "hello" / "target" / "lambda" / "hello" / "bootstrap.zip"


def proc_status_kib(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def lambda_env(name: str, api: str, emulator_url: str, home: str) -> dict:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "AWS_LAMBDA_RUNTIME_API": api,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/28/[1]00000000000000000000000000000000",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_ENDPOINT_URL": emulator_url,
        "S3_BUCKET": "vieweratlas-data-lake",
        "SNS_TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:vieweratlas-alerts",
        "AUTOHEAL_TWITCH_VALIDATE_URL": "",
    }


def unzip_bootstrap(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as z:
        z.extract("bootstrap", dest)
    out = dest / "bootstrap"
    out.chmod(0o755)
    return out


def one_start(api: RuntimeAPI, binary: Path, name: str, event: bytes, env: dict, logdir: Path, i: int) -> dict:
    holder: dict = {}

    def at_first_next():
        pid = holder.get("pid")
        return proc_status_kib(pid, "VmHWM") if pid else None

    s = api.arm(event, f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name.split('@')[0]}", at_first_next)
    with open(logdir / f"{name}-{i}.log", "wb") as log:
        t0 = time.perf_counter()
        p = subprocess.Popen([str(binary)], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             cwd=str(binary.parent))
        holder["pid"] = p.pid
        try:
            if not s.done.wait(timeout=60):
                raise RuntimeError(f"{name} run {i}: no response within 60 s (log {logdir}/{name}-{i}.log)")
            hwm = proc_status_kib(p.pid, "VmHWM")
            rss = proc_status_kib(p.pid, "VmRSS")
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)
    if s.first_next_at is None:
        raise RuntimeError(f"{name} run {i}: {s.outcome} before any GET /next")
    summary, reason = "", ""
    try:
        body = json.loads(s.outcome_body or b"null")
        if isinstance(body, dict):
            summary = body.get("outcome") or body.get("errorType") or ""
            reason = str(body.get("reason") or "")[:200]
            if s.outcome == "error":
                summary = f"{summary}: {body.get('errorMessage', '')[:120]}"
    except ValueError:
        pass
    return {
        "init_ms": (s.first_next_at - t0) * 1000,
        "invoke_ms": (s.outcome_at - s.first_next_at) * 1000,
        "hwm_init_kib": s.first_next_probe,
        "hwm_kib": hwm,
        "rss_kib": rss,
        "outcome": s.outcome,
        "summary": summary,
        "reason": reason,
    }


def set_path(doc, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        doc = doc[int(p)] if isinstance(doc, list) else doc[p]
    if isinstance(doc, list):
        doc[int(last)] = value
    else:
        doc[last] = value


class Target:
    """One binary under test: its unpacked bootstrap, its event and the world it runs against."""

    def __init__(self, name: str, zip_path: Path, event: bytes, scenarios: list[dict] | None, work: Path,
                 function: str | None = None):
        self.name, self.zip_path, self.event, self.scenarios = name, zip_path, event, scenarios
        self.function = function or name
        d = work / name
        d.mkdir()
        self.binary = unzip_bootstrap(zip_path, d)
        self.bootstrap_bytes = self.binary.stat().st_size
        self.samples: list[dict] = []

    def summary(self) -> dict:
        xs = self.samples
        med = lambda k: statistics.median(x[k] for x in xs)  # noqa: E731
        return {
            "function": self.name,
            "zip_bytes": self.zip_path.stat().st_size,
            "bootstrap_bytes": self.bootstrap_bytes,
            "runs": len(xs),
            "init_ms_median": med("init_ms"),
            "init_ms_min": min(x["init_ms"] for x in xs),
            "init_ms_max": max(x["init_ms"] for x in xs),
            "invoke_ms_median": med("invoke_ms"),
            "hwm_init_kib_median": med("hwm_init_kib"),
            "hwm_kib_median": med("hwm_kib"),
            "hwm_kib_max": max(x["hwm_kib"] for x in xs),
            "outcomes": sorted({f"{x['outcome']} {x['summary']}".strip() for x in xs}),
            "samples": xs,
        }


def measure_all(targets: list[Target], runs: int, emu: Emulator, work: Path, extra_env: dict,
                endpoint: str | None = None) -> None:
    """Round-robin over the targets, so a load swing on the machine hits all of them alike.

    Every start gets its own Runtime API server (a new port): a killed process's last GET /next can
    still be in flight, and must not be taken for the next process's first one."""
    home = work / "home"
    home.mkdir(exist_ok=True)
    for i in range(runs + 1):  # round 0 warms the page cache and is discarded
        for t in targets:
            if t.scenarios is not None:
                emu.fresh_world(t.scenarios)
            with RuntimeAPI() as api:
                env = {**lambda_env(t.function, api.address, endpoint or emu.url, str(home)), **extra_env}
                r = one_start(api, t.binary, t.name, t.event, env, work, i)
            if i > 0:
                t.samples.append(r)
            print(f"  {t.name} run {i}: init {r['init_ms']:.2f} ms, invoke {r['invoke_ms']:.1f} ms, "
                  f"VmHWM {r['hwm_kib']} KiB ({r['outcome']} {r['summary']})", file=sys.stderr, flush=True)


def machine() -> str:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(open("/proc/meminfo").readline().split()[1])
        mem = f"{kib / 1024 / 1024:.1f} GiB RAM"
    except Exception:
        pass
    return (f"{os.cpu_count()} cores ({cpu}), {mem}, Linux {platform.release()}, "
            f"load average {os.getloadavg()[0]:.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--only", default=",".join(FUNCTIONS), help="comma-separated function names")
    ap.add_argument("--out", default=str(HERE / "results.json"))
    ap.add_argument("--lambda-dir", default=str(ROOT / "target" / "lambda"),
                    help="where cargo-lambda put <name>/bootstrap.zip")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for every process (variants, e.g. SSL_CERT_DIR=/nonexistent)")
    ap.add_argument("--variant", action="append", default=[], metavar="LABEL=DIR",
                    help="compare builds: each function from each DIR, started in the same round-robin "
                         "(rows <name>@<LABEL>); replaces --lambda-dir")
    ap.add_argument("--tls", action="store_true",
                    help="reach the emulator through HTTPS (tls_front.py): TLS handshakes and a real-size trust store")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="footprint-"))
    emu = front = None
    extra_env = dict(kv.split("=", 1) for kv in args.env)
    try:
        targets = [Target("hello", HELLO_ZIP, json.dumps({"hello": "world", "n": 1}).encode(), None, work)]
        variants = [v.split("=", 1) for v in args.variant] or [(None, args.lambda_dir)]
        for name in [n for n in args.only.split(",") if n]:
            fixture, scenarios, *changes = FUNCTIONS[name]
            event = json.loads((EVENTS / fixture).read_bytes())
            for path, value in (changes[0] if changes else {}).items():
                set_path(event, path, value)
            for label, directory in variants:
                zip_path = Path(directory) / name / "bootstrap.zip"
                if not zip_path.exists():
                    print(f"skipping {name}: {zip_path} not built", file=sys.stderr)
                    continue
                row = f"{name}@{label}" if label else name
                targets.append(Target(row, zip_path, json.dumps(event).encode(), scenarios, work, name))
        emu = Emulator(log_name="footprint-emulator").start()
        endpoint = None
        if args.tls:
            (work / "tls").mkdir()
            front = TlsFront(int(emu.url.rsplit(":", 1)[1]), work / "tls")
            extra_env.setdefault("SSL_CERT_FILE", str(front.bundle))
            endpoint = front.url
        measure_all(targets, args.runs, emu, work, extra_env, endpoint)
    finally:
        if front is not None:
            front.stop()
        if emu is not None:
            emu.stop(keep_log=sys.exc_info()[0] is not None)
        shutil.rmtree(work, ignore_errors=True)
    results = [t.summary() for t in targets]

    hello = results[0]
    mib = 1024 * 1024
    print("| function | zip (MiB) | bootstrap (MiB) | init median (ms) | init vs hello | "
          "VmHWM after init (MiB) | peak RSS after 1st invocation (MiB) | 1st invocation |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['function']} | {r['zip_bytes'] / mib:.2f} | {r['bootstrap_bytes'] / mib:.2f} | "
              f"{r['init_ms_median']:.2f} ({r['init_ms_min']:.2f}-{r['init_ms_max']:.2f}) | "
              f"{r['init_ms_median'] / hello['init_ms_median']:.2f}x | {r['hwm_init_kib_median'] / 1024:.1f} | "
              f"{r['hwm_kib_median'] / 1024:.1f} (max {r['hwm_kib_max'] / 1024:.1f}) | "
              f"{'; '.join(r['outcomes'])}, {r['invoke_ms_median']:.0f} ms |")
    m = machine()
    print(f"\n{m}; {hello['runs']} measured starts per function")
    Path(args.out).write_text(json.dumps({"measured_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                                          "machine": m, "extra_env": args.env, "tls": args.tls,
                                          "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
