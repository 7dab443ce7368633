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

In front of moto, for Autoheal's own requests (user agent `aws-sdk-rust`):
- the journal (`/_world/journal`, the emulator's CloudTrail): operation, status, the function that made
  the call (`autoheal-function/<name>` in the user agent) and what IAM is asked for it
  (tests/world/callmodel.py). With AUTOHEAL_CALL_JOURNAL_DIR set, each request is also appended to a
  file there, for tools/check-calls.py;
- S3's rule for a missing key: GetObject/HeadObject of a key that does not exist is 404 only when the
  calling function's policy (template.yaml, or AUTOHEAL_IAM_TEMPLATE) lets it s3:ListBucket the
  bucket for that request, else 403 AccessDenied, as in S3;
- RPCv2 CBOR for CloudWatch (tests/world/cborfront.py): the SDK speaks CBOR, moto awsJson;
- injected faults (`/_world/faults`) and atomic conditional PUTs.

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
import re

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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import callmodel  # noqa: E402
import cborfront  # noqa: E402
import world  # noqa: E402

REGION = "us-east-1"


def _ecs_backend():
    from moto.ecs.models import ecs_backends

    return ecs_backends[DEFAULT_ACCOUNT_ID][REGION]


def _s3_backend():
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["global"]


def _deployment(service, spec: dict, now: dt.datetime) -> dict:
    """One ECS deployment as DescribeServices shows it."""
    import random

    created = now - dt.timedelta(minutes=float(spec.get("ageMinutes", 0)))
    state = spec.get("rolloutState", "COMPLETED")
    # A completed rollout last changed when it completed (a few minutes after it started, or now
    # for a fresh one); one still going or failed changed just now.
    if "completedMinutesAgo" in spec:
        updated = now - dt.timedelta(minutes=float(spec["completedMinutesAgo"]))
    elif state == "COMPLETED":
        updated = min(created + dt.timedelta(minutes=3), now)
    else:
        updated = now
    dep_id = spec.get("id") or f"ecs-svc/{random.randint(10**15, 10**16 - 1)}"
    return {
        "id": dep_id,
        "status": spec.get("status", "PRIMARY"),
        "taskDefinition": spec.get("taskDefinition", service.task_definition),
        "desiredCount": service.desired_count,
        "pendingCount": service.pending_count,
        "runningCount": service.running_count,
        "createdAt": created,
        "updatedAt": updated,
        "launchType": "FARGATE",
        "rolloutState": state,
        "rolloutStateReason": spec.get("rolloutStateReason", f"ECS deployment {dep_id} {state.lower()}."),
    }


def set_service_state(body: dict) -> dict:
    """What the ECS scheduler would have done to a service: tasks running, rollout progress, events.

    `deployments` replaces the service's deployments (each: taskDefinition, status PRIMARY or
    ACTIVE, rolloutState, ageMinutes, completedMinutesAgo); otherwise the primary one is edited."""
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
    if "deployments" in body:
        service.deployments = [_deployment(service, d, now) for d in body["deployments"]]
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
            primary["updatedAt"] = now
        if "deploymentAgeMinutes" in body:
            primary["createdAt"] = now - dt.timedelta(minutes=float(body["deploymentAgeMinutes"]))
            primary["updatedAt"] = min(primary["createdAt"] + dt.timedelta(minutes=3), now)
        if "failedTasks" in body:
            primary["failedTasks"] = int(body["failedTasks"])
    if "events" in body:
        service.events = [
            {
                "id": f"evt-{i}",
                "createdAt": now - dt.timedelta(minutes=int(e.get("minutesAgo", i))),
                "message": e["message"],
            }
            for i, e in enumerate(body["events"])
        ]
    return {"service": name, "runningCount": service.running_count,
            "deployments": [d["id"] for d in service.deployments]}


def roll_out(environ) -> None:
    """After an UpdateService: what ECS's scheduler does, instantly. moto keeps the old deployment
    (and its task definition) and starts nothing; ECS starts a new primary deployment of the
    service's (new) revision. The world has no scheduler, so the rollout completes at once."""
    try:
        req = json.loads(environ.get("_body") or b"{}")
    except ValueError:
        return None
    backend = _ecs_backend()
    cluster = (req.get("cluster") or "default").rsplit("/", 1)[-1]
    name = (req.get("service") or "").rsplit("/", 1)[-1]
    service = backend.services.get(f"{cluster}:{name}")
    if service is None:
        return None
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    service.deployments = [_deployment(service, {"completedMinutesAgo": 0}, now)]
    return service.deployments


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
        service = "cbor"
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
# S3 applies If-None-Match/If-Match atomically, per object; moto checks, then writes, in two steps.
# A lock per object key around conditional writes makes the emulator as strict as S3 for the
# ledger's concurrency tests, without serialising writes to different keys (which S3 does not do).
_KEY_LOCKS: dict = {}
_KEY_LOCKS_GUARD = threading.Lock()


def conditional_write_lock(path: str) -> threading.Lock:
    with _KEY_LOCKS_GUARD:
        return _KEY_LOCKS.setdefault(path, threading.Lock())


# Faults to inject into Autoheal's calls, by operation name: {"PutObject": {"code": "InternalError",
# "status": 500}}. The emulator answers them itself, as AWS would on a bad day (what moto cannot be
# made to do). Optional fields narrow and shape a fault:
# - "path": only requests whose path contains this text (one ledger record, say);
# - "skip": let the first N matching requests through untouched (a fault that starts mid-run);
# - "times": only the first N matching requests (a glitch the SDK's own retry then gets past);
# - "apply": the request is carried out first and only its answer is replaced by the error, the
#   way a write that landed looks to a client whose response was lost (timeout, reset, 5xx);
# - "hold": the answer is held back (after carrying the request out, with "apply") until the
#   faults are next set: the caller hangs at that await, and a test can kill it there, the way
#   Lambda stops an invocation at its timeout. The journal marks the entry "held".
FAULTS: dict = {}
RELEASE = threading.Event()


def take_fault(entry: dict) -> dict | None:
    """The fault to inject for this request, if any; counts down `times`. Call under JOURNAL_LOCK."""
    fault = FAULTS.get(entry["op"])
    if fault is None or fault.get("path", "") not in entry["path"]:
        return None
    if fault.get("skip", 0) > 0:
        fault["skip"] -= 1
        return None
    if "times" in fault:
        if fault["times"] <= 0:
            return None
        fault["times"] -= 1
    return fault


def set_faults(body: dict) -> dict:
    global RELEASE
    with JOURNAL_LOCK:
        FAULTS.clear()
        FAULTS.update(body.get("ops", {}))
        # Every held request is let go (its caller is gone or may now go on).
        RELEASE.set()
        RELEASE = threading.Event()
    return {"faults": sorted(FAULTS)}


def fault_response(entry: dict, code: str, status: int):
    msg = f"injected fault on {entry['op']}"
    if entry["service"] == "s3":
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{msg}</Message></Error>"
        return Response(body, status, content_type="application/xml")
    if entry["service"] == "cbor":
        return Response(cborfront.error_body(code, msg), status, headers=cborfront.HEADERS)
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


# Epoch-second (and -millisecond) fields of Autoheal's ledger records: what "time passing" moves.
LEDGER_TIMES = {"at", "claimed_at", "lease_until", "not_before", "deferred_at", "recorded_at",
                "opened_at", "last_failure_at", "last_success_at"}


def age_ledger(body: dict) -> dict:
    """Let `minutes` pass for Autoheal's ledger: every time it recorded moves back (cooldowns,
    leases and deferrals end as they would). No API can do this; the product never calls it."""
    from moto.s3.models import s3_backends

    delta = int(float(body["minutes"]) * 60)
    bucket = s3_backends[DEFAULT_ACCOUNT_ID]["global"].get_bucket(body.get("bucket", world.BUCKET))
    prefix = body.get("prefix", "autoheal/")

    def shift(v, key=None):
        if isinstance(v, dict):
            return {k: shift(x, k) for k, x in v.items()}
        if isinstance(v, list):
            return [shift(x, key) for x in v]
        if key in LEDGER_TIMES and isinstance(v, int) and v > 0:
            return v - delta
        if key == "at_ms" and isinstance(v, int):
            return v - delta * 1000
        if key == "relapses" and isinstance(v, int):
            return v - delta
        return v

    n = 0
    for name in [k for k in list(bucket.keys.keys()) if k.startswith(prefix)]:
        key = bucket.keys[name]
        try:
            doc = json.loads(key.value)
        except ValueError:
            continue
        key.value = json.dumps(shift(doc), indent=2).encode()
        key._etag = None  # a changed object has a new ETag, as in S3
        # ... and no stale checksum of the old content (readers verify it).
        key.checksum_algorithm = None
        key.checksum_value = None
        n += 1
    return {"aged": n}


# ---- Which function made a call, and what IAM is asked --------------------------------------------

FUNCTION_TAG = re.compile(r"autoheal-function/([A-Za-z0-9._-]+)")
SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
# Every call an Autoheal function makes, one JSON line each, for tools/check-calls.py (make test sets
# the directory; each emulator writes its own file).
CALL_JOURNAL_DIR = os.environ.get("AUTOHEAL_CALL_JOURNAL_DIR")
CALL_JOURNAL_LOCK = threading.Lock()
# Set by a test whose functions run with settings no template deployment has (e.g. a bucket that
# does not exist, to see the check fail by name): its calls are journaled with this reason and
# tools/check-calls.py counts them instead of deciding them against the template's policies.
OFF_TEMPLATE = {"reason": None}
_POLICIES = None
_POLICIES_LOCK = threading.Lock()


def policies() -> dict:
    """The functions' IAM policies (tools/iamcalls.py), from AUTOHEAL_IAM_TEMPLATE or template.yaml."""
    global _POLICIES
    with _POLICIES_LOCK:
        if _POLICIES is None:
            import iamcalls

            _POLICIES = iamcalls.load(os.environ.get("AUTOHEAL_IAM_TEMPLATE") or None)
        return _POLICIES


class Backends:
    """Lookups the call model needs from moto's state (ARNs with suffixes, task-definition roles)."""

    @staticmethod
    def task_definition(ref: str):
        try:
            return _ecs_backend().describe_task_definition(ref)
        except Exception:
            return None

    @staticmethod
    def secret_arn(secret_id: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        from moto.secretsmanager.models import secretsmanager_backends

        secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets.get(secret_id)
        return secret.arn if secret is not None else callmodel._arn("secretsmanager", f"secret:{secret_id}")


def request_params(environ, entry) -> dict:
    body = environ.get("_body", b"")
    if entry["service"] == "cbor":
        return environ.get("_cbor_params", {})
    if environ.get("HTTP_X_AMZ_TARGET"):
        try:
            return json.loads(body or b"{}")
        except ValueError:
            return {}
    if body.startswith(b"Action=") or b"&Action=" in body:
        from urllib.parse import parse_qs

        return {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
    return {}


def describe_calls(environ, entry) -> None:
    """Adds `function` (from the user agent) and `calls` (what IAM is asked) to a journal entry."""
    ua = environ.get("HTTP_USER_AGENT", "")
    m = FUNCTION_TAG.search(ua)
    entry["function"] = m.group(1) if m else None
    scope = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = scope.group(1) if scope else "?"
    entry["calls"] = callmodel.calls(service, entry["op"], request_params(environ, entry),
                                     environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""),
                                     environ.get("QUERY_STRING", ""), Backends)


def write_call_journal(entry) -> None:
    if not CALL_JOURNAL_DIR:
        return
    entry["off_template"] = OFF_TEMPLATE["reason"]
    line = json.dumps({k: entry.get(k) for k in ("function", "service", "op", "status", "fault", "off_template", "calls")})
    with CALL_JOURNAL_LOCK:
        os.makedirs(CALL_JOURNAL_DIR, exist_ok=True)
        with open(os.path.join(CALL_JOURNAL_DIR, f"emulator-{os.getpid()}.jsonl"), "a", encoding="utf-8") as f:
            f.write(line + "\n")


def may_learn_the_key_is_missing(function: str, listing: dict) -> bool:
    import iamcalls

    policy = policies().get(function)
    return policy is not None and iamcalls.decide(policy, listing["action"], listing["resource"], listing["context"])["allowed"]


def run_app(app, environ):
    """Calls the WSGI app and returns (status code, headers, body)."""
    captured = {}

    def start(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    body = b"".join(app(environ, start))
    return int(captured["status"].split()[0]), captured["headers"], body


def respond(start_response, status: int, headers, body: bytes, rewritten: bool = False):
    """Sends a response captured by run_app; Content-Length is recomputed only for a body this front
    wrote (a HEAD answer's Content-Length is the object's size, not the empty body's)."""
    from http import HTTPStatus

    if rewritten:
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(body)))]
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    start_response(f"{status} {reason}", headers)
    return [body]


