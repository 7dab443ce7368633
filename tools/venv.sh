#!/usr/bin/env bash
# Creates the pinned Python tool environments. Idempotent: each re-installs only when its lock changed.
#   .venv        moto server (the emulator), cfn-lint, aws-sam-translator, cargo-lambda, awscli, cbor2
#                (requirements.txt, requirements.lock)
#   .tools/sam   the AWS SAM CLI (requirements-sam.txt, requirements-sam.lock): a virtualenv of its
#                own, because the SAM CLI pins boto3 and cfn-lint differently from the emulator's.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

install() { # install VENV REQUIREMENTS LOCK
  local venv=$1 req=$2 lock=$3
  local stamp="$venv/.installed-$(sha256sum "$lock" "$req" | sha256sum | cut -c1-16)"
  if [ -f "$stamp" ]; then return 0; fi
  command -v "$PY" >/dev/null || { echo "tools/venv.sh: $PY not found; install Python 3.9+" >&2; exit 1; }
  echo "tools/venv.sh: installing pinned tools into $venv (one time)" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$PY" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" -c "$lock"
  touch "$stamp"
}

install .venv requirements.txt requirements.lock
install .tools/sam requirements-sam.txt requirements-sam.lock
