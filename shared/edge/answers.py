"""Exceptions -> JSON answers, in one place.

`error_answer(exc)` maps the library's ServiceErrors by their status, werkzeug's own
HTTP exceptions (raised while it parses a body, or for the framework's /robots.txt and
/favicon.ico routes) by their code without their HTML, and anything else to a generic 500
whose traceback goes to the log only (shared.errors.error_response).
"""

from __future__ import annotations

import json
from typing import Any

from shared.errors import BadRequest, PayloadTooLarge, ServiceError, error_response

Answer = tuple[Any, int, dict[str, str]]


def from_framework(exc: Exception) -> Exception:
    """Werkzeug raises HTTPException subclasses while parsing; keep their status, drop the HTML."""
    code = getattr(exc, "code", None)
    if not type(exc).__module__.startswith("werkzeug") or not isinstance(code, int):
        return exc
    if code == 413:
        return PayloadTooLarge("request body is over the size limit")
    if code == 400:
        return BadRequest("malformed request body")
    name = str(getattr(exc, "name", "error"))
    return ServiceError(name, code=name.lower().replace(" ", "_"), status=code)


def error_answer(exc: Exception) -> tuple[dict[str, Any], int, dict[str, str]]:
    """(JSON body, status, headers) for any exception."""
    return error_response(from_framework(exc))


def strict_json(result: dict[str, Any]) -> dict[str, Any]:
    """`result` if it serialises as strict JSON (no NaN or Infinity); a model that output a
    non-finite number is a server fault: ValueError, answered as a generic 500 and logged."""
    json.dumps(result, allow_nan=False)
    return result


def body_unread(request: Any) -> bool:
    """True when the client sent a body that nothing has read (declared or chunked)."""
    sent = bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    return sent and not getattr(request, "_edge_body_read", False)


def closing(body: dict[str, Any], status: int, headers: dict[str, str]) -> Answer:
    """Answer without reading the request's unread body: streamed, so functions-framework's
    after-request hook does not drain the upload, and with Connection: close, so gunicorn
    drops the connection instead of reading the rest (an early refusal costs no memory)."""
    return iter([json.dumps(body)]), status, {**headers, "Content-Type": "application/json", "Connection": "close"}
