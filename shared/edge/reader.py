"""The one body reader: a JSON or multipart body -> the typed values a function's
`RequestSpec` (shared/fields.py) declares, by the same rules for every function.

Kinds, and how each arrives:

    kind            JSON body                        multipart form
    photo           a base64 string (data URI too)   a file part, or a base64 text part
    photos          a list of base64 strings         repeated file (or base64 text) parts
    photo_or_json   a base64 string -> bytes;        a file part; a text part holding JSON
                    any other value kept as parsed   ({...} or [...]) -> parsed, else base64
    flag            true or false                    the text true or false
    integer         a whole number in [low, high]    its digits
    text            any value, kept as sent          the text as sent
    json            any value, kept as parsed        JSON text (a file part too)

Nothing is coerced: "true", 1 or 2.0 are refused as a flag or an integer. Values the
function judges itself (a template, a model name, a top_k whose bound is the model's)
are `json` or `text`. The body's JSON values and object keys are counted before
parsing (`RequestSpec.max_values`, `max_keys`).
"""

from __future__ import annotations

from typing import Any

from shared.edge.requests import JSON_TYPES, MULTIPART, check_fields, decode_base64, limit_body, parse_json, read_json
from shared.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from shared.fields import PHOTO_KINDS, Field, RequestSpec


def read(request: Any, spec: RequestSpec, max_bytes: int) -> dict[str, Any]:
    """The body's fields as typed values (field name -> value); 415 for another content
    type, 413 over `max_bytes` or the spec's counts, 400 naming the field at fault."""
    if request.mimetype in JSON_TYPES:
        data = read_json(request, max_bytes, spec.max_values, spec.max_keys, float32_floats=spec.float32_floats)
        check_fields(data, spec.required, spec.optional)
        return {name: _from_json(spec.field(name), value) for name, value in data.items()}
    if request.mimetype == MULTIPART:
        return _read_form(request, spec, max_bytes)
    raise UnsupportedMediaType(f"expected multipart/form-data or application/json, got {request.mimetype or 'no Content-Type'!r}")


def flag(value: Any, name: str) -> bool:
    """A strict boolean: JSON true or false, nothing else."""
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false, got {type(value).__name__} {str(value)[:40]!r}")
    return value


def integer(value: Any, name: str, low: int, high: int) -> int:
    """A JSON whole number (not a bool, not 2.0) from `low` to `high`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}, got {str(value)[:40]}")
    return value


def _from_json(field: Field, value: Any) -> Any:
    """A parsed JSON value -> the field's typed value."""
    kind, name = field.kind, field.name
    if kind == "photo" or (kind == "photo_or_json" and isinstance(value, str)):
        return decode_base64(value, name)
    if kind == "photos":
        if not isinstance(value, list):
            raise BadRequest(f"{name} must be a list of base64 strings, got {type(value).__name__}")
        return [decode_base64(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if kind == "flag":
        return flag(value, name)
    if kind == "integer":
        return integer(value, name, field.low, field.high)
    return value  # text, json, photo_or_json holding a value


def _read_form(request: Any, spec: RequestSpec, max_bytes: int) -> dict[str, Any]:
    limit_body(request, max_bytes)
    request.max_form_memory_size = max_bytes  # base64 and JSON text parts may be as large as the body
    files, form = request.files, request.form
    check_fields({**dict.fromkeys(files, 1), **dict.fromkeys(form, 1)}, spec.required, spec.optional)
    out: dict[str, Any] = {}
    texts: dict[str, bytes] = {}  # JSON text, parsed below once counted
    for name in sorted({*files, *form}):
        field = spec.field(name)
        parts: list[bytes | str] = [f.read() for f in files.getlist(name)] + list(form.getlist(name))
        for i, part in enumerate(parts):
            if not part:
                raise BadRequest(f"{name} is empty" if len(parts) == 1 else f"{name}[{i}] is empty")
        if field.kind == "photos":
            out[name] = [p if isinstance(p, bytes) else decode_base64(p, f"{name}[{i}]") for i, p in enumerate(parts)]
            continue
        if len(parts) > 1:
            raise BadRequest(f"{name} must be one {'file' if field.kind in PHOTO_KINDS else 'field'}, got {len(parts)}")
        part = parts[0]
        if field.kind == "text":
            out[name] = part if isinstance(part, str) else part.decode("utf-8", errors="replace")
        elif field.kind in ("photo", "photo_or_json") and isinstance(part, bytes):
            out[name] = part
        elif field.kind == "photo" or (field.kind == "photo_or_json" and part.lstrip()[:1] not in ("{", "[")):
            out[name] = decode_base64(part, name)
        else:
            texts[name] = part if isinstance(part, bytes) else part.encode()
    items, keys = (sum(raw.count(c) for raw in texts.values()) for c in (b",", b":"))
    if items + len(texts) > spec.max_values or (spec.max_keys is not None and keys > spec.max_keys):
        limits = f"{spec.max_values} and {spec.max_keys}" if spec.max_keys is not None else f"{spec.max_values} values"
        message = f"request fields hold about {items + len(texts)} values and {keys} object keys; the limits are {limits}"
        raise PayloadTooLarge(message, code="too_many_values")
    for name, raw in texts.items():
        if not raw.strip():
            raise BadRequest(f"{name} is empty; expected JSON text")
        value = parse_json(raw, spec.max_values, name, spec.max_keys, float32_floats=spec.float32_floats)
        out[name] = _from_json(spec.field(name), value)
    return out
