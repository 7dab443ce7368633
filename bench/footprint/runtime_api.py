"""A local stand-in for the AWS Lambda Runtime API (2018-06-01), enough for one cold start.

Standard library only. Binds 127.0.0.1 on a port the kernel picks (port 0). It serves one function
process at a time:

- GET  /2018-06-01/runtime/invocation/next: returns the armed event with the headers a runtime
  requires (Lambda-Runtime-Aws-Request-Id, Lambda-Runtime-Deadline-Ms = now + 60 s,
  Lambda-Runtime-Invoked-Function-Arn, Lambda-Runtime-Trace-Id). A call made after the armed event
  was handed out waits for the next `arm()` (a warm invocation of the same process: it gets that
  event) or for `close()` (the connection is dropped; the harness kills the process meanwhile).
- POST /2018-06-01/runtime/invocation/<id>/response and /error: recorded, 202.
- POST /2018-06-01/runtime/init/error: recorded, 202.

The times recorded are `time.perf_counter()` when the request line has been parsed (or, for a parked
call, when the event is handed out), so they compare directly with a `perf_counter()` taken by the
harness just before it spawns the process; `delivered_wall` is the same instant on the wall clock
(`time.time()`), which compares with the emulator journal's times.
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
        self.first_next_at: float | None = None  # when the event was handed out (perf_counter)
        self.delivered_wall: float | None = None  # the same instant, time.time()
        self.handed_out = False
        self.first_next_probe = None  # whatever pid_hook returned
        self.next_calls = 0
        self.outcome: str | None = None  # "response" | "error" | "init_error"
        self.outcome_at: float | None = None
        self.outcome_body: bytes = b""
        self.outcome_wall: float | None = None
        self.done = threading.Event()  # set on response, error or init error


class RuntimeAPI:
    def __init__(self):
        self.session: Session | None = None
        self._cond = threading.Condition()
        self._closed = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle on, the body would wait for the
            # client's delayed ACK of the headers (up to 40 ms on Linux) before the function sees
            # its event. Lambda's own Runtime API adds no such stall.
            disable_nagle_algorithm = True

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
                now, wall = time.perf_counter(), time.time()
                if self.path != f"{PREFIX}/invocation/next" or api.session is None:
                    self._reply(404, b'{"errorType":"NotFound"}')
                    return
                with api._cond:
                    s = api.session
                    s.next_calls += 1
                    if s.handed_out:
                        # Park until the harness arms the next (warm) invocation or closes.
                        api._cond.wait_for(lambda: api.session is not s or api._closed, timeout=300)
                        if api._closed or api.session is s:
                            self.close_connection = True
                            return
                        s = api.session
                        now, wall = time.perf_counter(), time.time()
                    s.handed_out = True
                s.first_next_at, s.delivered_wall = now, wall
                if s.pid_hook is not None:
                    s.first_next_probe = s.pid_hook()
                deadline = int(time.time() * 1000) + 60_000
                self._reply(200, s.event, {
                    "Lambda-Runtime-Aws-Request-Id": s.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn": s.function_arn,
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                })

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
                    s.outcome_wall = time.time()
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
        """The next invocation: handed to the next GET /next, or to one already parked (warm)."""
        with self._cond:
            self.session = Session(event, function_arn, pid_hook)
            self._cond.notify_all()
            return self.session

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
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
