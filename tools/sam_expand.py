#!/usr/bin/env python3
"""Expands the SAM template into plain CloudFormation, offline (aws-sam-translator, no AWS call).

Usage: sam_expand.py TEMPLATE OUT.json [NAME=VALUE ...]     (tools/lint-template.sh, stage 1)

Also imported: by tools/check-calls.py and by the emulator (tests/world/emulator.py), which both need
each function's expanded IAM policy. `expand()` returns the CloudFormation document and the map from
function name (the directory in `CodeUri: functions/<name>/`, which is also its binary and the name
Autoheal puts in its user agent) to the function's logical id.

The managed-policy map is SAM's bundled one plus an empty fallback (no IAM lookup), and the region is
fixed. Parameters without a default get a named placeholder unless given (S3Bucket: example-bucket).
"""

from __future__ import annotations

import json
import os
import sys

# Keep boto3 (imported by the translator) away from the network, the metadata service and the
# caller's AWS profile: it only needs a region name to resolve pseudo parameters.
for _k, _v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}.items():
    os.environ[_k] = _v
os.environ.pop("AWS_PROFILE", None)

DEFAULT_PARAMETERS = {"S3Bucket": "example-bucket"}

# The translator accepts only packaged templates (s3:// code locations); `sam deploy` uploads the
# local directories first. Local paths are swapped for placeholders, as `sam package` would.
LOCAL_URI_PROPS = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


class ExpandError(Exception):
    pass


class OfflinePolicyLoader:
    """Stands in for ManagedPolicyLoader, which lists policies through IAM. Names in SAM's bundled
    map still resolve; anything else is left unresolved rather than looked up."""

    def load(self):
        return {}


def _placeholder(props, key, name):
    value = props.get(key)
    if isinstance(value, str) and not value.startswith("s3://"):
        props[key] = f"s3://autoheal-lint-placeholder/{name}.zip"


def function_names(template: dict) -> dict[str, str]:
    """{function name: logical id} from `CodeUri: functions/<name>/`."""
    out = {}
    for logical_id, r in (template.get("Resources") or {}).items():
        if isinstance(r, dict) and r.get("Type") == "AWS::Serverless::Function":
            uri = (r.get("Properties") or {}).get("CodeUri")
            if isinstance(uri, str) and uri.strip("/").startswith("functions/"):
                out[uri.strip("/").split("/")[-1]] = logical_id
    return out


def expand(path: str, parameters: dict | None = None) -> tuple[dict, dict[str, str]]:
    from cfnlint.decode import decode_str  # understands the !Ref/!Sub/!GetAtt short forms
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.transform import transform

    with open(path, encoding="utf-8") as f:
        template, matches = decode_str(f.read())
    if matches or template is None:
        raise ExpandError(f"could not parse {path}: " + "; ".join(str(m) for m in matches))
    functions = function_names(template)
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    _placeholder(globals_fn, "CodeUri", "globals")
    for logical_id, resource in (template.get("Resources") or {}).items():
        prop = LOCAL_URI_PROPS.get(resource.get("Type")) if isinstance(resource, dict) else None
        if prop and isinstance(resource.get("Properties"), dict):
            _placeholder(resource["Properties"], prop, logical_id)
    values = dict(DEFAULT_PARAMETERS)
    values.update(parameters or {})
    try:
        out = transform(template, values, OfflinePolicyLoader())
    except InvalidDocumentException as e:
        raise ExpandError("; ".join(c.message for c in e.causes)) from e
    except Exception as e:  # translator bugs / unexpected shapes: still a failure, with a message
        raise ExpandError(f"{type(e).__name__}: {e}") from e
    return out, functions


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: sam_expand.py TEMPLATE OUT.json [NAME=VALUE ...]", file=sys.stderr)
        return 2
    params = dict(a.split("=", 1) for a in argv[3:])
    try:
        out, _ = expand(argv[1], params)
    except (OSError, ExpandError) as e:
        print(f"  {e}", file=sys.stderr)
        return 1
    with open(argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
