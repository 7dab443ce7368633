"""A local stand-in for the AWS Lambda Runtime API (2018-06-01), enough for one cold start.

Standard library only. Binds 127.0.0.1 on a port the kernel picks (port 0). It serves one function
process at a time, one invocation per process:

- GET  /2018-06-01/runtime/invocation/next: the first call returns the armed event with the headers
  lambda_runtime requires (Lambda-Runtime-Aws-Request-Id, Lambda-Runtime-Deadline-Ms = now + 60 s,
  Lambda-Runtime-Invoked-Function-Arn, Lambda-Runtime-Trace-Id). Later calls block until the next
  `arm()` or `close()` and then drop the connection: the harness kills the process meanwhile.
- POST /2018-06-01/runtime/invocation/<id>/response and /error: recorded, 202.
- POST /2018-06-01/runtime/init/error: recorded, 202.

The times recorded are `time.perf_counter()` when the request line has been parsed, so they compare
directly with a `perf_counter()` taken by the harness just before it spawns the process.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class Session:
    """What one function process did against the API."""

    def __init__(self, event: bytes, function_arn: str, pid_hook=None):
        self.event = event
        self.function_arn = function_arn
        self.request_id = str(uuid.uuid4())
        self.pid_hook = pid_hook  # called (in the handler thread) on the first GET /next
        self.first_next_at: float | None = None
        self.first_next_probe = None  # whatever pid_hook returned
        self.next_calls = 0
        self.outcome: str | None = None  # "response" | "error" | "init_error"
        self.outcome_at: float | None = None
        self.outcome_body: bytes = b""
        self.done = threading.Event()  # set on response, error or init error
        self.release = threading.Event()  # unblocks parked GET /next calls


class RuntimeAPI:
    def __init__(self):
        self.session: Session | None = None
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _reply(self, code: int, body: bytes = b"", headers: dict | None = None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def do_GET(self):
                now = time.perf_counter()
                s = api.session
                if self.path != f"{PREFIX}/invocation/next" or s is None:
                    self._reply(404, b'{"errorType":"NotFound"}')
                    return
                with api._lock:
                    s.next_calls += 1
                    first = s.next_calls == 1
                if first:
                    s.first_next_at = now
                    if s.pid_hook is not None:
                        s.first_next_probe = s.pid_hook()
                    deadline = int(time.time() * 1000) + 60_000
                    self._reply(200, s.event, {
                        "Lambda-Runtime-Aws-Request-Id": s.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline),
                        "Lambda-Runtime-Invoked-Function-Arn": s.function_arn,
                        "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                    })
                    return
                # One invocation per process: park the call until the harness moves on, then hang up.
                s.release.wait(timeout=300)
                self.close_connection = True

            def do_POST(self):
                now = time.perf_counter()
                body = self._body()
                s = api.session
                if s is None:
                    self._reply(404)
                    return
                if self.path == f"{PREFIX}/init/error":
                    kind = "init_error"
                elif self.path == f"{PREFIX}/invocation/{s.request_id}/response":
                    kind = "response"
                elif self.path == f"{PREFIX}/invocation/{s.request_id}/error":
                    kind = "error"
                else:
                    self._reply(404, b'{"errorType":"NotFound"}')
                    return
                if s.outcome is None:
                    s.outcome, s.outcome_at, s.outcome_body = kind, now, body
                self._reply(202, b'{"status":"OK"}')
                s.done.set()

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A killed function process resets its kept-alive connection: expected, not an error.
                import sys

                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "RuntimeAPI":
        self._thread.start()
        return self

    def arm(self, event: bytes, function_arn: str, pid_hook=None) -> Session:
        """A new session for the next process; releases calls parked by the previous one."""
        if self.session is not None:
            self.session.release.set()
        self.session = Session(event, function_arn, pid_hook)
        return self.session

    def close(self) -> None:
        if self.session is not None:
            self.session.release.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "RuntimeAPI":
        return self.start()

    def __exit__(self, *_):
        self.close()


if __name__ == "__main__":
    # Manual use: serve one echo event and print what came back.
    with RuntimeAPI() as api:
        s = api.arm(json.dumps({"hello": "world"}).encode(), "arn:aws:lambda:us-east-1:123456789012:function:x")
        print(f"AWS_LAMBDA_RUNTIME_API={api.address}", flush=True)
        s.done.wait()
        print(s.outcome, s.outcome_body.decode(errors="replace"))
