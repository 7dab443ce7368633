"""What IAM is asked when Autoheal makes one request: (action, resource ARN, request context).

The emulator's journal (its CloudTrail) records these for every call a function makes, and
tools/check-calls.py decides each against that function's own policy. Resource ARNs and condition
keys follow the Service Authorization Reference for the operations Autoheal uses; an action without
resource-level permissions is authorised against "*". Some requests need more than their own action:

- ecs:RunTask passes the task definition's task and execution roles (iam:PassRole, with
  iam:PassedToService = ecs-tasks.amazonaws.com), read from the task definition the call names;
- s3:GetObject of a key that does not exist is answered 404 only if the caller may also
  s3:ListBucket the bucket for that request (which carries no s3:prefix), else 403: the entry for
  that is added by the emulator once it knows the key is missing (`missing_key_listing`).

An operation not modelled here yields an entry with resource "?" and a note, which check-calls.py
reports as a failure: the model must grow with the product, not silently skip calls.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote

ACCOUNT = "123456789012"
REGION = "us-east-1"


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def _name(value: str, kind: str) -> str:
    """Last path segment of an ARN (`cluster/x` -> x), or the name itself."""
    if value.startswith("arn:"):
        return value.split(":", 5)[5].split("/")[-1]
    return value


def cluster_arn(value: str | None) -> str:
    value = value or "default"
    return value if value.startswith("arn:") else _arn("ecs", f"cluster/{value}")


def _ecs_child(kind: str, cluster: str | None, value: str) -> str:
    if value.startswith("arn:"):
        return value
    return _arn("ecs", f"{kind}/{_name(cluster_arn(cluster), 'cluster')}/{value}")


def _ecs(op: str, body: dict, backends) -> list[dict]:
    cluster = body.get("cluster")
    ctx = {"ecs:cluster": cluster_arn(cluster)}
    if op == "DescribeClusters":
        return [{"action": "ecs:DescribeClusters", "resource": cluster_arn(c), "context": {}}
                for c in body.get("clusters") or ["default"]]
    if op in ("DescribeServices", "UpdateService"):
        names = body.get("services") if op == "DescribeServices" else [body.get("service", "")]
        return [{"action": f"ecs:{op}", "resource": _ecs_child("service", cluster, s), "context": ctx} for s in names]
    if op == "DescribeTasks":
        return [{"action": "ecs:DescribeTasks", "resource": _ecs_child("task", cluster, t), "context": ctx}
                for t in body.get("tasks") or []]
    if op in ("ListTasks", "ListServices"):
        return [{"action": f"ecs:{op}", "resource": "*", "context": ctx}]
    if op in ("DescribeTaskDefinition", "ListTaskDefinitions"):
        return [{"action": f"ecs:{op}", "resource": "*", "context": {}}]
    if op == "RunTask":
        td_ref = body.get("taskDefinition", "")
        roles, td_arn = [], td_ref if td_ref.startswith("arn:") else _arn("ecs", f"task-definition/{td_ref}")
        td = backends.task_definition(td_ref)
        if td is not None:
            td_arn = td.arn
            roles = [r for r in (getattr(td, "task_role_arn", None), getattr(td, "execution_role_arn", None)) if r]
        overrides = body.get("overrides") or {}
        roles += [overrides[k] for k in ("taskRoleArn", "executionRoleArn") if overrides.get(k)]
        calls = [{"action": "ecs:RunTask", "resource": td_arn, "context": ctx}]
        for role in dict.fromkeys(roles):
            calls.append({"action": "iam:PassRole", "resource": role,
                          "context": {"iam:PassedToService": "ecs-tasks.amazonaws.com"},
                          "note": f"RunTask of {td_arn.rsplit('/', 1)[-1]} passes its role"})
        return calls
    return []


def _logs(op: str, body: dict) -> list[dict]:
    group = body.get("logGroupName") or body.get("logGroupIdentifier")
    if op in ("FilterLogEvents", "DescribeLogStreams", "GetLogEvents") and group:
        name = group.split(":log-group:", 1)[1].split(":", 1)[0] if group.startswith("arn:") else group
        # IAM evaluates log-group actions against the ARN with the trailing ":*".
        return [{"action": f"logs:{op}", "resource": _arn("logs", f"log-group:{name}:*"), "context": {}}]
    return []


def _events(op: str, body: dict) -> list[dict]:
    name = body.get("Name") or body.get("Rule")
    if op in ("DescribeRule", "ListTargetsByRule", "EnableRule", "DisableRule") and name:
        if name.startswith("arn:"):
            return [{"action": f"events:{op}", "resource": name, "context": {}}]
        bus = body.get("EventBusName")
        path = f"rule/{name}" if not bus or bus == "default" else f"rule/{_name(bus, 'bus')}/{name}"
        return [{"action": f"events:{op}", "resource": _arn("events", path), "context": {}}]
    return []


def _secrets(op: str, body: dict, backends) -> list[dict]:
    sid = body.get("SecretId")
    if op in ("DescribeSecret", "GetSecretValue") and sid:
        return [{"action": f"secretsmanager:{op}", "resource": backends.secret_arn(sid), "context": {}}]
    return []


def _sns(op: str, form: dict) -> list[dict]:
    topic = form.get("TopicArn")
    if op in ("Publish", "GetTopicAttributes", "ListSubscriptionsByTopic") and topic:
        return [{"action": f"sns:{op}", "resource": topic, "context": {}}]
    return []


def _cloudwatch(op: str, params: dict) -> list[dict]:
    if op == "DescribeAlarms":
        names = params.get("AlarmNames") or []
        if not names:  # by prefix or all alarms: no resource to name
            return [{"action": "cloudwatch:DescribeAlarms", "resource": "*", "context": {}}]
        return [{"action": "cloudwatch:DescribeAlarms", "resource": _arn("cloudwatch", f"alarm:{n}"), "context": {}}
                for n in names]
    if op == "PutMetricAlarm" and params.get("AlarmName"):
        return [{"action": "cloudwatch:PutMetricAlarm", "resource": _arn("cloudwatch", f"alarm:{params['AlarmName']}"),
                 "context": {}}]
    return []


def s3_request(method: str, path: str, query: str) -> tuple[str, str, str | None, dict]:
    """(operation, action, key or None, context) of a path-style S3 request."""
    bucket, _, key = path.lstrip("/").partition("/")
    q = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if not key:
        if method == "GET":
            ctx = {f"s3:{k}": q[k] for k in ("prefix", "delimiter", "max-keys") if k in q}
            return ("ListObjectsV2" if q.get("list-type") == "2" else "ListObjects"), "s3:ListBucket", None, ctx
        return f"{method.title()}Bucket", f"s3:{method.title()}Bucket", None, {}
    op = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject", "DELETE": "DeleteObject"}.get(method, method)
    action = {"HeadObject": "s3:GetObject"}.get(op, f"s3:{op}")
    return op, action, unquote(key), {}


def _s3(method: str, path: str, query: str) -> list[dict]:
    op, action, key, ctx = s3_request(method, path, query)
    bucket = path.lstrip("/").partition("/")[0]
    resource = f"arn:aws:s3:::{bucket}" + (f"/{key}" if key is not None else "")
    return [{"action": action, "resource": resource, "context": ctx}]


def missing_key_listing(path: str) -> dict:
    """The permission S3 consults before it admits that a key does not exist."""
    bucket = path.lstrip("/").partition("/")[0]
    return {"action": "s3:ListBucket", "resource": f"arn:aws:s3:::{bucket}", "context": {},
            "note": "the key does not exist: S3 answers 404 only to a caller that may list the bucket "
                    "(this request carries no s3:prefix), 403 AccessDenied to anyone else"}


def calls(service: str, op: str, params: dict, method: str, path: str, query: str, backends) -> list[dict]:
    """Every IAM authorisation one request needs. `params` is the decoded request (JSON body, query
    form or CBOR); `service` the SigV4 credential-scope service."""
    model = {
        "ecs": lambda: _ecs(op, params, backends),
        "logs": lambda: _logs(op, params),
        "events": lambda: _events(op, params),
        "secretsmanager": lambda: _secrets(op, params, backends),
        "sns": lambda: _sns(op, params),
        "monitoring": lambda: _cloudwatch(op, params),
        "s3": lambda: _s3(method, path, query),
    }.get(service)
    out = model() if model else []
    if not out:
        prefix = {"monitoring": "cloudwatch"}.get(service, service)
        out = [{"action": f"{prefix}:{op}", "resource": "?", "context": {},
                "note": f"{service} {op} is not modelled in tests/world/callmodel.py"}]
    return out
