#!/usr/bin/env bash
# Lints the SAM template offline, in three passes:
#   1. aws-sam-translator expands the SAM template into plain CloudFormation (no AWS call: the
#      managed-policy map is the bundled one plus an empty fallback, and the region is fixed);
#   2. cfn-lint checks both the SAM template and the expanded CloudFormation;
#   3. tools/check-iam.py checks the expanded IAM for least privilege (mutations on named
#      resources only, no service wildcards, secret values readable by the alarm responder only);
#   4. tools/check-patterns.py routes the sample events (and variants that must be kept out)
#      through the expanded EventBridge rules with moto's pattern matcher.
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

# Stage 1: SAM -> CloudFormation.
"$PY" - "$TEMPLATE" "$TRANSLATED" <<'PY' || fail "sam-translate" "aws-sam-translator could not expand $TEMPLATE (see above)"
import json
import sys

from cfnlint.decode import decode_str  # understands the !Ref/!Sub/!GetAtt short forms
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform

src, dst = sys.argv[1], sys.argv[2]

# Values for parameters that have no default; everything else uses the template's defaults.
PARAMETER_VALUES = {"S3Bucket": "example-bucket"}


class OfflinePolicyLoader:
    """Stands in for ManagedPolicyLoader, which lists policies through IAM. Names in SAM's bundled
    map still resolve; anything else is left unresolved rather than looked up."""

    def load(self):
        return {}


with open(src, encoding="utf-8") as f:
    template, matches = decode_str(f.read())
if matches or template is None:
    for m in matches:
        print(f"  {m}", file=sys.stderr)
    sys.exit(f"could not parse {src}")

# The translator accepts only packaged templates (s3:// code locations); `sam deploy` uploads the
# local directories first. Swap local paths for placeholders, as `sam package` would.
LOCAL_URI_PROPS = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def placeholder(props, key, name):
    value = props.get(key)
    if isinstance(value, str) and not value.startswith("s3://"):
        props[key] = f"s3://autoheal-lint-placeholder/{name}.zip"


globals_fn = (template.get("Globals") or {}).get("Function") or {}
placeholder(globals_fn, "CodeUri", "globals")
for logical_id, resource in (template.get("Resources") or {}).items():
    prop = LOCAL_URI_PROPS.get(resource.get("Type")) if isinstance(resource, dict) else None
    if prop and isinstance(resource.get("Properties"), dict):
        placeholder(resource["Properties"], prop, logical_id)

try:
    out = transform(template, PARAMETER_VALUES, OfflinePolicyLoader())
except InvalidDocumentException as e:
    for cause in e.causes:
        print(f"  {cause.message}", file=sys.stderr)
    sys.exit(1)
except Exception as e:  # translator bugs / unexpected shapes: still a failed stage, with a message
    sys.exit(f"{type(e).__name__}: {e}")

with open(dst, "w", encoding="utf-8") as f:
    json.dump(out, f, indent=1)
PY

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

# Stage 5: the EventBridge rules deliver each sample event to its function and keep out the rest.
"$PY" tools/check-patterns.py "$TRANSLATED" tests/fixtures/events \
  || fail "event-patterns" "tools/check-patterns.py found events routed wrongly by the rules expanded from $TEMPLATE (see above)"

echo "template lint: OK (sam-translate + cfn-lint + iam-check + event-patterns)"
