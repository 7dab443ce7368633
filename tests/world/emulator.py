"""The test world: moto server on loopback plus a small control plane for what no AWS API sets.

Started by the Rust test harness, `make demo` and the benchmarks:

    .venv/bin/python tests/world/emulator.py [--port 0]

It binds 127.0.0.1 only, on a free port chosen by the kernel (port 0), and prints one line
`EMULATOR_URL=http://127.0.0.1:<port>` once it accepts requests. It stops on SIGTERM/SIGINT or when
its stdin closes (so a crashed harness never leaves it behind).

Everything a ViewerAtlas operator's scripts would create is created through the real AWS APIs of the
emulator (boto3 against this very server): see `world.py`. Only state that in real AWS belongs to
something other than an API caller is set directly in moto's in-memory model, under `/_world/`:

- the ECS scheduler's runtime state of a service (runningCount, rollout state, service events,
  deployments' failed tasks): moto keeps runningCount at 0 and never starts tasks;
- the passage of time for stored objects (S3 LastModified), because no API back-dates an object.

These routes exist only in the test world; the product never calls them and has no test hooks.

Latency (off by default): `--latency 25+-5` (or `AUTOHEAL_WORLD_LATENCY=25+-5`, or at run time
`POST /_world/latency {"ms": 25, "jitter_ms": 5}`) makes every AWS API answer take 25 ms ± 5 ms
(uniform), counted from the request's arrival: the emulator's own processing runs inside that time, as
AWS's does inside its latency, and only processing longer than the delay shows on top. Control routes
(`/_world/`, `/moto-api/`) and the world's own set-up calls (`world.py`'s clients, user agent
`app/autoheal-test-world`) are never delayed. Journal entries carry the arrival time `t` and the time
the answer left, `t_end`, so a benchmark can see which calls waited for which.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import sys
import threading
import time
import traceback
import io

# moto reads these at import time; the world is always us-east-1 in account 123456789012.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "false")

from werkzeug.serving import make_server  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402

REGION = "us-east-1"


def _ecs_backend():
    from moto.ecs.models import ecs_backends

    return ecs_backends[DEFAULT_ACCOUNT_ID][REGION]


def _s3_backend():
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["global"]


def set_service_state(body: dict) -> dict:
    """What the ECS scheduler would have done to a service: tasks running, rollout progress, events."""
    backend = _ecs_backend()
    cluster = body.get("cluster", world.CLUSTER)
    name = body["service"]
    service = backend.services.get(f"{cluster}:{name}")
    if service is None:
        raise KeyError(f"no service {cluster}:{name}")
    if "runningCount" in body:
        service.running_count = int(body["runningCount"])
        service.pending_count = max(service.desired_count - service.running_count, 0)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    primary = service.deployments[0] if service.deployments else None
    if primary is not None:
        primary["runningCount"] = service.running_count
        primary["pendingCount"] = service.pending_count
        primary["desiredCount"] = service.desired_count
        if "rolloutState" in body:
            primary["rolloutState"] = body["rolloutState"]
            primary["rolloutStateReason"] = body.get(
                "rolloutStateReason", f"ECS deployment {primary['id']} {body['rolloutState'].lower()}."
            )
        if "deploymentAgeMinutes" in body:
            primary["createdAt"] = now - dt.timedelta(minutes=float(body["deploymentAgeMinutes"]))
        if "failedTasks" in body:
            primary["failedTasks"] = int(body["failedTasks"])
        primary["updatedAt"] = now
    if "events" in body:
        service.events = [
            {
                "id": f"evt-{i}",
                "createdAt": now - dt.timedelta(minutes=int(e.get("minutesAgo", i))),
                "message": e["message"],
            }
            for i, e in enumerate(body["events"])
        ]
    return {"service": name, "runningCount": service.running_count}


def age_objects(body: dict) -> dict:
    """Let `minutes` pass for every object under a prefix (S3 LastModified moves back)."""
    bucket = _s3_backend().get_bucket(body.get("bucket", world.BUCKET))
    prefix = body.get("prefix", "")
    delta = dt.timedelta(minutes=float(body["minutes"]))
    n = 0
    for key in list(bucket.keys.values()):
        keys = key if isinstance(key, list) else [key]
        for k in keys:
            if k.name.startswith(prefix):
                k.last_modified = k.last_modified - delta
                n += 1
    return {"aged": n}


READ_VERBS = ("Describe", "List", "Get", "Head", "Filter", "Query", "Receive", "Validate")


def classify(environ) -> dict | None:
    """Name the AWS operation of a request made by Autoheal (the Rust SDK), like CloudTrail would."""
    ua = environ.get("HTTP_USER_AGENT", "") + " " + environ.get("HTTP_X_AMZ_USER_AGENT", "")
    if "aws-sdk-rust" in ua:
        client = "autoheal"
    elif "app/autoheal-peer" in ua:  # a benchmark's peer implementation (AWS_SDK_UA_APP_ID)
        client = "peer"
    else:
        return None
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        service, _, op = target.partition(".")
    elif "/operation/" in path:  # smithy RPC v2 CBOR: /service/<svc>/operation/<op>
        service, op = path.split("/service/")[-1].split("/operation/")
    elif environ.get("_body", b"").startswith(b"Action=") or b"&Action=" in environ.get("_body", b""):
        from urllib.parse import parse_qs
        form = parse_qs(environ["_body"].decode(errors="replace"))
        service, op = "query", form.get("Action", ["?"])[0]
    else:
        service = "s3"
        verb = {"GET": "Get", "HEAD": "Head", "PUT": "Put", "POST": "Post", "DELETE": "Delete"}.get(method, method)
        op = verb + ("Bucket" if path.count("/") <= 1 else "Object")
        if method == "GET" and ("list-type" in environ.get("QUERY_STRING", "") or path.count("/") <= 1):
            op = "ListObjects"
    mutating = not op.startswith(READ_VERBS)
    return {"service": service, "op": op, "mutating": mutating, "path": path, "client": client}


JOURNAL: list = []
JOURNAL_LOCK = threading.Lock()
# S3 applies If-None-Match/If-Match atomically; moto checks, then writes, in two steps. One lock
# around conditional writes makes the emulator as strict as S3 for the ledger's concurrency tests.
CONDITIONAL_WRITE_LOCK = threading.Lock()


# Faults to inject into Autoheal's calls, by operation name: {"InternalFailure": ...}. The emulator
# answers them itself, as AWS would on a bad day (what moto cannot be made to do).
FAULTS: dict = {}


def set_faults(body: dict) -> dict:
    with JOURNAL_LOCK:
        FAULTS.clear()
        FAULTS.update(body.get("ops", {}))
    return {"faults": sorted(FAULTS)}


def fault_response(entry: dict, code: str, status: int):
    msg = f"injected fault on {entry['op']}"
    if entry["service"] == "s3":
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{msg}</Message></Error>"
        return Response(body, status, content_type="application/xml")
    if entry["service"] == "query":
        body = (f"<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code><Message>{msg}</Message></Error>"
                f"<RequestId>fault</RequestId></ErrorResponse>")
        return Response(body, status, content_type="text/xml")
    return Response(json.dumps({"__type": code, "message": msg}), status, content_type="application/x-amz-json-1.1")


class Latency:
    """How long every AWS API answer takes: `ms` ± `jitter_ms` (uniform), 0 = off."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ms = 0.0
        self.jitter_ms = 0.0
        self.rng = random.Random(0)

    def set(self, ms: float, jitter_ms: float = 0.0, seed: int | None = None) -> dict:
        if ms < 0 or jitter_ms < 0 or jitter_ms > ms:
            raise ValueError(f"latency {ms} ms +- {jitter_ms} ms: need 0 <= jitter <= delay")
        with self.lock:
            self.ms, self.jitter_ms = float(ms), float(jitter_ms)
            if seed is not None:
                self.rng = random.Random(seed)
        return {"ms": self.ms, "jitter_ms": self.jitter_ms}

    def parse(self, spec: str) -> dict:
        """`25`, `25+-5` or `25±5` (milliseconds)."""
        spec = spec.strip().replace("±", "+-")
        base, _, jitter = spec.partition("+-")
        return self.set(float(base or 0), float(jitter or 0))

    def sample(self) -> float:
        """Seconds the next answer takes (0 when off)."""
        with self.lock:
            if self.ms <= 0:
                return 0.0
            return max(0.0, self.rng.uniform(self.ms - self.jitter_ms, self.ms + self.jitter_ms)) / 1000