def off_template(body: dict) -> dict:
    OFF_TEMPLATE["reason"] = body.get("reason") or None
    return {"off_template": OFF_TEMPLATE["reason"]}


ROUTES = {
    "/_world/ledger/age": lambda url, body: age_ledger(body),
    "/_world/calls/off-template": lambda url, body: off_template(body),
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

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/_world/"):
            arrived = time.time()
            delay = LATENCY.sample() if delayed(environ) else 0.0
            out = self.aws(environ, start_response, arrived, delay)
            # The answer leaves no sooner than the configured latency after the request arrived.
            left = arrived + delay - time.time()
            if left > 0:
                time.sleep(left)
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

    def aws(self, environ, start_response, arrived: float, delay: float = 0.0):
        """One AWS API request: journaled (when Autoheal's), maybe faulted, then answered by moto.
        Journal entries carry the arrival time `t` and the time the answer leaves, `t_end`: when it
        was ready, or `delay` after its arrival if that is later (the caller holds it until then)."""
        method = environ.get("REQUEST_METHOD")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length and method == "POST":
            body = environ["wsgi.input"].read(length)
            environ["_body"] = body
            environ["wsgi.input"] = io.BytesIO(body)
        path = environ.get("PATH_INFO", "")
        cbor_op = None
        if "/operation/" in path and "cbor" in environ.get("CONTENT_TYPE", ""):
            cbor_op = path.rsplit("/operation/", 1)[1]
            try:
                environ["_cbor_params"] = cborfront.decode_request(cbor_op, environ.get("_body", b""))
            except Exception as exc:  # a request the front cannot read: say so, as AWS would
                return Response(cborfront.error_body("SerializationException", f"{type(exc).__name__}: {exc}"), 400,
                                headers=cborfront.HEADERS)(environ, start_response)
        entry = classify(environ)
        if entry is not None:
            entry["t"] = arrived
            describe_calls(environ, entry)
            with JOURNAL_LOCK:
                fault = take_fault(entry)
                # A fault with "apply" still reaches moto: the call had its effect.
                entry["fault"] = fault is not None and not fault.get("apply")
                JOURNAL.append(entry)
            if fault is not None:
                return self.faulted(environ, start_response, entry, fault, cbor_op)
        if entry is None and cbor_op is None and not self.special(environ):
            # The world's own calls, as before: streamed, not timed.
            return self.app(environ, start_response)
        status, headers, body, rewritten = self.answer(environ, entry, cbor_op)
        if entry is not None:
            entry["status"] = status
            entry["t_end"] = max(time.time(), arrived + delay)
            write_call_journal(entry)
        return respond(start_response, status, headers, body, rewritten)

    def faulted(self, environ, start_response, entry, fault, cbor_op):
        """The fault instead of the answer: after carrying the request out ("apply"), after holding
        the caller there until the faults are next set ("hold")."""
        if fault.get("apply"):
            self.answer(environ, entry, cbor_op)
        if fault.get("hold"):
            with JOURNAL_LOCK:
                entry["held"] = True
                release = RELEASE
            release.wait(timeout=float(fault.get("hold_seconds", 120)))
        entry["status"] = int(fault.get("status", 500))
        write_call_journal(entry)
        return fault_response(entry, fault.get("code", "InternalFailure"), entry["status"])(environ, start_response)

    @staticmethod
    def special(environ) -> bool:
        """Requests the front must see whoever sends them: conditional writes (atomic per key) and
        UpdateService (ECS's rollout, which moto does not perform)."""
        conditional = environ.get("REQUEST_METHOD") == "PUT" and (
            "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MATCH" in environ)
        return conditional or environ.get("HTTP_X_AMZ_TARGET", "").endswith(".UpdateService")

    def answer(self, environ, entry, cbor_op):
        """moto's answer, as (status, headers, body, rewritten), with what moto leaves out: the CBOR
        protocol, atomic conditional writes, ECS's rollout, and S3's 403 for a missing key."""
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "")
        if cbor_op is not None:
            status, headers, body = run_app(self.app, cborfront.as_json_request(environ, cbor_op, environ["_cbor_params"]))
            keep = [(k, v) for k, v in headers if k.lower() in ("x-amzn-requestid", "x-amzn-query-error")]
            return status, keep + cborfront.HEADERS, cborfront.encode_response(cbor_op, status, body), True
        if method == "PUT" and ("HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MATCH" in environ):
            # S3 applies If-None-Match/If-Match atomically, per key: the write happens inside the lock.
            with conditional_write_lock(path):
                status, headers, body = run_app(self.app, environ)
            return status, headers, body, False
        if environ.get("HTTP_X_AMZ_TARGET", "").endswith(".UpdateService"):
            return self.update_service(environ)
        status, headers, body = run_app(self.app, environ)
        reads_object = (entry is not None and entry["service"] == "s3" and method in ("GET", "HEAD")
                        and callmodel.s3_request(method, path, environ.get("QUERY_STRING", ""))[2] is not None)
        function = entry.get("function") if entry else None
        if reads_object and status == 404:
            # S3's rule for a missing key: 404 only to a caller that may list the bucket, else 403.
            listing = callmodel.missing_key_listing(path)
            entry["calls"].append(listing)
            if function is not None and not may_learn_the_key_is_missing(function, listing):
                body = b"" if method == "HEAD" else (
                    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
                    b"<Message>Access Denied</Message></Error>")
                return 403, [("Content-Type", "application/xml")], body, True
        return status, headers, body, False

    def update_service(self, environ):
        """moto's UpdateService, then ECS's rollout (`roll_out`), answered with the deployments
        as they now are."""
        status, headers, raw = run_app(self.app, environ)
        deployments = roll_out(environ)
        try:
            data = json.loads(raw)
            if deployments is not None and "service" in data:
                data["service"]["deployments"] = [
                    {k: (v.replace(tzinfo=dt.timezone.utc).timestamp() if isinstance(v, dt.datetime) else v)
                     for k, v in d.items()} for d in deployments]
                raw = json.dumps(data).encode()
        except ValueError:
            pass
        return status, headers, raw, True


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
