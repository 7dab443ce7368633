"""Start and stop the test world (`emulator.py`) from Python: the one helper the demo and the
benchmarks share (the Rust tests have their own in `tests/src/lib.rs`).

    import harness
    with harness.Emulator() as emu:            # started, URL read within the timeout
        emu.fresh_world()                      # moto reset + a healthy ViewerAtlas
        emu.post("/_world/scenario", {"name": "stale", "args": {"minutes": 240}})
        ...                                    # stopped here, also on an exception

What it guarantees, so a failed run never leaves an emulator behind or hangs:
- start: the emulator must print `EMULATOR_URL=http://127.0.0.1:<port>` within `start_timeout`
  seconds, or it is stopped and `RuntimeError` names its log;
- its stdout is drained for as long as it runs (it can never block on a full pipe);
- stop: its stdin is closed (the emulator exits on EOF), then terminate, then kill; `stop()` also runs
  at interpreter exit for an emulator that was never stopped explicitly;
- its stderr goes to a temporary log, deleted after a clean run and kept (the path is printed) after
  a failure.

Loopback only: the emulator binds 127.0.0.1, and every request here goes to the URL it printed.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"


class Emulator:
    """`tests/world/emulator.py` as a context manager (or `start()` / `stop()`)."""

    def __init__(self, start_timeout: float = 90.0, args: list[str] | None = None,
                 env: dict | None = None, log_name: str = "emulator"):
        self.start_timeout = start_timeout
        self.args = list(args or [])
        self.env = env
        self.log_name = log_name
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.log = None

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> "Emulator":
        if not PYTHON.exists():
            raise RuntimeError(f"{PYTHON} is missing: run tools/venv.sh (make does) to install the emulator")
        self.log = tempfile.NamedTemporaryFile(prefix=f"{self.log_name}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [str(PYTHON), str(HERE / "emulator.py"), *self.args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, cwd=ROOT, env=self.env,
        )
        atexit.register(self.stop)
        try:
            line = self._first_line()
            if not line.startswith("EMULATOR_URL=http://127.0.0.1:"):
                raise RuntimeError(f"unexpected first line from the emulator: {line!r} (log: {self.log.name})")
            self.url = line.split("=", 1)[1]
            threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
        except BaseException:
            self.stop(keep_log=True)
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

    @staticmethod
    def _drain(proc: subprocess.Popen) -> None:
        try:
            while proc.stdout.read(4096):
                pass
        except (OSError, ValueError):
            pass

    def stop(self, keep_log: bool = False) -> None:
        p, self.proc = self.proc, None
        if p is not None:
            try:
                p.stdin.close()  # the emulator exits when its stdin closes
            except OSError:
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
        if self.log is not None:
            self.log.close()
            if keep_log:
                print(f"emulator log kept at {self.log.name}", file=sys.stderr)
            else:
                try:
                    os.unlink(self.log.name)
                except OSError:
                    pass
            self.log = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, exc_type, *_) -> None:
        self.stop(keep_log=exc_type is not None)

    # -- control plane ---------------------------------------------------------------------------

    def post(self, path: str, body: dict | None = None, timeout: float = 600.0):
        """POST JSON to `path` (a `/_world/` route or `/moto-api/reset`); the answer, parsed when it is
        JSON. An answer `{"error": ...}` (a failed world change) raises."""
        data = json.dumps(body if body is not None else {}).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:  # the control plane answers a failed change with 500 + why
            raise RuntimeError(f"{path}: HTTP {e.code}: {e.read().decode(errors='replace')[:2000]}") from None
        try:
            out = json.loads(raw or b"null")
        except json.JSONDecodeError:
            out = raw.decode(errors="replace")
        if isinstance(out, dict) and "error" in out:
            raise RuntimeError(f"{path}: {out['error']}")
        return out

    def fresh_world(self, scenarios: list[dict] | None = None) -> dict:
        """Wipe everything, seed a healthy ViewerAtlas, then apply `scenarios` ({"name", "args"})."""
        self.post("/moto-api/reset")
        seed = self.post("/_world/seed", {})
        for sc in scenarios or []:
            self.post("/_world/scenario", sc)
        return seed

    def journal(self, clear: bool = False) -> list:
        """Requests Autoheal (the Rust SDK) made, and a benchmark peer tagged `app/autoheal-peer`, as the
        emulator classified them (arrival `t`, answer sent `t_end`)."""
        return self.post("/_world/journal", {"clear": clear})

    def set_latency(self, ms: float, jitter_ms: float = 0.0, seed: int | None = None) -> dict:
        """Every AWS API answer from now on takes `ms` ± `jitter_ms` (0 turns the delay off)."""
        body = {"ms": ms, "jitter_ms": jitter_ms}
        if seed is not None:
            body["seed"] = seed
        return self.post("/_world/latency", body)
