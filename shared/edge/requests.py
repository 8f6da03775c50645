"""The body-reading primitives under shared/edge/spec.py's reader: limits, strict JSON,
base64, field names. Written against the request's duck type (`mimetype`,
`content_length`, `max_content_length`, `get_data`) so the library never imports Flask.
Every problem is a ServiceError naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from shared.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

JSON_TYPES = ("application/json",)
MULTIPART = "multipart/form-data"
MAX_INT_DIGITS = 30  # no field takes more; Python itself refuses past 4,300 digits with a ValueError
FLOAT32_MAX = 3.4028234663852886e38


def _strict_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadRequest(f"request JSON holds an integer of {len(text.lstrip('-'))} digits; at most {MAX_INT_DIGITS} are accepted")
    return int(text)


def _strict_float(text: str) -> float:
    value = float(text)
    if not abs(value) <= FLOAT32_MAX:  # also inf; the models compute in float32
        raise BadRequest(f"request JSON holds the number {text[:40]}, beyond float32's range (about 3.4e38)")
    return value


def _no_constants(name: str) -> float:
    raise BadRequest(f"request JSON holds {name}, which is not JSON; send null for a missing value")


def refuse_declared_excess(request: Any, max_bytes: int) -> None:
    """413 for any method whose declared body (Content-Length) is over `max_bytes`."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"request body is {length} bytes; the limit is {max_bytes}")


def limit_body(request: Any, max_bytes: int) -> None:
    """Refuse an over-long body from its Content-Length, and cap streamed (chunked) bodies.
    From here on the body counts as read (the edge need not close the connection)."""
    refuse_declared_excess(request, max_bytes)
    # werkzeug stops reading a streamed (chunked) body at this many bytes without an
    # error: one byte over the limit tells a cut-off body from one exactly at the limit.
    request.max_content_length = max_bytes + 1
    request._edge_body_read = True


def read_json(request: Any, max_bytes: int, max_items: int, max_keys: int | None = None, *, float32_floats: bool = True) -> dict[str, Any]:
    """The JSON object in the body; 415 for another content type, 400 for bad JSON, 413
    for a body over `max_bytes` or holding more than `max_items` values or `max_keys` object
    keys (counted before parsing: a 9 MB list of a million zeros is ~150 MB once parsed, and
    an object's key costs ten times a number)."""
    if request.mimetype not in JSON_TYPES:
        raise UnsupportedMediaType(f"expected Content-Type application/json, got {request.mimetype or 'none'!r}")
    limit_body(request, max_bytes)
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"request body is over the limit of {max_bytes} bytes")
    if not raw:
        raise BadRequest("request body is empty; expected a JSON object")
    data = parse_json(raw, max_items, max_keys=max_keys, float32_floats=float32_floats)
    if not isinstance(data, dict):
        raise BadRequest(f"expected a JSON object, got {type(data).__name__}")
    return data


def parse_json(raw: bytes, max_items: int, field: str = "", max_keys: int | None = None, *, float32_floats: bool = True) -> Any:
    """Strict JSON text -> value: at most `max_items` values and `max_keys` object keys
    (None = as many as values), counted before parsing; integers of at most MAX_INT_DIGITS
    digits, no NaN or Infinity; 400 (413 for too many values) naming `field` ("" = the
    request body). `float32_floats`: each float is checked to be within float32's range as
    it is parsed (a Python call per number: ~0.8 us, 100 ms for 1,000 templates); False
    leaves floats to the C parser (an overflow such as 1e400 becomes inf) for a caller that
    checks the ranges of the floats it uses, all at once (shared.face.templates does)."""
    body, text = (f"field {field}", f"field {field}") if field else ("request body", "request JSON")
    items = raw.count(b",") + 1
    if items > max_items:
        raise PayloadTooLarge(f"{text} holds about {items} values; the limit is {max_items}", code="too_many_values")
    keys = raw.count(b":")
    if max_keys is not None and keys > max_keys:
        raise PayloadTooLarge(f"{text} holds about {keys} object keys; the limit is {max_keys}", code="too_many_values")
    try:
        return json.loads(raw, parse_int=_strict_int, parse_float=_strict_float if float32_floats else None, parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise BadRequest(f"{body} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{body} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BadRequest(f"{text} is nested too deeply") from None


def check_fields(data: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    """400 naming any missing or unknown top-level fields (nothing is silently ignored)."""
    missing = [k for k in required if k not in data]
    unknown = sorted(k for k in data if k not in required and k not in optional)
    if missing:
        raise BadRequest(f"missing field(s): {', '.join(missing)}; expected {', '.join(required)}")
    if unknown:
        allowed = ", ".join(required + optional)
        raise BadRequest(f"unknown field(s): {', '.join(unknown)[:200]}; allowed: {allowed}")


def decode_base64(value: Any, field: str) -> bytes:
    """Bytes from a base64 string or a data URI (``data:image/jpeg;base64,...``)."""
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a base64 string, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("data:"):
        header, sep, text = text.partition(",")
        if not sep or not header.endswith(";base64"):
            raise BadRequest(f"{field} is a data URI without ';base64,' data")
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{field} is not valid base64") from None
    if not data:
        raise BadRequest(f"{field} is empty")
    return data
