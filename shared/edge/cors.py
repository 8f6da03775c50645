"""CORS: which browser origins may call a function, and the headers that tell the browser.

Off by default: with no `CORS_ORIGINS` configured no answer carries a CORS header, and a
browser page on another origin cannot read any answer. With origins configured:

- an answer to an allowed origin (success, health or error) carries
  `Access-Control-Allow-Origin` (the origin itself, or `*` when `*` is configured) and
  exposes `Retry-After` (and the rate limit's `RateLimit-*`), so a page can wait as long
  as a 429 or a 503 asks;
- every answer carries `Vary: Origin` (it depends on the Origin header), so no cache hands
  one origin's answer to another;
- a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an allowed
  origin is a 204 naming the methods, the request headers (`X-API-Key` included) and how
  long the browser may remember it; from any other origin it is a 403 JSON error
  (`origin_not_allowed`), so the refusal is visible in the network log and the function's
  log, not only as the browser's generic CORS failure.

`OPTIONS` never needs the API key (a browser sends no custom header with a preflight), and
`Access-Control-Allow-Credentials` is never sent: the key travels in a header, not a
cookie, so `*` is a valid setting and no cookie ever reaches a function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.errors import Forbidden

ALLOW_METHODS = "GET, HEAD, POST, OPTIONS"
ALLOW_HEADERS = "Content-Type, X-API-Key"
# Not CORS-safelisted: without this a page cannot read when to retry a 429 or 503, nor its
# rate limit's figures (the RateLimit-* headers of a 429).
EXPOSE_HEADERS = "Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy"
# Seconds a browser may reuse a preflight. Chromium caps it at 7200 and Firefox at 86400;
# ten minutes keeps a changed CORS_ORIGINS from being ignored by browsers for long.
MAX_AGE_S = 600
ANY = "*"


@dataclass(frozen=True)
class CorsPolicy:
    """Attributes:
    origins: the allowed origins, lower case, as a browser sends them
        (`https://app.example.com`, `http://127.0.0.1:8082`), or `("*",)` for any;
        empty = CORS off.
    """

    origins: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.origins)

    def allows(self, origin: str) -> bool:
        """True when a page on `origin` may read this function's answers."""
        return bool(origin) and (self.origins == (ANY,) or origin.lower() in self.origins)

    def headers(self, origin: str) -> dict[str, str]:
        """Headers for an answer (success, health or error) to a request from `origin`
        ("" when the request had no Origin header)."""
        if not self.enabled:
            return {}
        if not self.allows(origin):
            return {"Vary": "Origin"}
        allowed = ANY if self.origins == (ANY,) else origin
        return {"Access-Control-Allow-Origin": allowed, "Access-Control-Expose-Headers": EXPOSE_HEADERS, "Vary": "Origin"}

    def preflight(self, request_headers: Mapping[str, str], function: str) -> dict[str, str]:
        """The headers of a 204 answer to an OPTIONS request; Forbidden (403) for a
        preflight from an origin that is not allowed. An OPTIONS without Origin (not a
        browser's preflight: curl, a monitoring probe) is told the methods in `Allow`."""
        origin = request_headers.get("Origin", "")
        if not origin:
            return {"Allow": ALLOW_METHODS, **self.headers(origin)}
        if not self.allows(origin):
            raise Forbidden(
                f"origin {origin[:200]!r} may not call {function} from a browser; "
                "the function's CORS_ORIGINS setting lists the origins that may",
                code="origin_not_allowed",
            )
        return {
            **self.headers(origin),
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": str(MAX_AGE_S),
        }