LATENCY = Latency()


def delayed(environ) -> bool:
    """World set-up calls are not part of any measurement: they are never delayed."""
    ua = environ.get("HTTP_USER_AGENT", "") + " " + environ.get("HTTP_X_AMZ_USER_AGENT", "")
    return "app/autoheal-test-world" not in ua and not environ.get("PATH_INFO", "").startswith("/moto-api/")


def reseed(url: str) -> dict:
    """A new healthy world in the same emulator: moto's own reset, then the seed."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset", data=b"", method="POST"), timeout=60).read()
    with JOURNAL_LOCK:
        JOURNAL.clear()
        FAULTS.clear()
    return world.seed(url)


def journal(body: dict) -> list:
    with JOURNAL_LOCK:
        out = list(JOURNAL)
        if body.get("clear"):
            JOURNAL.clear()
    return out


def age_secrets(body: dict) -> dict:
    """Let `minutes` pass for the secrets (LastChangedDate and CreatedDate move back)."""
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION]
    delta = int(float(body["minutes"]) * 60)
    n = 0
    for secret in backend.secrets.values():
        for attr in ("last_changed_date", "created_date"):
            if getattr(secret, attr, None):
                setattr(secret, attr, getattr(secret, attr) - delta)
        n += 1
    return {"aged": n}


ROUTES = {
    "/_world/secrets/age": lambda url, body: age_secrets(body),
    "/_world/journal": lambda url, body: journal(body),
    "/_world/faults": lambda url, body: set_faults(body),
    "/_world/reseed": lambda url, body: reseed(url),
    "/_world/seed": lambda url, body: world.seed(url, **body),
    "/_world/seed-history": lambda url, body: world.seed_history(**body),
    "/_world/seed-ledger": lambda url, body: world.seed_ledger(**body),
    "/_world/scenario": lambda url, body: world.scenario(url, body["name"], body.get("args", {})),
    "/_world/published": lambda url, body: world.published(url),
    "/_world/state": lambda url, body: world.state(url),
    "/_world/ledger": lambda url, body: world.ledger(url),
    "/_world/ecs/service": lambda url, body: set_service_state(body),
    "/_world/s3/age": lambda url, body: age_objects(body),
    "/_world/latency": lambda url, body: LATENCY.set(float(body.get("ms", 0)), float(body.get("jitter_ms", 0)),
                                                     body.get("seed")),
}


class ControlPlane:
    def __init__(self, app):
        self.app = app
        self.url = None
        self.lock = threading.Lock()

    def _answer(self, environ, start_response, fault, stream: bool = False):
        """moto's answer (or the injected fault), produced in full unless `stream`: a conditional write
        happens while its answer is produced, and a timed or delayed answer must be complete first."""
        if fault is not None:
            entry, spec = fault
            return list(fault_response(entry, spec.get("code", "InternalFailure"), int(spec.get("status", 500)))(
                environ, start_response))
        conditional = environ.get("REQUEST_METHOD") == "PUT" and (
            "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MATCH" in environ)
        if conditional:
            with CONDITIONAL_WRITE_LOCK:
                return list(self.app(environ, start_response))
        out = self.app(environ, start_response)
        return out if stream else list(out)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/_world/"):
            arrived = time.time()
            delay = LATENCY.sample() if delayed(environ) else 0.0
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length and environ.get("REQUEST_METHOD") == "POST":
                body = environ["wsgi.input"].read(length)
                environ["_body"] = body
                environ["wsgi.input"] = io.BytesIO(body)
            entry = classify(environ)
            fault = None
            if entry is not None:
                entry["t"] = arrived
                with JOURNAL_LOCK:
                    fault = FAULTS.get(entry["op"])
                    entry["fault"] = fault is not None
                    JOURNAL.append(entry)
            if entry is None and not delay:  # the world's own calls, as before: streamed, not timed
                return self._answer(environ, start_response, None, stream=True)
            out = self._answer(environ, start_response, fault and (entry, fault))
            left = arrived + delay - time.time()
            if left > 0:
                time.sleep(left)
            if entry is not None:
                entry["t_end"] = time.time()
            return out
        req = Request(environ)
        handler = ROUTES.get(path)
        if handler is None:
            return Response(json.dumps({"error": f"unknown route {path}"}), 404)(environ, start_response)
        try:
            body = json.loads(req.get_data() or b"{}")
            # World changes are serialised: scenarios are read-modify-write sequences.
            with self.lock:
                out = handler(self.url, body)
            resp = Response(json.dumps(out, default=str), 200, content_type="application/json")
        except Exception as exc:  # the harness prints this and fails the test
            traceback.print_exc()
            resp = Response(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), 500)
        return resp(environ, start_response)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", default=os.environ.get("AUTOHEAL_WORLD_LATENCY", ""),
                        help="every AWS API answer takes MS[+-JITTER] milliseconds (default: off)")
    args = parser.parse_args()
    if args.latency:
        LATENCY.parse(args.latency)

    class Handler(MotoRequestHandler):
        # werkzeug writes an answer's headers and body separately; with Nagle on, the body waits for
        # the client's delayed ACK of the headers (up to 40 ms on Linux), a stall AWS does not have.
        disable_nagle_algorithm = True

    control = ControlPlane(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, control, threaded=True, request_handler=Handler)
    port = server.server_address[1]
    control.url = f"http://127.0.0.1:{port}"
    os.environ["MOTO_PORT"] = str(port)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch_stdin():
        # The parent holds our stdin open; EOF means it is gone.
        try:
            while sys.stdin.buffer.read(1):
                pass
        except Exception:
            pass
        stop()

    if not sys.stdin.isatty():
        threading.Thread(target=watch_stdin, daemon=True).start()

    print(f"EMULATOR_URL={control.url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
