#!/usr/bin/env python3
"""Runs the ledger-lifecycle custom resource (template.yaml, LedgerLifecycleFunction's inline code)
against moto's S3, in process, as CloudFormation would call it.

Usage: check-ledger-lifecycle.py [TEMPLATE]     (tools/lint-template.sh, last stage)

Shows: Create adds the three ledger rules and keeps the bucket's own rules; Update replaces them
(no duplicates); Delete removes exactly them (and the whole configuration when nothing else is left);
a failure still answers CloudFormation (FAILED, with the reason), so a stack never hangs on it.
Exit 0 when all hold, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import sys
import types

os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                   "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
                   "AWS_SHARED_CREDENTIALS_FILE": os.devnull})

import boto3  # noqa: E402
from cfnlint.decode import decode_str  # noqa: E402
from moto import mock_aws  # noqa: E402

BUCKET = "vieweratlas-data-lake"
OWN_RULE = {"ID": "DeleteOldRawLogs", "Status": "Enabled", "Filter": {"Prefix": "vieweratlas/raw/snapshots/"},
            "Expiration": {"Days": 30}}


def load_handler(template: str):
    doc, matches = decode_str(open(template, encoding="utf-8").read())
    if matches:
        sys.exit(f"cannot parse {template}: {matches}")
    code = doc["Resources"]["LedgerLifecycleFunction"]["Properties"]["Code"]["ZipFile"]
    module = types.ModuleType("ledger_lifecycle")
    exec(compile(code, "LedgerLifecycleFunction", "exec"), module.__dict__)  # the template's own code
    answers = []

    def urlopen(req, timeout=None):
        answers.append(json.loads(req.data))
        return types.SimpleNamespace(read=lambda: b"")

    module.urllib = types.SimpleNamespace(request=types.SimpleNamespace(Request=module.urllib.request.Request,
                                                                       urlopen=urlopen))
    return module, answers


def event(kind: str, bucket: str = BUCKET, claims: int = 30, decisions: int = 90) -> dict:
    return {"RequestType": kind, "ResponseURL": "https://cloudformation.invalid/response", "StackId": "stack",
            "RequestId": "r", "LogicalResourceId": "LedgerLifecycleRules",
            "ResourceProperties": {"Bucket": bucket, "Prefix": "autoheal/", "RuleIdPrefix": "va-ledger",
                                   "ClaimsDays": str(claims), "DecisionsDays": str(decisions)}}


def main(argv: list[str]) -> int:
    template = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "template.yaml")
    problems = []

    def expect(cond, what):
        if not cond:
            problems.append(what)

    with mock_aws():
        module, answers = load_handler(template)
        s3 = boto3.client("s3")
        module.s3 = s3
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [OWN_RULE]})

        def rules():
            try:
                return {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]}
            except s3.exceptions.ClientError:
                return None

        module.handler(event("Create"), None)
        got = rules()
        expect(set(got or {}) == {"DeleteOldRawLogs", "va-ledger-claims", "va-ledger-decisions", "va-ledger-old-versions"},
               f"Create: rules are {sorted(got or {})}")
        expect(got and got["va-ledger-claims"]["Expiration"]["Days"] == 30, "Create: claims do not expire after 30 days")
        expect(got and got["va-ledger-claims"]["Filter"]["Prefix"] == "autoheal/claims/", "Create: claims rule prefix")
        expect(got and "Expiration" not in got["va-ledger-old-versions"], "Create: live ledger state would expire")
        module.handler(event("Update", decisions=180), None)
        got = rules()
        expect(got and len(got) == 4 and got["va-ledger-decisions"]["Expiration"]["Days"] == 180,
               f"Update: rules are {got}")
        module.handler(event("Delete"), None)
        expect(rules() is not None and set(rules()) == {"DeleteOldRawLogs"}, f"Delete: rules left {rules()}")
        s3.delete_bucket_lifecycle(Bucket=BUCKET)
        module.handler(event("Create"), None)
        module.handler(event("Delete"), None)
        expect(rules() is None, "Delete of the only rules must remove the configuration")
        module.handler(event("Create", bucket="no-such-bucket"), None)
        expect([a["Status"] for a in answers] == ["SUCCESS"] * 5 + ["FAILED"], f"answers: {[a['Status'] for a in answers]}")
        expect("NoSuchBucket" in answers[-1]["Reason"], f"a failure names its cause: {answers[-1]['Reason']}")
    for p in problems:
        print(f"ledger lifecycle check: {p}", file=sys.stderr)
    if problems:
        return 1
    print("ledger lifecycle check: OK (create keeps the bucket's rules, update replaces, delete removes only its own, failures answer FAILED)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
