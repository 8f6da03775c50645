"""The optional store shared by the instances (Redis), and how each caller leans on it.

One connection pool per process, built with the store (importing redis costs ~150 ms,
paid when the function starts, not by a request); it connects on first use. Every call
has short socket timeouts and no retries; after a failure the store is left alone for
`retry_s` (`SharedStore.available()` is False), so a Redis that is down or slow costs
one timeout per interval, not one per request. Callers fall back to what the instance
knows by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.logs import event

if TYPE_CHECKING:
    import redis

    from shared.settings import Settings

log = logging.getLogger(__name__)
KEY_PREFIX = "tflite-fn"  # every key this project writes starts with it


@dataclass(frozen=True)
class StoreOptions:
    """Attributes: url (redis:// or rediss://; "" = no shared store); timeout_s (connect
    and read timeout of each call, seconds); retry_s (seconds a failed store is left
    alone before it is tried again)."""

    url: str = ""
    timeout_s: float = 0.25
    retry_s: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> StoreOptions:
        return cls(settings.redis_url, settings.redis_timeout_s, settings.redis_retry_s)


class SharedStore:
    """A Redis client on a lazily built pool, with a breaker: `client()` for a call,
    `failed(exc)` after one went wrong, `available()` before trying."""

    def __init__(self, options: StoreOptions):
        self.options = options
        self._lock = threading.Lock()
        self._down_until = 0.0
        self.errors = 0
        self.last_error = ""
        self._pool = self._connection_pool()

    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _connection_pool(self) -> Any:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.ConnectionPool.from_url(
            self.options.url,
            socket_timeout=self.options.timeout_s,
            socket_connect_timeout=self.options.timeout_s,
            # No retry: a failed call falls back at once and the breaker opens.
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
        )

    def pool(self) -> Any:
        """The process's connection pool (redis-py's pools are thread-safe and fork-aware)."""
        return self._pool

    def client(self) -> redis.Redis:
        import redis

        return redis.Redis(connection_pool=self.pool())

    def failed(self, exc: BaseException, user: str) -> None:
        """Note a failed call by `user` (e.g. "embedding cache") and leave the store alone
        for retry_s. Logged once per interval, without the URL (it may hold a password)."""
        with self._lock:
            self.errors += 1
            self.last_error = type(exc).__name__
            first = self.available()
            self._down_until = time.monotonic() + self.options.retry_s
        if first:
            event(
                log,
                logging.WARNING,
                f"shared store unavailable: {user} falls back to this instance",
                error=type(exc).__name__,
                retry_s=self.options.retry_s,
            )

    def status(self) -> dict[str, Any]:
        """For the detailed health report: never the URL."""
        return {
            "backend": "redis",
            "state": "ok" if self.available() else "unavailable",
            "errors": self.errors,
            "last_error": self.last_error,
        }


_stores: dict[StoreOptions, SharedStore] = {}
_stores_lock = threading.Lock()


def shared_store(options: StoreOptions) -> SharedStore | None:
    """The process's store for `options` (one pool shared by cache and limiter); None
    when no URL is configured."""
    if not options.url:
        return None
    with _stores_lock:
        return _stores.setdefault(options, SharedStore(options))


def key(*parts: str) -> str:
    """A Redis key under this project's prefix: tflite-fn:part:part..."""
    return ":".join((KEY_PREFIX, *parts))
