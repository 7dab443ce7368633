"""RPCv2 CBOR in front of moto, for CloudWatch.

The current AWS SDK for Rust speaks Smithy RPCv2 CBOR to CloudWatch (`POST
/service/GraniteServiceVersion20100801/operation/<Op>`, `Content-Type: application/cbor`,
`smithy-protocol: rpc-v2-cbor`). moto parses CloudWatch's awsJson 1.0 form (what boto3 sends), not
CBOR. This front decodes the CBOR request, hands moto the same request as awsJson 1.0, and encodes
moto's JSON answer back into CBOR, guided by botocore's CloudWatch model: CBOR tags timestamps (tag 1)
and carries blobs as byte strings, where JSON has epoch numbers and base64 text, and the SDK's
decoder insists on the CBOR types (an integer where the model says integer, tag 1 on a timestamp).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json

import cbor2

TARGET_PREFIX = "GraniteServiceVersion20100801"
_MODEL = None


def model():
    global _MODEL
    if _MODEL is None:
        import botocore.session

        _MODEL = botocore.session.get_session().get_service_model("cloudwatch")
    return _MODEL


def _epoch(v) -> float:
    if isinstance(v, dt.datetime):
        return v.timestamp() if v.tzinfo else v.replace(tzinfo=dt.timezone.utc).timestamp()
    if isinstance(v, str):
        return dt.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
    return float(v)


def convert(value, shape, to_cbor: bool):
    """`value` (decoded from one side) in the other side's types, per the model `shape`."""
    if value is None or shape is None:
        return value
    t = shape.type_name
    if t == "structure":
        out = {}
        for k, v in value.items():
            member = shape.members.get(k)
            out[k] = convert(v, member, to_cbor) if member is not None else v
        return out
    if t == "list":
        return [convert(v, shape.member, to_cbor) for v in value]
    if t == "map":
        return {k: convert(v, shape.value, to_cbor) for k, v in value.items()}
    if t == "timestamp":
        seconds = _epoch(value)
        return cbor2.CBORTag(1, seconds) if to_cbor else seconds
    if t == "blob":
        return base64.b64decode(value) if to_cbor else base64.b64encode(value).decode()
    if t in ("integer", "long"):
        return int(value)
    if t in ("double", "float"):
        return float(value)
    if t == "boolean":
        return bool(value)
    return value


def decode_request(op: str, body: bytes) -> dict:
    """The CBOR request body as the operation's input, in JSON types."""
    data = cbor2.loads(body) if body else {}
    if isinstance(data, cbor2.CBORTag):
        data = data.value
    shape = model().operation_model(op).input_shape
    return convert(data or {}, shape, to_cbor=False)


def as_json_request(environ: dict, op: str, params: dict) -> dict:
    """A copy of the WSGI environ that asks moto for `op` in awsJson 1.0."""
    body = json.dumps(params).encode()
    env = dict(environ)
    env.update({
        "PATH_INFO": "/",
        "RAW_URI": "/",
        "REQUEST_URI": "/",
        "CONTENT_TYPE": "application/x-amz-json-1.0",
        "HTTP_X_AMZ_TARGET": f"{TARGET_PREFIX}.{op}",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "_body": body,
    })
    env.pop("HTTP_SMITHY_PROTOCOL", None)
    env.pop("HTTP_ACCEPT", None)
    return env


def encode_response(op: str, status: int, body: bytes) -> bytes:
    """moto's JSON answer as CBOR: the output shape on success, {__type, message} on error."""
    data = json.loads(body) if body and body.strip() else {}
    if status < 300:
        data = convert(data, model().operation_model(op).output_shape, to_cbor=True)
    else:
        data = {k: v for k, v in data.items() if k in ("__type", "message", "Message")}
    return cbor2.dumps(data)


def error_body(code: str, message: str) -> bytes:
    return cbor2.dumps({"__type": code, "message": message})


HEADERS = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
