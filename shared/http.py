"""Request plumbing shared by both handlers, written against the request's duck type
(`method`, `headers`, `mimetype`, `content_length`, `get_data`, `files`, `form`) so the
library never imports Flask.

`serve()` is the one place that turns a request into ``(json, status, headers)``:
health on GET, API key, memory guard, the work itself, and every error mapped to JSON.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import time
from typing import Any, Callable

from .errors import BadRequest, MethodNotAllowed, PayloadTooLarge, Unauthorized, UnsupportedMediaType, error_response
from .logs import event
from .memory import MemoryGuard

log = logging.getLogger(__name__)

JSON_TYPES = ("application/json",)
MULTIPART = "multipart/form-data"


def serve(request, *, work: Callable[[Any], dict], health: Callable[[], dict], guard: MemoryGuard, api_key: str = "", name: str) -> tuple[dict, int, dict]:
    """Answer one request: GET -> health(), POST -> work(request); errors as JSON 4xx/5xx."""
    started = time.perf_counter()
    try:
        if request.method == "GET":
            return health(), 200, {}
        if request.method != "POST":
            raise MethodNotAllowed(f"{request.method} is not supported; use POST for {name}, GET for health")
        check_api_key(request.headers.get("X-API-Key", ""), api_key)
        guard.admit()
        result = work(request)
        event(log, logging.INFO, f"{name} ok", function=name, status=200, total_ms=round((time.perf_counter() - started) * 1000, 1), stages_ms=result.get("time_ms"))
        return result, 200, {}
    except Exception as exc:  # the one catch-all: mapped to JSON, unknown errors logged as 500
        exc = _from_werkzeug(exc)
        body, status, headers = error_response(exc)
        event(log, logging.WARNING if status < 500 else logging.ERROR, f"{name} {status}", function=name, status=status, error=body["error"]["code"], total_ms=round((time.perf_counter() - started) * 1000, 1))
        if status == 413:
            # Streamed, so functions-framework's after-request hook does not drain the rest
            # of the upload; Connection: close makes gunicorn drop it instead of reading it.
            headers = {**headers, "Content-Type": "application/json", "Connection": "close"}
            return iter([json.dumps(body)]), status, headers
        return body, status, headers


def _from_werkzeug(exc: Exception) -> Exception:
    """Werkzeug raises HTTPException subclasses while parsing; keep their status, drop the HTML."""
    code = getattr(exc, "code", None)
    if code == 413:
        return PayloadTooLarge("request body is over the size limit")
    if code == 400 and type(exc).__module__.startswith("werkzeug"):
        return BadRequest("malformed request body")
    return exc


def check_api_key(sent: str, expected: str) -> None:
    """When an API key is configured, require it (constant-time comparison)."""
    if expected and not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Unauthorized("missing or wrong X-API-Key header")


def limit_body(request, max_bytes: int) -> None:
    """Refuse an over-long body from its Content-Length, and cap streamed (chunked) bodies."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"request body is {length} bytes; the limit is {max_bytes}")
    # werkzeug stops reading a streamed (chunked) body at this many bytes without an
    # error: one byte over the limit tells a cut-off body from one exactly at the limit.
    request.max_content_length = max_bytes + 1


def read_json(request, max_bytes: int, max_items: int) -> dict:
    """The JSON object in the body; 415 for another content type, 400 for bad JSON, 413
    for a body over `max_bytes` or holding more than `max_items` values (counted before
    parsing: a 9 MB list of a million zeros is ~150 MB once parsed)."""
    if request.mimetype not in JSON_TYPES:
        raise UnsupportedMediaType(f"expected Content-Type application/json, got {request.mimetype or 'none'!r}")
    limit_body(request, max_bytes)
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"request body is over the limit of {max_bytes} bytes")
    if not raw:
        raise BadRequest("request body is empty; expected a JSON object")
    items = raw.count(b",") + 1
    if items > max_items:
        raise PayloadTooLarge(f"request JSON holds about {items} values; the limit is {max_items}", code="too_many_values")
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise BadRequest("request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BadRequest("request JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise BadRequest(f"expected a JSON object, got {type(data).__name__}")
    return data


def check_fields(data: dict, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
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


def read_files(request, names: tuple[str, ...], max_bytes: int) -> dict[str, bytes]:
    """The named binary inputs, from multipart files or from base64 strings in a JSON body."""
    if request.mimetype == MULTIPART:
        limit_body(request, max_bytes)
        files, form = request.files, request.form
        check_fields({**{k: 1 for k in files}, **{k: 1 for k in form}}, names)
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
    raise UnsupportedMediaType(
        f"expected multipart/form-data or application/json, got {request.mimetype or 'no Content-Type'!r}"
    )
