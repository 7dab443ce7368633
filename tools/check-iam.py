#!/usr/bin/env python3
"""Least-privilege check of the IAM in a *translated* (plain CloudFormation JSON) Autoheal template.

Usage: check-iam.py TRANSLATED.json      (tools/lint-template.sh runs it as stage "iam-check")

Fails (exit 1, one line per violation naming the resource and the action) when:
  1. an Allow statement grants a mutating, secret-reading or role-passing (iam:PassRole) action
     (MUTATING below, also when reached through a wildcard such as "ecs:Update*", "iam:Pass*") on
     Resource "*", on NotResource, or on an ARN that is
     not scoped to a named resource: a wildcard at the service/account root ("arn:...:sns:r:a:*"), a
     wildcard in the account field, or a wildcard where the named resource should be
     ("service/<cluster>/*", "bucket/*"). A named resource with a wildcard below a named prefix is
     scoped ("bucket/autoheal/*", "task-definition/<family>:*", "secret:<name>-??????");
  2. an action "*" or a whole-service wildcard ("ecs:*", "s3:*") appears in any statement, or an
     Allow statement uses NotAction;
  3. secretsmanager:GetSecretValue is granted to any role other than the alarm responder's, the
     rotation redeployer's (they validate the token and blank the values out of the collector's log
     lines) or the task watch's (it blanks them out of the VOD task's log lines)
     (functions are known by their SAM-generated role, e.g. AlarmResponderFunctionRole).
It fails closed: a Resource it cannot evaluate (an unknown intrinsic function, a non-ARN string) is a
violation. Parameters resolve to their defaults (no default: a named placeholder); Ref/GetAtt of a
resource in the template counts as a named resource. Policies attached by ARN from outside the
template (e.g. AWS managed policies such as AWSLambdaBasicExecutionRole) cannot be inspected here.

On success prints: iam check: OK (N statements, M mutating, all scoped)
Exit codes: 0 pass, 1 violations, 2 unreadable input.
"""

import fnmatch
import json
import re
import sys

MUTATING = [
    "ecs:UpdateService",
    "ecs:RunTask",
    "events:EnableRule",
    "events:DisableRule",
    "events:PutTargets",
    "cloudwatch:PutMetricAlarm",
    "sns:Publish",
    "s3:PutObject",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    # Passing a role hands its permissions to whatever the role is passed to: on "*" it would let a
    # function give any role in the account to a task it starts.
    "iam:PassRole",
]
SECRET_READ = "secretsmanager:GetSecretValue"
# The functions that validate the Twitch token with Twitch, or must blank the secrets' values out of
# log lines they report (the collector's, the VOD task's: both hold the values), may read them.
SECRET_READERS = {"AlarmResponderFunctionRole", "RotationRedeployFunctionRole", "TaskWatchFunctionRole"}

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
    # The stack name the derived rule names of the sample events assume (<stack>-freshness, -daily).
    "AWS::StackName": "vieweratlas-autoheal",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/vieweratlas-autoheal/id",
}

# Services whose ARNs carry no resource-type segment: the resource part starts with the name.
UNTYPED_SERVICES = {"s3", "sns", "sqs"}
# Named segments that are only a container (cluster, bucket): a wildcard right below one is unscoped.
CONTAINER_DEPTH = {
    ("ecs", "service"): 1,
    ("ecs", "task"): 1,
    ("ecs", "container-instance"): 1,
    ("s3", None): 1,
}

SERVICE_WILDCARD = re.compile(r"^[A-Za-z0-9-]+:\*+$")


class Unverifiable(Exception):
    pass


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def is_no_value(v):
    return isinstance(v, dict) and v.get("Ref") == "AWS::NoValue"


def branches(v):
    """Expands Fn::If into both branches (dropping AWS::NoValue); other values as they are."""
    if isinstance(v, dict) and list(v) == ["Fn::If"] and isinstance(v["Fn::If"], list) and len(v["Fn::If"]) == 3:
        out = []
        for b in v["Fn::If"][1:]:
            out.extend(branches(b))
        return out
    return [] if is_no_value(v) else [v]


