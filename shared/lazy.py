"""Lazy, thread-safe singletons for things that are expensive to build (model bundles).

`Lazy.get()` builds the value on first use, once even when many threads arrive together.
A failed build is remembered: until `retry_s` has passed, callers get a 503 at once
(with `Retry-After`); after that the next caller tries again, so a fixed bucket heals
a running instance without a restart.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Generic, TypeVar

from .errors import ServiceUnavailable

T = TypeVar("T")


class Lazy(Generic[T]):
    def __init__(self, what: str, build: Callable[[], T], retry_s: Callable[[], float] | float = 5.0):
        self.what = what
        self._build = build
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._value: T | None = None
        self._error: str | None = None
        self._failed_at = 0.0
        self._loaded_at: float | None = None
        self._load_ms: float | None = None

    @property
    def ready(self) -> bool:
        return self._value is not None

    def _retry_after(self) -> float:
        return self._retry_s() if callable(self._retry_s) else self._retry_s

    def get(self) -> T:
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is not None:
                return self._value
            wait = self._failed_at + self._retry_after() - time.monotonic()
            if self._error is not None and wait > 0:
                raise ServiceUnavailable(f"{self.what} unavailable: {self._error}", code="model_unavailable", retry_after=wait)
            started = time.monotonic()
            try:
                value = self._build()
            except Exception as exc:  # any failure to build is reported as 503, not a crash
                self._error = str(exc) or type(exc).__name__
                self._failed_at = time.monotonic()
                raise ServiceUnavailable(
                    f"{self.what} unavailable: {self._error}", code="model_unavailable", retry_after=max(1.0, self._retry_after())
                ) from exc
            self._value = value
            self._error = None
            self._loaded_at = time.time()
            self._load_ms = (time.monotonic() - started) * 1000
            return value

    def status(self) -> dict:
        """State for health answers: not_loaded | ready | failed, and the last error."""
        state = "ready" if self._value is not None else ("failed" if self._error else "not_loaded")
        out = {"state": state}
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
            self._loaded_at = None
            self._load_ms = None
