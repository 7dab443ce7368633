#!/usr/bin/env bash
# Lints the SAM template offline, in passes:
#   1. aws-sam-translator expands the SAM template into plain CloudFormation (tools/sam_expand.py: no
#      AWS call, the managed-policy map is the bundled one plus an empty fallback, the region fixed);
#   2. cfn-lint checks both the SAM template and the expanded CloudFormation;
#   3. tools/check-iam.py checks the expanded IAM for least privilege (mutations and iam:PassRole on
#      named resources only, no service wildcards, secret values readable by the token validators
#      only), and must fail on a planted iam:PassRole on "*";
#   4. tools/check-patterns.py routes the sample events (and variants that must be kept out)
#      through the expanded EventBridge rules with moto's pattern matcher;
#   5. tools/check-ledger-lifecycle.py runs the optional ledger-lifecycle custom resource's inline code
#      against moto's S3.
# (`sam validate --lint` and `sam build` run in tools/check-sam-build.sh; every call of the end-to-end
# suite is checked against its function's policy by tools/check-calls.py.)
# cfn-lint alone no longer expands SAM, so a bad Runtime or a !Ref to nothing inside an
# AWS::Serverless::Function would pass without step 1.
#
# Usage: tools/lint-template.sh [TEMPLATE]   (default: template.yaml at the repository root)
set -euo pipefail

# Resolve the template path against the caller's directory before moving to the repository root.
TEMPLATE_ARG=${1:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "$TEMPLATE_ARG" ]; then
  TEMPLATE=$(realpath -- "$TEMPLATE_ARG")
else
  TEMPLATE="$ROOT/template.yaml"
fi
cd "$ROOT"

fail() { echo "template lint: FAILED at stage '$1': $2" >&2; exit 1; }

[ -f "$TEMPLATE" ] || fail "input" "template not found: $TEMPLATE"

# Stage 0: pinned tools (idempotent; installs only when requirements.lock changed).
tools/venv.sh || fail "venv" "tools/venv.sh failed"
PY=.venv/bin/python
CFN_LINT=.venv/bin/cfn-lint

# Keep boto3 (imported by the translator) away from the network, the metadata service and the
# caller's AWS profile: it only needs a region name to resolve pseudo parameters.
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_ENDPOINT_URL

TRANSLATED=$(mktemp --suffix=.json)
trap 'rm -f "$TRANSLATED"' EXIT

# Stage 1: SAM -> CloudFormation (tools/sam_expand.py; the emulator and check-calls.py use it too).
"$PY" tools/sam_expand.py "$TEMPLATE" "$TRANSLATED" \
  || fail "sam-translate" "aws-sam-translator could not expand $TEMPLATE (see above)"

# Stage 2: cfn-lint on the SAM template as written (parameters, outputs, plain resources).
"$CFN_LINT" --non-zero-exit-code warning -- "$TEMPLATE" \
  || fail "cfn-lint (SAM template)" "cfn-lint reported problems in $TEMPLATE (see above)"

# Stage 3: cfn-lint on the expanded CloudFormation (the generated Lambda function, role, rule...).
# The expanded file is temporary, so findings are printed by path (Resources/<id>/Properties/...)
# rather than by line number; generated ids start with the SAM resource's logical id.
if ! FINDINGS=$("$CFN_LINT" --format json --non-zero-exit-code warning -- "$TRANSLATED"); then
  printf '%s' "$FINDINGS" | "$PY" -c '
import json, sys
raw = sys.stdin.read()
try:
    findings = json.loads(raw)
except ValueError:
    sys.exit(raw)  # not JSON (cfn-lint itself failed): show it as it is
for f in findings:
    path = "/".join(str(p) for p in f["Location"]["Path"])
    rule, message = f["Rule"]["Id"], f["Message"]
    print(f"  {rule} {path}: {message}", file=sys.stderr)
' || true
  fail "cfn-lint (translated CloudFormation)" "cfn-lint reported problems in the CloudFormation expanded from $TEMPLATE (see above)"
fi

# Stage 4: least-privilege IAM on the expanded CloudFormation (the roles SAM generates).
"$PY" tools/check-iam.py "$TRANSLATED" \
  || fail "iam-check" "tools/check-iam.py found IAM that is not least-privilege in the CloudFormation expanded from $TEMPLATE (see above)"

# Stage 4b: the IAM check itself fails on a planted iam:PassRole on "*" (it must treat passing a
# role as sensitive), so a weakened check cannot pass silently.
PLANTED=$(mktemp --suffix=.json)
trap 'rm -f "$TRANSLATED" "$PLANTED"' EXIT
"$PY" - "$TRANSLATED" "$PLANTED" <<'PY' || fail "iam-check (planted)" "could not plant a PassRole on * into the expanded template"
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
planted = 0
for r in doc["Resources"].values():
    for p in (r.get("Properties") or {}).get("Policies") or [] if r.get("Type") == "AWS::IAM::Role" else []:
        for s in p["PolicyDocument"]["Statement"]:
            if "iam:PassRole" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]):
                s["Resource"] = "*"
                planted += 1
json.dump(doc, open(sys.argv[2], "w", encoding="utf-8"))
sys.exit(0 if planted else "no iam:PassRole statement to plant into")
PY
if PLANTED_OUT=$("$PY" tools/check-iam.py "$PLANTED" 2>&1) || ! grep -q 'iam:PassRole on unscoped resource \*' <<<"$PLANTED_OUT"; then
  printf '%s\n' "$PLANTED_OUT" >&2
  fail "iam-check (planted)" "tools/check-iam.py did not fail on iam:PassRole granted on \"*\""
fi
echo "iam check: a planted iam:PassRole on \"*\" fails it, as it must"

# Stage 5: the EventBridge rules deliver each sample event to its function and keep out the rest.
"$PY" tools/check-patterns.py "$TRANSLATED" tests/fixtures/events \
  || fail "event-patterns" "tools/check-patterns.py found events routed wrongly by the rules expanded from $TEMPLATE (see above)"

# Stage 6: the optional ledger-lifecycle custom resource's own code, against moto's S3.
"$PY" tools/check-ledger-lifecycle.py "$TEMPLATE" \
  || fail "ledger-lifecycle" "the LedgerLifecycleFunction code in $TEMPLATE does not merge and remove its rules as it must (see above)"

echo "template lint: OK (sam-translate + cfn-lint + iam-check + event-patterns + ledger-lifecycle)"