class Template:
    def __init__(self, doc):
        self.resources = doc.get("Resources") or {}
        self.params = {}
        for name, p in (doc.get("Parameters") or {}).items():
            default = p.get("Default") if isinstance(p, dict) else None
            self.params[name] = str(default) if default is not None else f"<{name}>"

    # -- resolving Resource values into candidate strings -------------------------------------
    NAMED = "@named-resource:"

    def ref(self, name):
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.params:
            return self.params[name]
        if name in self.resources:
            return None  # a resource of this template
        raise Unverifiable(f"Ref to unknown name {name}")

    def resolve(self, v, whole=True):
        """Returns the list of strings a Resource value can take (Fn::If gives two). A whole Resource
        that is a template resource's Ref/GetAtt is marked as named; inside a string it is <id>."""
        if isinstance(v, str):
            return [v]
        if isinstance(v, (int, float)):
            return [str(v)]
        if not isinstance(v, dict) or len(v) != 1:
            raise Unverifiable(f"unexpected value {json.dumps(v)[:80]}")
        (fn, arg), = v.items()
        if fn == "Ref":
            r = self.ref(arg)
            if r is None:
                return [self.NAMED + arg if whole else f"<{arg}>"]
            return [r]
        if fn == "Fn::GetAtt":
            target = arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
            if target in self.resources:
                return [self.NAMED + str(target) if whole else f"<{target}>"]
            raise Unverifiable(f"GetAtt of unknown resource {target}")
        if fn == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            return self.sub(text, local)
        if fn == "Fn::Join":
            delim, parts = arg
            results = [""]
            for i, part in enumerate(parts):
                options = self.resolve(part, whole=False)
                results = [r + (delim if i else "") + o for r in results for o in options]
            return results
        if fn == "Fn::If":
            out = []
            for b in branches(v):
                out.extend(self.resolve(b, whole))
            return out
        raise Unverifiable(f"cannot evaluate {fn}")

    def sub(self, text, local):
        results = [""]
        pos = 0
        for m in re.finditer(r"\$\{([^}]*)\}", text):
            lit = text[pos:m.start()]
            name = m.group(1)
            if name.startswith("!"):
                options = ["${" + name[1:] + "}"]
            elif name in local:
                options = self.resolve(local[name], whole=False)
            elif "." in name and name.split(".")[0] in self.resources:
                options = [f"<{name}>"]  # GetAtt of a template resource: a named value
            else:
                r = self.ref(name)
                options = [f"<{name}>" if r is None else r]
            results = [r + lit + o for r in results for o in options]
            pos = m.end()
        return [r + text[pos:] for r in results]


def named(segment):
    return bool(re.search(r"[^*?]", segment))


def unscoped_reason(value):
    """None when value names a resource; otherwise why it does not."""
    if value.startswith(Template.NAMED):
        return None
    if value == "*" or not named(value):
        return 'Resource "*"'
    if not value.startswith("arn:"):
        return "not an ARN"
    parts = value.split(":", 5)
    if len(parts) < 6:
        return "malformed ARN"
    _, _, service, _, account, res = parts
    if not named(service):
        return "wildcard service"
    if "*" in account or "?" in account:
        return "wildcard account"
    segments = [s for s in re.split(r"[/:]", res) if s != ""]
    rtype = None
    if service not in UNTYPED_SERVICES:
        if not segments or not named(segments[0]) or "*" in segments[0] or "?" in segments[0]:
            return "wildcard at the service/account root"
        rtype, segments = segments[0], segments[1:]
    depth = CONTAINER_DEPTH.get((service, rtype), 0)
    head = segments[: depth + 1]
    if not segments:
        return "no resource named"
    if len(head) < depth + 1:
        return f"names only the container {'/'.join(head)}, no resource inside it"
    if not all(named(s) for s in head):
        if not named(segments[0]):
            return "wildcard at the service/account root"
        return f"wildcard directly under {'/'.join(head[:depth])}, where the resource name belongs"
    return None


def display(v):
    if isinstance(v, dict) and "Fn::Sub" in v:
        s = v["Fn::Sub"]
        return s if isinstance(s, str) else s[0]
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))


