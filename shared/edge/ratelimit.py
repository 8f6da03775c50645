"""Per-client rate limits (RATE_LIMITS, e.g. "20/hour;100/day"), on the `limits` library.

Counted with a moving window in Redis when REDIS_URL is set, so the limit holds across
every instance; in this instance's memory otherwise (then each instance counts alone:
N instances admit up to N times the limit). Over a limit: 429 `rate_limited` with
Retry-After and RateLimit-Limit / -Remaining / -Reset / -Policy.

Who a client is: with an API key configured, the key (hashed: it is never stored); else
the client's address as the platform's front end reports it (an IPv6 address by its /64). A front end such as Cloud
Run's, Render's or Knative's ingress appends the address it saw to X-Forwarded-For;
whatever stands left of that was written by the client and is not trusted. So the
address is the entry RATE_LIMIT_PROXY_HOPS places from the right (1 on those platforms; 2
with a load balancer in front of Cloud Run; 0 where no front end adds one, e.g. a container
serving the internet directly: then the connection's own address). Unset, it is 1 only
where the platform says it runs the function (K_SERVICE: Cloud Run, Knative; RENDER), else
0: on a directly exposed server the whole header is the client's own writing, and with 1 a
client escaped its limit by writing a new address each time (measured: 20 of 20 requests
admitted over a limit of 3 a minute).

Redis down or slow: RATE_LIMIT_FAIL=open admits, counting in this instance's memory
until Redis answers again; closed refuses with 503 `rate_limiter_unavailable`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import threading
import time
from typing import Any

from shared.errors import RateLimited, ServiceUnavailable
from shared.settings import Settings
from shared.state.store import SharedStore, StoreOptions, key, shared_store


class RateLimiter:
    """Limits for one function (`scope`): `admit(request)` counts one request or raises."""

    def __init__(self, scope: str, spec: str, store: SharedStore | None, *, fail: str, proxy_hops: int, keyed: bool = False):
        """`fail` and `proxy_hops` as RATE_LIMIT_FAIL and RATE_LIMIT_PROXY_HOPS say (their
        defaults live in settings alone)."""
        from limits import parse_many
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self.scope = scope
        self.items = parse_many(spec)
        self.store = store
        self.fail = fail
        self.proxy_hops = proxy_hops
        self.keyed = keyed  # an API key is configured (and checked before this runs)
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared: Any = None
        self._lock = threading.Lock()
        self.refused = 0

    @classmethod
    def from_settings(cls, scope: str, settings: Settings) -> RateLimiter | None:
        """The function's limiter, or None when RATE_LIMITS is empty."""
        if not settings.rate_limits:
            return None
        store = shared_store(StoreOptions.from_settings(settings))
        return cls(
            scope,
            settings.rate_limits,
            store,
            fail=settings.rate_limit_fail,
            proxy_hops=settings.rate_limit_proxy_hops,
            keyed=bool(settings.api_key),
        )

    # ---- who ------------------------------------------------------------------------

    def client(self, api_key: str, forwarded_for: str, remote_addr: str | None) -> str:
        """The identity a limit counts against: "key:<hash>" or "ip:<address>"."""
        if self.keyed and api_key:
            return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        if self.proxy_hops and len(hops) >= self.proxy_hops:
            return "ip:" + _network(hops[-self.proxy_hops])
        return "ip:" + _network(remote_addr or "unknown")

    # ---- counting -------------------------------------------------------------------

    def admit(self, request: Any) -> None:
        """Count this request against every limit; 429 over one (503 when the shared
        store is down and RATE_LIMIT_FAIL=closed)."""
        headers = request.headers
        who = self.client(headers.get("X-API-Key", ""), headers.get("X-Forwarded-For", ""), request.remote_addr)
        limiter = self._limiter()
        for item in self.items:
            try:
                allowed = limiter.hit(item, self.scope, who)
            except Exception as exc:  # the shared store failed mid-request
                limiter = self._fall_back(exc)
                allowed = limiter.hit(item, self.scope, who)
            if not allowed:
                self._refuse(limiter, item, who)

    def _limiter(self) -> Any:
        if self.store is None:
            return self._local
        if not self.store.available():
            return self._fall_back(None)
        with self._lock:
            if self._shared is None:
                from limits.storage import RedisStorage
                from limits.strategies import MovingWindowRateLimiter

                storage = RedisStorage(
                    self.store.options.url, connection_pool=self.store.pool(), key_prefix=key("limits"), wrap_exceptions=True
                )
                self._shared = MovingWindowRateLimiter(storage)
            return self._shared

    def _fall_back(self, exc: Exception | None) -> Any:
        """This instance's own limiter (open), or a 503 (closed)."""
        assert self.store is not None
        if exc is not None:
            self.store.failed(exc, "rate limiter")
        if self.fail == "closed":
            raise ServiceUnavailable(
                "the rate limiter's store cannot be reached; retry shortly",
                code="rate_limiter_unavailable",
                retry_after=self.store.options.retry_s or 1,
            )
        return self._local

    def _refuse(self, limiter: Any, item: Any, who: str) -> None:
        try:
            reset_at = limiter.get_window_stats(item, self.scope, who).reset_time
        except Exception:  # the store failed between the hit and this read: a window's worst case
            reset_at = time.time() + item.get_expiry()
        seconds = max(1, math.ceil(reset_at - time.time()))
        with self._lock:
            self.refused += 1
        raise RateLimited(
            f"rate limit exceeded: {item.amount} per {_period(item)} for this client; retry in {seconds} s",
            retry_after=seconds,
            headers={
                "RateLimit-Limit": str(item.amount),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(seconds),
                "RateLimit-Policy": f"{item.amount};w={item.get_expiry()}",
            },
        )

    def status(self) -> dict[str, Any]:
        """For the detailed health report: the limits, where they are counted, refusals."""
        return {
            "limits": [f"{i.amount}/{_period(i)}" for i in self.items],
            "backend": "redis" if self.store is not None else "memory",
            "fail": self.fail,
            "refused": self.refused,
            **({"store": self.store.status()} if self.store is not None else {}),
        }


def _network(address: str) -> str:
    """An IPv6 client counts as its /64: one host or home is handed a whole /64 and could take
    a new address for every request (an IPv4-mapped address is its IPv4 address)."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _period(item: Any) -> str:
    """The window as RATE_LIMITS wrote it: "hour", "10 minutes"."""
    return item.GRANULARITY.name if item.multiples == 1 else f"{item.multiples} {item.GRANULARITY.name}s"
