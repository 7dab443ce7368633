"""Shared helpers for the benchmarks: the environment, timing, statistics; the test-world emulator is
`tests/world/harness.py`'s (re-exported here as `Emulator`).

Everything talks to 127.0.0.1 only. The harness starts the emulator with a timeout and always stops it
(closing its stdin makes it exit; terminate/kill follow if it does not), so a failed bench leaves
nothing behind.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "world"))
from harness import Emulator  # noqa: E402,F401  (the one emulator helper; benches use b.Emulator)

VENV_BIN = ROOT / ".venv" / "bin"
DEFAULT_AUTOHEAL = ROOT / "target" / "bench" / "release" / "autoheal"
SMOKE_SH = ROOT / "bench" / "smoke-test.sh"
BUCKET = "vieweratlas-data-lake"
SNAPSHOT_PREFIX = "vieweratlas/raw/snapshots/"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:vieweratlas-alerts"


def autoheal_bin(arg: str | None) -> Path:
    path = Path(arg or os.environ.get("AUTOHEAL_BIN") or DEFAULT_AUTOHEAL)
    if not os.access(path, os.X_OK):
        sys.exit(f"autoheal binary not found at {path}: build it with "
                 "CARGO_TARGET_DIR=target/bench cargo build --release --locked --bin autoheal")
    return path


def bench_env(url: str) -> dict:
    """The environment both smoke tests run with: the emulator as endpoint, test credentials, the
    venv's aws and python3 first on PATH (as an operator with the project venv active would have)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTOHEAL_"))}
    env.update({
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "ECS_CLUSTER": "vieweratlas-cluster",
        "S3_BUCKET": BUCKET,
        "SNS_TOPIC_ARN": TOPIC_ARN,
        "AUTOHEAL_TWITCH_VALIDATE_URL": "",
    })
    return env


def timed(cmd: list[str], env: dict, timeout: float) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    cp = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return time.perf_counter() - t0, cp


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    s = sorted(values)
    k = max(1, math.ceil(p / 100 * len(s)))
    return s[k - 1]


def machine() -> str:
    """Cores and load, printed with every table: the numbers mean little without them."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.2f} (1 min) / {five:.2f} (5 min)"


def median(values: list[float]) -> float:
    return statistics.median(values)


def autoheal_report(cp: subprocess.CompletedProcess) -> dict:
    try:
        return json.loads(cp.stdout)
    except json.JSONDecodeError as e:
        raise RuntimeError(f"autoheal printed no JSON report ({e}); stdout={cp.stdout[-500:]!r} "
                           f"stderr={cp.stderr[-500:]!r}")


def check_detail(report: dict, name: str) -> tuple[str, str]:
    for c in report.get("checks", []):
        if c.get("name") == name:
            return c.get("status", "?"), c.get("detail", "")
    return "missing", ""
