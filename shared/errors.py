"""The service's error hierarchy: each class names its HTTP status and a stable error code.

`error_response` is the one place that turns an exception into a JSON body; unknown
exceptions become a generic 500 without internals (the traceback goes to the log only).
"""

from __future__ import annotations

import logging
import math

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base class: an error the client is told about, as ``{"error": {"code", "message"}}``.

    Each subclass names its HTTP status and default code in its class line:
    ``class BadRequest(ServiceError, status=400, code="bad_request")``.
    """

    status = 500
    code = "internal"

    def __init_subclass__(cls, *, status: int, code: str, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.status, cls.code = status, code

    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.retry_after = retry_after


class BadRequest(ServiceError, status=400, code="bad_request"):
    """400: the request is malformed (bad JSON, bad base64, wrong shapes, bad values)."""


class Unauthorized(ServiceError, status=401, code="unauthorized"):
    """401: an API key is configured and the request did not carry the right one."""


class Forbidden(ServiceError, status=403, code="forbidden"):
    """403: the request is understood and refused, e.g. a CORS preflight from an origin not allowed."""


class NotFound(ServiceError, status=404, code="not_found"):
    """404: a named thing the request refers to does not exist, e.g. a gallery's subject."""


class MethodNotAllowed(ServiceError, status=405, code="method_not_allowed"):
    """405: only GET/HEAD (health), POST (work) and OPTIONS (CORS preflight) are served;
    the answer says so in `Allow`."""

    allow = "GET, HEAD, POST, OPTIONS"


class Conflict(ServiceError, status=409, code="conflict"):
    """409: the request clashes with what is stored, e.g. an idempotency key used before for
    another enrolment."""


class PayloadTooLarge(ServiceError, status=413, code="payload_too_large"):
    """413: the body, an image or a sequence is over a configured limit."""


class UnsupportedMediaType(ServiceError, status=415, code="unsupported_media_type"):
    """415: a content type or image format the function does not take."""


class Unprocessable(ServiceError, status=422, code="unprocessable"):
    """422: well-formed but unusable input, e.g. a photo with no face in it."""


class LowQuality(ServiceError, status=422, code="low_quality"):
    """422: a photo's face cannot be judged under the `reject` quality policy; `details`
    (each photo's reasons and a hint a person can act on) go into the error object."""

    def __init__(self, message: str, *, details: dict):
        super().__init__(message)
        self.details = details


class RateLimited(ServiceError, status=429, code="rate_limited"):
    """429: this client is over a configured rate limit; `headers` say which and until when
    (Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset)."""

    def __init__(self, message: str, *, retry_after: float, headers: dict[str, str]):
        super().__init__(message, retry_after=retry_after)
        self.headers = headers


class ServiceUnavailable(ServiceError, status=503, code="unavailable"):
    """503: the model cannot be loaded right now, or the instance is shedding load."""


class BundleError(Exception):
    """A model bundle cannot be read, or what was read is not a valid bundle.

    ``str(exc)`` is the operator's detail (it may name paths, URIs and buckets: logs only);
    `reason` is what a client may read, and `bundle` the bundle's short label (the last
    part of its folder or gs:// prefix), set by the loader.
    """

    def __init__(self, detail: str, *, reason: str | None = None, bundle: str | None = None):
        super().__init__(detail)
        self.reason = reason or detail
        self.bundle = bundle

    def public_message(self) -> str:
        where = f"model bundle {self.bundle!r}" if self.bundle else "a model bundle"
        return f"{where} cannot be loaded: {self.reason}"


def error_response(exc: BaseException) -> tuple[dict, int, dict]:
    """Map any exception to ``(json_body, status, headers)``; never exposes internals."""
    if isinstance(exc, ServiceError):
        headers = {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        if isinstance(exc, MethodNotAllowed):
            headers["Allow"] = exc.allow
        if isinstance(exc, RateLimited):
            headers.update(exc.headers)
        extra = exc.details if isinstance(exc, LowQuality) else {}
        return {"error": {"code": exc.code, "message": exc.message, **extra}}, exc.status, headers
    log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    body = {"error": {"code": "internal", "message": "internal error; see the function's logs"}}
    return body, 500, {}
