#!/usr/bin/env python3
"""Every AWS call the end-to-end suite made, checked against the calling function's own IAM policy.

Usage: check-calls.py [--template T] [--plant-missing FUNCTION:SID] JOURNAL_DIR

moto does not enforce IAM, so the suite alone would pass with a policy that AWS would refuse. The
emulator journals every call Autoheal makes (tests/world/emulator.py, one JSON line per request in
JOURNAL_DIR when AUTOHEAL_CALL_JOURNAL_DIR is set; `make test` sets it). Each request names the
function that made it (its user agent ends in `autoheal-function/<name>`, shared/src/caller.rs) and
what IAM is asked for it (tests/world/callmodel.py: action, resource ARN, the request values that
conditions read, plus the implied iam:PassRole of RunTask and the s3:ListBucket behind a 404). Each
of those is decided against that function's policy in template.yaml, expanded (tools/iamcalls.py).

Fails (exit 1), one line per distinct denied call naming the function, the request, the action, the
resource and why, when:
  - a call is not allowed by its function's own policy;
  - a call could not be modelled (resource "?"), or names a function the template does not have;
  - a function lists the audit ledger (a run's S3 cost must not grow with the ledger's size).
Requests without a function tag (the operator's CLI commands such as `autoheal rollback`, which run
with the operator's credentials, and direct library calls) are counted and not checked, and so are
those of a test that declared its world configured outside the template (POST
/_world/calls/off-template with the reason, e.g. a bucket that does not exist).

--plant-missing FUNCTION:SID removes that statement from that function's policy and inverts the
verdict: exit 0 when the check then fails naming FUNCTION (the planted gap is caught), 1 when it
still passes. make test runs it once, so a check that stopped checking cannot stay green.

Exit codes: 0 pass, 1 fail, 2 unusable input (no journal, unreadable template).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import iamcalls  # noqa: E402

LEDGER_PREFIX = "autoheal/"


def read_journal(directory: Path) -> list[dict]:
    entries = []
    for f in sorted(directory.glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entries.append(json.loads(line))
    return entries


def check(entries: list[dict], policies: dict) -> tuple[list[str], dict, dict]:
    """(problems, per-function stats, {why not checked: request count})."""
    problems: dict[str, None] = {}
    stats = defaultdict(lambda: {"requests": 0, "checks": 0, "distinct": set(), "actions": set(), "used": set()})
    skipped: dict[str, int] = defaultdict(int)
    for e in entries:
        fn = e.get("function")
        if fn is None:
            skipped["without a function tag (operator CLI commands, direct library calls)"] += 1
            continue
        if e.get("off_template"):
            skipped[f"from a test world configured outside the template ({e['off_template']})"] += 1
            continue
        st = stats[fn]
        st["requests"] += 1
        policy = policies.get(fn)
        request = e.get('op') or '?'
        if policy is None:
            problems[f"{fn}: {request}: no function {fn!r} in template.yaml (known: {', '.join(sorted(policies))})"] = None
            continue
        for c in e.get("calls") or []:
            st["checks"] += 1
            key = (c["action"], c["resource"], json.dumps(c["context"], sort_keys=True))
            st["distinct"].add(key)
            st["actions"].add(c["action"])
            where = f"{fn}: {request} needs {c['action']} on {c['resource']}"
            if c["context"]:
                where += f" with {json.dumps(c['context'], sort_keys=True)}"
            if c["resource"] == "?":
                problems[f"{where}: {c.get('note', 'not modelled')}"] = None
                continue
            if c["action"] == "s3:ListBucket" and c["context"].get("s3:prefix", "").startswith(LEDGER_PREFIX):
                problems[f"{where}: a function lists the audit ledger; a run's cost would grow with the ledger"] = None
            verdict = iamcalls.decide(policy, c["action"], c["resource"], c["context"])
            st["used"].add(verdict["by"])
            if not verdict["allowed"]:
                note = f" [{c['note']}]" if c.get("note") else ""
                problems[f"{where}: DENIED, {verdict['why']}{note}"] = None
    return list(problems), stats, skipped


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("journal", type=Path)
    ap.add_argument("--template", default=None)
    ap.add_argument("--plant-missing", default=None, metavar="FUNCTION:SID")
    args = ap.parse_args(argv[1:])
    entries = read_journal(args.journal) if args.journal.is_dir() else []
    if not entries:
        print(f"call check: no journaled calls in {args.journal} (run the e2e suite with "
              f"AUTOHEAL_CALL_JOURNAL_DIR={args.journal}; make test does)", file=sys.stderr)
        return 2
    try:
        policies = iamcalls.load(args.template)
    except Exception as e:  # the translator's and the template's own errors
        print(f"call check: cannot expand the template: {e}", file=sys.stderr)
        return 2

    if args.plant_missing:
        fn, _, sid = args.plant_missing.partition(":")
        policy = policies.get(fn)
        before = len(policy["statements"]) if policy else 0
        if policy:
            policy["statements"] = [s for s in policy["statements"] if s["Sid"] != sid]
        if not policy or len(policy["statements"]) == before:
            print(f"call check (planted): {fn} has no statement {sid} to remove", file=sys.stderr)
            return 2
        problems, _, _ = check(entries, policies)
        caught = [p for p in problems if p.startswith(f"{fn}: ")]
        for p in caught:
            print(f"call check (planted): {p}")
        if caught:
            print(f"call check (planted): removing {fn}'s {sid} fails the check ({len(caught)} denied call(s)), as it must")
            return 0
        print(f"call check (planted): removing {fn}'s {sid} went unnoticed", file=sys.stderr)
        return 1

    problems, stats, skipped = check(entries, policies)
    for fn in sorted(policies):
        st = stats.get(fn)
        if st is None:
            print(f"call check: {fn}: no calls in the journal")
            continue
        print(f"call check: {fn}: {len(st['distinct'])} distinct calls checked ({len(st['actions'])} actions; "
              f"{st['checks']} checks over {st['requests']} requests)")
        unused = sorted({s["Sid"] for s in policies[fn]["statements"] if s["Effect"] == "Allow"} - st["used"])
        if unused:
            # Not a failure: some grants serve paths the suite does not reach. A list to review.
            print(f"call check: {fn}: statements no call of the suite used: {', '.join(unused)}")
    for why, n in sorted(skipped.items()):
        print(f"call check: {n} requests {why}: not checked")
    missing = sorted(set(policies) - set(stats))
    if missing:
        problems.append(f"no journaled calls for {', '.join(missing)}: the suite must exercise every function")
    if problems:
        for p in problems:
            print(f"call check: {p}", file=sys.stderr)
        print(f"call check: FAILED ({len(problems)} problem{'s' if len(problems) != 1 else ''})", file=sys.stderr)
        return 1
    print(f"call check: OK (every call allowed by its own function's policy; no function lists the ledger)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
