"""Each Autoheal function's own IAM policy, and how IAM decides one call against it.

Used by tools/check-calls.py (every call of the end-to-end suite against its function's policy) and by
the emulator (tests/world/emulator.py: S3's 403-or-404 answer for a missing key depends on the
caller's s3:ListBucket).

A call is (action, resource ARN, request context). The decision follows IAM's identity-policy logic
for one principal: an explicit Deny wins, else any Allow whose Action, Resource and every Condition
match, else implicitly denied. Actions match case-insensitively with `*`/`?`; resources match
case-sensitively with `*`/`?` spanning any characters. Condition operators: String*, Arn*, Bool,
Null, with IfExists and the negated forms; a key absent from the request fails a positive operator
(unless IfExists) and satisfies a negated one, as in IAM. Anything else (ForAnyValue:, Numeric*,
Date*) is not modelled and fails closed: the statement does not apply and the reason says so.

Policies come from the template expanded by tools/sam_expand.py, with parameters at their defaults,
S3Bucket the test world's bucket, and the pseudo parameters of tools/check-iam.py (account
123456789012, us-east-1, stack vieweratlas-autoheal), which are also the test world's.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import json
import os
import re
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_spec = importlib.util.spec_from_file_location("check_iam", HERE / "check-iam.py")
check_iam = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_iam)

WORLD_PARAMETERS = {"S3Bucket": "vieweratlas-data-lake"}
ACCOUNT = check_iam.PSEUDO["AWS::AccountId"]
REGION = check_iam.PSEUDO["AWS::Region"]


def _values(tmpl, v) -> list[str]:
    try:
        return tmpl.resolve(v)
    except check_iam.Unverifiable as e:
        return [f"<unresolvable: {e}>"]


def _resolved_statement(tmpl, s: dict, origin: str) -> dict:
    def strings(key):
        out = []
        for v in check_iam.as_list(s.get(key)):
            for b in check_iam.branches(v):
                out.extend(_values(tmpl, b))
        return out

    cond = {}
    for op, kv in (s.get("Condition") or {}).items():
        cond[op] = {k: [x for v in check_iam.as_list(vals) for x in _values(tmpl, v)] for k, vals in kv.items()}
    actions = ",".join(str(a) for a in check_iam.as_list(s.get("Action")))
    return {
        # SAM's own statements (e.g. the on-failure destination's sqs:SendMessage) have no Sid.
        "Sid": s.get("Sid") or f"(no Sid: {actions})",
        "Origin": origin,
        "Effect": s.get("Effect", "Allow"),
        "Action": strings("Action"),
        "NotAction": strings("NotAction"),
        "Resource": strings("Resource"),
        "NotResource": strings("NotResource"),
        "Condition": cond,
    }


def function_policies(translated: dict, functions: dict[str, str], parameters: dict | None = None) -> dict[str, dict]:
    """{function name: {"role": logical id, "statements": [...], "external": [policy ARNs not in the
    template]}} for every function, from its execution role's inline and attached policies.
    Parameters resolve to `parameters`, else to their defaults."""
    t = check_iam.Template(translated)
    t.params.update(parameters or {})
    res = t.resources
    out = {}
    for name, logical in functions.items():
        fn = res.get(logical) or {}
        role_ref = (fn.get("Properties") or {}).get("Role")
        role_id = None
        if isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref:
            ga = role_ref["Fn::GetAtt"]
            role_id = ga[0] if isinstance(ga, list) else str(ga).split(".")[0]
        role = res.get(role_id) if role_id else None
        if not role:
            raise ValueError(f"function {name} ({logical}) has no execution role in the template")
        props = role.get("Properties") or {}
        statements, external = [], []
        for pol in check_iam.as_list(props.get("Policies")):
            for p in check_iam.branches(pol):
                for s in check_iam.as_list(p["PolicyDocument"].get("Statement")):
                    for b in check_iam.branches(s):
                        statements.append(_resolved_statement(t, b, f"{role_id} inline {p.get('PolicyName', '?')}"))
        for arn in check_iam.as_list(props.get("ManagedPolicyArns")):
            for b in check_iam.branches(arn):
                if isinstance(b, dict) and b.get("Ref") in res:
                    doc = res[b["Ref"]]["Properties"]["PolicyDocument"]
                    for s in check_iam.as_list(doc.get("Statement")):
                        for x in check_iam.branches(s):
                            statements.append(_resolved_statement(t, x, b["Ref"]))
                else:
                    external.extend(_values(t, b))
        out[name] = {"role": role_id, "statements": statements, "external": external}
    return out


def load(template: str | os.PathLike | None = None) -> dict[str, dict]:
    """The functions' policies for `template` (default: the repository's template.yaml), cached by
    the content of the template and of these tools, so that only the first of many emulators pays
    for the translator (about a second and a half of CPU)."""
    template = Path(template or ROOT / "template.yaml")
    digest = hashlib.sha256()
    for p in (template, HERE / "iamcalls.py", HERE / "check-iam.py", HERE / "sam_expand.py"):
        digest.update(p.read_bytes())
    cache = Path(tempfile.gettempdir()) / f"autoheal-iam-{digest.hexdigest()[:20]}.json"
    try:
        return json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    import sam_expand  # noqa: PLC0415 (imports the translator: only when the cache misses)

    translated, functions = sam_expand.expand(str(template), WORLD_PARAMETERS)
    policies = function_policies(translated, functions, WORLD_PARAMETERS)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(policies), encoding="utf-8")
    os.replace(tmp, cache)  # atomic: concurrent emulators never read half a file
    return policies


# ---- deciding one call ------------------------------------------------------------------------

def _glob(pattern: str, value: str, case: bool) -> bool:
    if case:
        return fnmatch.fnmatchcase(value, pattern)
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def _arn_like(pattern: str, value: str) -> bool:
    # ArnLike compares each of the six colon-separated parts on its own.
    p, v = pattern.split(":", 5), value.split(":", 5)
    return len(p) == len(v) == 6 and all(fnmatch.fnmatchcase(b, a) for a, b in zip(p, v))


OPERATORS = {
    "StringEquals": lambda want, got: got == want,
    "StringEqualsIgnoreCase": lambda want, got: got.lower() == want.lower(),
    "StringLike": lambda want, got: fnmatch.fnmatchcase(got, want),
    "ArnEquals": _arn_like,
    "ArnLike": _arn_like,
    "Bool": lambda want, got: got.lower() == want.lower(),
}
NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _condition_holds(op: str, key: str, wants: list[str], context: dict) -> tuple[bool, str | None]:
    """(holds, why not modelled)."""
    ctx = {k.lower(): v for k, v in context.items()}
    got = ctx.get(key.lower())
    if op == "Null":
        want_absent = [w.lower() == "true" for w in wants]
        return (got is None) in want_absent, None
    if_exists = op.endswith("IfExists")
    base = op[: -len("IfExists")] if if_exists else op
    if base in NEGATED:
        if got is None:
            return True, None
        return not any(OPERATORS[NEGATED[base]](w, got) for w in wants), None
    if base not in OPERATORS:
        return False, f"condition operator {op} is not modelled"
    if got is None:
        return if_exists, None
    return any(OPERATORS[base](w, got) for w in wants), None


def _matches(s: dict, action: str, resource: str, context: dict) -> tuple[bool, str | None]:
    if s["Action"] and not any(_glob(a, action, case=False) for a in s["Action"]):
        return False, None
    if s["NotAction"] and any(_glob(a, action, case=False) for a in s["NotAction"]):
        return False, None
    if s["Resource"] and not any(_glob(r, resource, case=True) for r in s["Resource"]):
        return False, None
    if s["NotResource"] and any(_glob(r, resource, case=True) for r in s["NotResource"]):
        return False, None
    for op, kv in s["Condition"].items():
        for key, wants in kv.items():
            holds, unmodelled = _condition_holds(op, key, wants, context)
            if unmodelled:
                return False, unmodelled
            if not holds:
                return False, None
    return True, None


def decide(policy: dict, action: str, resource: str, context: dict) -> dict:
    """{"allowed": bool, "by": Sid that allows or denies, "why": text when denied}."""
    allow, notes = None, []
    for s in policy["statements"]:
        ok, unmodelled = _matches(s, action, resource, context)
        if unmodelled:
            notes.append(f"{s['Sid']}: {unmodelled}")
        if not ok:
            continue
        if s["Effect"] == "Deny":
            return {"allowed": False, "by": s["Sid"], "why": f"explicitly denied by {s['Sid']}"}
        allow = allow or s["Sid"]
    if allow:
        return {"allowed": True, "by": allow, "why": None}
    why = "no statement allows it" + (f" ({'; '.join(notes)})" if notes else "")
    return {"allowed": False, "by": None, "why": why}


def arn(service: str, resource: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def is_arn(value: str) -> bool:
    return bool(re.match(r"^arn:[^:]+:[^:]+:", value or ""))
