"""Request bodies -> plain Python values, written against the request's duck type
(`mimetype`, `content_length`, `max_content_length`, `get_data`, `files`, `form`) so the
library never imports Flask. Every problem is a ServiceError naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
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


def read_files(request: Any, names: tuple[str, ...], max_bytes: int) -> dict[str, bytes]:
    """The named binary inputs, from multipart files or from base64 strings in a JSON body."""
    if request.mimetype == MULTIPART:
        limit_body(request, max_bytes)
        # Base64 text fields may be as large as the body (Flask's own default is 500 KB).
        request.max_form_memory_size = max_bytes
        files, form = request.files, request.form
        check_fields({**dict.fromkeys(files, 1), **dict.fromkeys(form, 1)}, names)
        out = {}
        for name in names:
            out[name] = files[name].read() if name in files else decode_base64(form[name], name)
            if not out[name]:
                raise BadRequest(f"{name} is empty")
        return out
    if request.mimetype in JSON_TYPES:
        data = read_json(request, max_bytes, max_items=4 * len(names))  # data URIs hold one comma each
        check_fields(data, names)
        return {name: decode_base64(data[name], name) for name in names}
    raise UnsupportedMediaType(f"expected multipart/form-data or application/json, got {request.mimetype or 'no Content-Type'!r}")


def read_body(
    request: Any, max_bytes: int, max_items: int, files: dict[str, bool], optional: tuple[str, ...]
) -> tuple[dict[str, Any], bool]:
    """A JSON object or a multipart form holding any of `files` (name -> repeated) and the
    `optional` fields. File fields come back as bytes (a repeated one as a list of bytes):
    from multipart files (or base64 text parts), or from base64 strings (lists of them)
    in JSON. Returns (fields, is_form): a form's other fields stay strings."""
    allowed = (*optional, *files)
    if request.mimetype == MULTIPART:
        return _read_form(request, max_bytes, files, allowed), True
    if request.mimetype not in JSON_TYPES:
        raise UnsupportedMediaType(f"expected Content-Type application/json or multipart/form-data, got {request.mimetype or 'none'!r}")
    data = read_json(request, max_bytes, max_items)
    check_fields(data, (), allowed)
    for name, repeated in files.items():
        if name not in data:
            continue
        value = data[name]
        if not repeated:
            data[name] = decode_base64(value, name)
        elif not isinstance(value, list):
            raise BadRequest(f"{name} must be a list of base64 strings, got {type(value).__name__}")
        else:
            data[name] = [decode_base64(v, f"{name}[{i}]") for i, v in enumerate(value)]
    return data, False


def _read_form(request: Any, max_bytes: int, files: dict[str, bool], allowed: tuple[str, ...]) -> dict[str, Any]:
    limit_body(request, max_bytes)
    request.max_form_memory_size = max_bytes  # base64 text parts may be as large as the body
    parts, form = request.files, request.form
    check_fields({**dict.fromkeys(parts, 1), **dict.fromkeys(form, 1)}, (), allowed)
    out: dict[str, Any] = {}
    for name in sorted({*parts, *form}):
        if name in files:
            values = [f.read() for f in parts.getlist(name)] + [decode_base64(v, name) for v in form.getlist(name)]
            for i, value in enumerate(values):
                if not value:
                    raise BadRequest(f"{name} is empty" if len(values) == 1 else f"{name}[{i}] is empty")
            if not files[name] and len(values) > 1:
                raise BadRequest(f"{name} must be one file, got {len(values)}")
            out[name] = values if files[name] else values[0]
            continue
        if name in parts:
            raise BadRequest(f"{name} must be a text field, not a file")
        values = form.getlist(name)
        if len(values) != 1:
            raise BadRequest(f"{name} must be one text field, got {len(values)}")
        out[name] = values[0]
    return out


@dataclass(frozen=True)
class Inputs:
    """A body of photos and JSON values. Attributes: photos (field -> bytes); values
    (field -> the parsed JSON value: templates, lists, options)."""

    photos: dict[str, bytes]
    values: dict[str, Any]


def _looks_like_json(text: str | bytes) -> bool:
    start = text.lstrip()[:1]
    return start in ("{", "[", b"{", b"[")


def read_inputs(
    request: Any,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    photo_fields: tuple[str, ...],
    max_bytes: int,
    max_items: int,
    max_keys: int | None = None,
) -> Inputs:
    """Photos and JSON values from one body, by field name.

    JSON body: a photo field holding a string is a base64 photo (data URIs allowed); any
    other value is kept as parsed. Multipart: a photo field's file part is the photo; a
    text part holding JSON (starting with `{` or `[`) is a value, otherwise a base64 photo;
    every other field, file or text, is JSON text (`true`, `3`, `[...]`), parsed as
    strictly as a JSON body. `max_items` and `max_keys` bound the values and object keys of
    the whole body. Floats are left to the C parser (parse_json's `float32_floats=False`):
    the caller checks the ranges of the floats it uses."""
    if request.mimetype in JSON_TYPES:
        data = read_json(request, max_bytes, max_items, max_keys, float32_floats=False)
        check_fields(data, required, optional)
        photos = {k: decode_base64(v, k) for k, v in data.items() if k in photo_fields and isinstance(v, str)}
        return Inputs(photos, {k: v for k, v in data.items() if k not in photos})
    if request.mimetype != MULTIPART:
        raise UnsupportedMediaType(f"expected multipart/form-data or application/json, got {request.mimetype or 'no Content-Type'!r}")
    limit_body(request, max_bytes)
    request.max_form_memory_size = max_bytes  # base64 and JSON text fields may be as large as the body
    files, form = request.files, request.form
    check_fields({**dict.fromkeys(files, 1), **dict.fromkeys(form, 1)}, required, optional)
    photos, texts = {}, {}
    for name in files:
        data = files[name].read()
        if not data:
            raise BadRequest(f"{name} is empty")
        if name in photo_fields:
            photos[name] = data
        else:
            texts[name] = data
    for name in form:
        text = form[name]
        if name in photo_fields and not _looks_like_json(text):
            photos[name] = decode_base64(text, name)
        else:
            texts[name] = text.encode()
    items, keys = (sum(raw.count(c) for raw in texts.values()) for c in (b",", b":"))
    if items + len(texts) > max_items or (max_keys is not None and keys > max_keys):
        message = f"request fields hold about {items + len(texts)} values and {keys} object keys; the limits are {max_items} and {max_keys}"
        raise PayloadTooLarge(message, code="too_many_values")
    values = {}
    for name, raw in texts.items():
        if not raw.strip():
            raise BadRequest(f"{name} is empty; expected JSON text")
        values[name] = parse_json(raw, max_items, name, max_keys, float32_floats=False)
    return Inputs(photos, values)