def grants(pattern, action):
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def main(argv):
    if len(argv) != 2:
        print("usage: check-iam.py TRANSLATED_TEMPLATE.json", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"iam check: cannot read {argv[1]}: {e}", file=sys.stderr)
        return 2
    t = Template(doc)
    res = t.resources

    # Identity policies: (owner label, policy document, roles it applies to).
    attached = {}  # managed/standalone policy id -> roles
    for rid, r in res.items():
        if isinstance(r, dict) and r.get("Type") == "AWS::IAM::Role":
            for arn in as_list((r.get("Properties") or {}).get("ManagedPolicyArns")):
                for b in branches(arn):
                    if isinstance(b, dict) and b.get("Ref") in res:
                        attached.setdefault(b["Ref"], set()).add(rid)
    identity = []
    for rid, r in res.items():
        if not isinstance(r, dict):
            continue
        rtype, props = r.get("Type"), r.get("Properties") or {}
        if rtype in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            for pol in as_list(props.get("Policies")):
                for p in branches(pol):
                    name = p.get("PolicyName", "?") if isinstance(p, dict) else "?"
                    identity.append((f"{rid} (policy {display(name)})", p.get("PolicyDocument") if isinstance(p, dict) else None, {rid}))
        elif rtype in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", "AWS::IAM::RolePolicy"):
            roles = set(attached.get(rid, set()))
            for role in as_list(props.get("Roles")) + ([props["RoleName"]] if "RoleName" in props else []):
                for b in branches(role):
                    roles.add(b["Ref"] if isinstance(b, dict) and "Ref" in b else display(b))
            identity.append((rid, props.get("PolicyDocument"), roles))

    # Every other statement (trust and resource policies) is checked for wildcard actions only.
    others = []

    def walk(node, label):
        if isinstance(node, dict):
            if "Statement" in node:
                others.append((label, node))
                return
            for v in node.values():
                walk(v, label)
        elif isinstance(node, list):
            for v in node:
                walk(v, label)

    for rid, r in res.items():
        if not isinstance(r, dict):
            continue
        props = dict(r.get("Properties") or {})
        if r.get("Type") in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            props.pop("Policies", None)
        elif r.get("Type") in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", "AWS::IAM::RolePolicy"):
            props.pop("PolicyDocument", None)
        walk(props, rid)

    violations = []
    n_statements = 0
    n_mutating = 0

    def statements(document):
        if not isinstance(document, dict):
            raise Unverifiable("policy document is not an object")
        out = []
        for s in as_list(document.get("Statement")):
            out.extend(branches(s))
        return out

    def check_wildcards(label, i, s):
        sid = s.get("Sid", f"#{i}")
        for key in ("Action", "NotAction"):
            for a in as_list(s.get(key)):
                if not isinstance(a, str):
                    violations.append(f"{label} [{sid}]: {key} {display(a)} cannot be evaluated")
                elif a.strip() == "*" or SERVICE_WILDCARD.match(a.strip()):
                    violations.append(f'{label} [{sid}]: wildcard action "{a}"')
        if "NotAction" in s and s.get("Effect") != "Deny":
            violations.append(f"{label} [{sid}]: Allow with NotAction grants every other action")

    for label, document, roles in identity:
        try:
            stmts = statements(document)
        except Unverifiable as e:
            violations.append(f"{label}: {e}")
            continue
        for i, s in enumerate(stmts):
            if not isinstance(s, dict):
                violations.append(f"{label} [#{i}]: statement is not an object")
                continue
            n_statements += 1
            sid = s.get("Sid", f"#{i}")
            check_wildcards(label, i, s)
            if s.get("Effect") == "Deny":
                continue
            patterns = [a for a in as_list(s.get("Action")) if isinstance(a, str)]
            granted = [m for m in MUTATING if any(grants(p, m) for p in patterns)]
            if not granted:
                continue
            n_mutating += 1
            # Rule 1: every Resource of the statement must name a resource.
            problems = []
            if "NotResource" in s:
                problems.append("NotResource")
            if "Resource" not in s and "NotResource" not in s:
                problems.append("no Resource")
            for rv in as_list(s.get("Resource")):
                try:
                    for value in t.resolve(rv):
                        reason = unscoped_reason(value)
                        if reason:
                            problems.append(f"{display(rv)} ({reason})")
                            break
                except Unverifiable as e:
                    problems.append(f"{display(rv)} (cannot verify: {e})")
            for action in granted:
                for p in problems:
                    violations.append(f"{label} [{sid}]: {action} on unscoped resource {p}")
            # Rule 3: only the secret readers may read a secret value.
            if SECRET_READ in granted:
                outsiders = sorted(roles - SECRET_READERS) if roles else ["(not attached to any role in the template)"]
                for role in outsiders:
                    violations.append(f"{label} [{sid}]: {SECRET_READ} granted to {role}; only {', '.join(sorted(SECRET_READERS))} may read a secret value")

    for label, document in others:
        try:
            stmts = statements(document)
        except Unverifiable as e:
            violations.append(f"{label}: {e}")
            continue
        for i, s in enumerate(stmts):
            if isinstance(s, dict):
                check_wildcards(label, i, s)

    if violations:
        for v in violations:
            print(f"iam check: {v}", file=sys.stderr)
        print(f"iam check: FAILED ({len(violations)} violation{'s' if len(violations) != 1 else ''})", file=sys.stderr)
        return 1
    print(f"iam check: OK ({n_statements} statements, {n_mutating} mutating, all scoped)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
