#!/usr/bin/env bash
# `sam validate --lint`, then `sam build` with a stand-in cargo-lambda (tools/sam-standin/): proves
# that the standard SAM build path works for every function without a release build.
#
# For each Architecture (arm64, the template's default, and x86_64) it checks that SAM ran
# `cargo lambda build --release` (with --arm64 for arm64 only) once per function, in that function's
# directory, and that each function's artifact in the build directory holds a `bootstrap` that is that
# function's binary. The real build (cargo lambda on PATH) is the same command: docs/deploy.md.
#
# Usage: tools/check-sam-build.sh          (make test runs it; offline: no AWS call, no download)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
fail() { echo "sam check: FAILED: $*" >&2; exit 1; }

tools/venv.sh || fail "tools/venv.sh failed"
SAM=.tools/sam/bin/sam
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# No AWS, no telemetry, no weekly version check against PyPI, no caller profile.
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null SAM_CLI_TELEMETRY=0
unset AWS_PROFILE AWS_ENDPOINT_URL
export __SAM_CLI_APP_DIR="$WORK/sam-app"
mkdir -p "$__SAM_CLI_APP_DIR"
printf '{"telemetryEnabled": false, "lastVersionCheck": %s}\n' "$(date +%s)" >"$__SAM_CLI_APP_DIR/metadata.json"

"$SAM" validate --lint --template template.yaml >"$WORK/validate.log" 2>&1 \
  || { cat "$WORK/validate.log" >&2; fail "sam validate --lint reported problems in template.yaml"; }
echo "sam check: sam validate --lint: OK"

for ARCH in arm64 x86_64; do
  # The stand-in writes into its own target directory, never over real build output.
  export CARGO_TARGET_DIR="$WORK/target-$ARCH" AUTOHEAL_STANDIN_LOG="$WORK/standin-$ARCH.jsonl"
  PATH="$ROOT/tools/sam-standin:$PATH" "$SAM" build --template template.yaml --build-dir "$WORK/build-$ARCH" \
    --parameter-overrides "S3Bucket=example-bucket Architecture=$ARCH" >"$WORK/build-$ARCH.log" 2>&1 \
    || { cat "$WORK/build-$ARCH.log" >&2; fail "sam build ($ARCH) with the stand-in cargo-lambda failed"; }
  .venv/bin/python - "$ARCH" "$WORK/build-$ARCH" "$AUTOHEAL_STANDIN_LOG" <<'PY' || fail "sam build ($ARCH) produced the wrong artifacts (see above)"
import json, os, sys
sys.path.insert(0, "tools")
from cfnlint.decode import decode_str
from sam_expand import function_names

arch, build, log = sys.argv[1:]
functions = function_names(decode_str(open("template.yaml", encoding="utf-8").read())[0])
calls = [json.loads(line) for line in open(log, encoding="utf-8")]
built, _ = decode_str(open(os.path.join(build, "template.yaml"), encoding="utf-8").read())
problems = []
if len(calls) != len(functions):
    problems.append(f"cargo lambda ran {len(calls)} times for {len(functions)} functions")
for name, logical in sorted(functions.items()):
    mine = [c for c in calls if os.path.realpath(c["cwd"]) == os.path.realpath(f"functions/{name}")]
    if len(mine) != 1:
        problems.append(f"{name}: cargo lambda ran {len(mine)} times in functions/{name}")
        continue
    args = mine[0]["args"]
    if "--release" not in args:
        problems.append(f"{name}: not a release build: {args}")
    if ("--arm64" in args) != (arch == "arm64"):
        problems.append(f"{name}: Architecture={arch} but cargo lambda got {args}")
    if mine[0]["bins"] != [name]:
        problems.append(f"{name}: built {mine[0]['bins']}, not the function's own binary")
    uri = built["Resources"][logical]["Properties"]["CodeUri"]
    bootstrap = os.path.join(build, uri, "bootstrap")
    if not os.path.isfile(bootstrap):
        problems.append(f"{name}: no bootstrap in its artifact {uri}/")
    elif f"placeholder for {name}:" not in open(bootstrap, encoding="utf-8").read():
        problems.append(f"{name}: {uri}/bootstrap is not {name}'s binary")
    elif not os.access(bootstrap, os.X_OK):
        problems.append(f"{name}: {uri}/bootstrap is not executable")
for p in problems:
    print(f"sam check: {p}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"sam check: sam build ({arch}): {len(functions)} functions, each `cargo lambda build --release"
      f"{' --arm64' if arch == 'arm64' else ''}` in functions/<name>/, each artifact holds its own bootstrap")
PY
done
