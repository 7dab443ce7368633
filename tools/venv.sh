#!/usr/bin/env bash
# Creates ./.venv with the pinned Python tools (moto server, cfn-lint, aws-sam-translator, cargo-lambda,
# awscli). Idempotent: re-installs only when requirements.lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
STAMP="$VENV/.installed-$(sha256sum requirements.lock requirements.txt | sha256sum | cut -c1-16)"
if [ -f "$STAMP" ]; then exit 0; fi
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "tools/venv.sh: $PY not found; install Python 3.9+" >&2; exit 1; }
echo "tools/venv.sh: installing pinned tools into $VENV (one time)" >&2
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt -c requirements.lock
touch "$STAMP"
