"""Shared helpers for the benchmarks: the test-world emulator, the environment, timing, statistics.

Everything talks to 127.0.0.1 only. The emulator is started here and always stopped here (closing its
stdin makes it exit; terminate/kill follow if it does not), so a failed bench leaves nothing behind.
"""

from __future__ import annotations

import json
import math
import os
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


class Emulator:
    """`tests/world/emulator.py` as a context manager."""

    def __init__(self, start_timeout: float = 90.0):
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="bench-emulator-", suffix=".log", delete=False)

    def __enter__(self) -> "Emulator":
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "python"), str(ROOT / "tests" / "world" / "emulator.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, cwd=ROOT,
        )
        try:
            line = self._first_line()
            if not line.startswith("EMULATOR_URL=http://127.0.0.1:"):
                raise RuntimeError(f"unexpected first line from the emulator: {line!r}")
            self.url = line.split("=", 1)[1]
            # Keep draining stdout so the emulator can never block on a full pipe.
            threading.Thread(target=self._drain, daemon=True).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _first_line(self) -> str:
        deadline = time.monotonic() + self.start_timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"emulator printed no URL within {self.start_timeout:.0f} s (log: {self.log.name})")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError(f"emulator exited before printing its URL (log: {self.log.name})")
                buf += chunk
        return buf.split(b"\n", 1)[0].decode().strip()

    def _drain(self) -> None:
        try:
            while self.proc and self.proc.stdout.read(4096):
                pass
        except Exception:
            pass

    def stop(self) -> None:
        p = self.proc
        if p is None:
            return
        try:
            if p.stdin:
                p.stdin.close()  # the emulator exits when its stdin closes
        except Exception:
            pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        self.proc = None
        self.log.close()

    def __exit__(self, exc_type, *_) -> None:
        self.stop()
        if exc_type is None:  # keep the emulator's log only when something went wrong
            try:
                os.unlink(self.log.name)
            except OSError:
                pass
        else:
            print(f"emulator log kept at {self.log.name}", file=sys.stderr)

    def post(self, path: str, body: dict | None = None, timeout: float = 600.0):
        data = json.dumps(body if body is not None else {}).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        try:
            out = json.loads(raw or b"null")
        except json.JSONDecodeError:
            out = raw.decode(errors="replace")
        if isinstance(out, dict) and "error" in out:
            raise RuntimeError(f"{path}: {out['error']}")
        return out

    def fresh_world(self) -> dict:
        """Wipe everything and seed a healthy ViewerAtlas."""
        self.post("/moto-api/reset")
        return self.post("/_world/seed", {})

    def journal(self, clear: bool = False) -> list:
        """Requests the Rust SDK (Autoheal) made, as the emulator classified them."""
        return self.post("/_world/journal", {"clear": clear})


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
