"""Lazy, thread-safe singletons for things that are expensive to build (model bundles).

`Lazy.get()` builds the value on first use, once even when many threads arrive together.
A failed build is remembered: until `retry_s` has passed, callers get a 503 at once
(with `Retry-After`); after that the next caller tries again, so a fixed bucket heals
a running instance without a restart.

What a client reads about a failure: a BundleError's public message (it names the bundle,
never a path or a bucket); for any other exception only "unavailable", while the log gets
the traceback, so a bug does not pass for an outage and internals never reach a client.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from shared.errors import BundleError, ServiceUnavailable
from shared.logs import event
from shared.runtime.options import MODEL_RETRY_S

T = TypeVar("T")
log = logging.getLogger(__name__)


class Lazy(Generic[T]):
    """A value built on first `get()`; `ready` says whether it has been built."""

    def __init__(self, what: str, build: Callable[[], T], retry_s: float = MODEL_RETRY_S):
        self.what = what
        self._build = build
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._value: T | None = None
        self._error: str | None = None
        self._failed_at = 0.0
        self._load_ms: float | None = None

    @property
    def ready(self) -> bool:
        return self._value is not None

    def get(self) -> T:
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is not None:
                return self._value
            wait = self._failed_at + self._retry_s - time.monotonic()
            if self._error is not None and wait > 0:
                raise self._unavailable(wait)
            started = time.monotonic()
            try:
                value = self._build()
            except BundleError as exc:
                self._failed(exc.public_message())
                event(log, logging.ERROR, f"{self.what}: bundle problem", error=str(exc), bundle=exc.bundle)
                raise self._unavailable(self._retry_s) from exc
            except Exception as exc:  # a bug or an unforeseen fault: traceback to the log only
                self._failed(f"{self.what} failed to load (internal error; see the function's logs)")
                log.error("%s: failed to load", self.what, exc_info=exc)
                raise self._unavailable(self._retry_s) from exc
            self._value = value
            self._error = None
            self._load_ms = (time.monotonic() - started) * 1000
            return value

    def _failed(self, message: str) -> None:
        self._error = message
        self._failed_at = time.monotonic()

    def _unavailable(self, wait: float) -> ServiceUnavailable:
        return ServiceUnavailable(f"{self.what} unavailable: {self._error}", code="model_unavailable", retry_after=max(1.0, wait))

    def status(self) -> dict:
        """State for health answers: not_loaded | ready | failed, and the last error."""
        state = "ready" if self._value is not None else ("failed" if self._error else "not_loaded")
        out: dict = {"state": state}
        if self._error:
            out["last_error"] = self._error
        if self._load_ms is not None:
            out["load_ms"] = round(self._load_ms, 1)
        return out

    def reset(self) -> None:
        """Forget the value and any failure (tests, and settings changes)."""
        with self._lock:
            self._value = None
            self._error = None
            self._failed_at = 0.0
            self._load_ms = None


class Parts:
    """Pipeline parts built once per instance and shared by every pipeline that uses them
    (the hand landmark model serves both the hand tracker and Holistic): `get(key, build)`
    builds on the first call for `key`, one build at a time, and returns that same object
    afterwards; a build that raises is not kept, so the next call (its Lazy's retry) tries again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: dict[Hashable, Any] = {}

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._made:
                self._made[key] = build()
            return self._made[key]
