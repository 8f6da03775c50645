"""Admission: who may send work (API key) and whether the instance can take it (memory).

The memory guard: an instance that protects itself instead of being OOM-killed mid-request.
Each request reads the process RSS (one cheap psutil call). Over the warning level the
guard logs, drops registered caches and collects garbage; over the critical level it
refuses new work with 503 + Retry-After until RSS is back under.
"""

from __future__ import annotations

import gc
import hmac
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from shared.errors import ServiceUnavailable, Unauthorized
from shared.logs import event
from shared.state.memory import give_back, rss_mb

log = logging.getLogger(__name__)


def has_api_key(sent: str, expected: str) -> bool:
    """True when no key is configured or `sent` is it (constant-time comparison)."""
    return not expected or hmac.compare_digest(sent.encode(), expected.encode())


def check_api_key(sent: str, expected: str) -> None:
    """401 unless `sent` is the configured API key (when one is configured)."""
    if not has_api_key(sent, expected):
        raise Unauthorized("missing or wrong X-API-Key header")


def gallery_scope(sent: str, api_key: str, gallery_keys: tuple[tuple[str, frozenset[str]], ...]) -> frozenset[str] | None:
    """The galleries a request's key may use (GALLERY_KEYS): a gallery key's own galleries;
    None (every one) for the instance's API_KEY or when no gallery key is set; else none.
    Every key is compared, in constant time."""
    scope = None
    for key, galleries in gallery_keys:
        if hmac.compare_digest(sent.encode(), key.encode()):
            scope = galleries
    if scope is not None:
        return scope
    return None if not gallery_keys or (api_key and has_api_key(sent, api_key)) else frozenset()


class MemoryGuard:
    """Admits work while RSS is under the critical level; relieves pressure over the warning
    level (drops caches, collects garbage, gives freed memory back to the system); counts
    requests in flight; and, under gunicorn, replaces a worker that stays over the critical
    level while idle (`watch`)."""

    def __init__(self, limit_mb: float, warn_fraction: float, critical_fraction: float, read_rss: Callable[[], float] = rss_mb):
        self.limit_mb = limit_mb
        self.warn_mb = limit_mb * warn_fraction
        self.critical_mb = limit_mb * critical_fraction
        self._read_rss = read_rss
        self._droppers: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.refused = 0
        self.in_flight = 0
        self.idle_low_mb: float | None = None  # lowest RSS seen with nothing in flight
        self.watching = False  # the idle watchdog (watch) runs in this process
        # gc.collect() on a big heap costs up to ~100s of ms: not on every request.
        self.relieve_interval_s = 2.0
        self._relieved_at = -1e9

    @classmethod
    def from_settings(cls, settings: Any) -> MemoryGuard:
        """The guard for this instance's tier (MEMORY_LIMIT_MB and its fractions)."""
        return cls(settings.memory_limit_mb, settings.memory_warn_fraction, settings.memory_critical_fraction)

    def on_pressure(self, drop: Callable[[], None]) -> None:
        """Register a callable that frees memory (e.g. a cache's clear)."""
        self._droppers.append(drop)

    def state(self, rss: float) -> str:
        return "critical" if rss >= self.critical_mb else "warning" if rss >= self.warn_mb else "ok"

    def _relieve(self) -> float:
        for drop in self._droppers:
            drop()
        gc.collect()
        give_back()
        return self._read_rss()

    def relieve_if_due(self, rss: float) -> float:
        """Over the warning level, relieve pressure (one thread, at most once per interval)."""
        if rss < self.warn_mb:
            return rss
        with self._lock:
            now = time.monotonic()
            if now - self._relieved_at < self.relieve_interval_s:
                return rss
            self._relieved_at = now
            after = self._relieve()
        _log(logging.WARNING, "memory high: caches dropped, memory given back", rss_mb_before=rss, rss_mb=after, warn_mb=self.warn_mb)
        return after

    def admit(self) -> None:
        """Let a request in (counted until `done()`), or 503 when memory is critical."""
        rss = self.relieve_if_due(self._read_rss())
        if rss >= self.critical_mb:
            self.refused += 1
            _log(logging.ERROR, "memory critical: refusing work", rss_mb=rss, critical_mb=self.critical_mb, limit_mb=self.limit_mb)
            raise ServiceUnavailable(
                f"instance memory is critical ({rss:.0f} MiB of {self.limit_mb:.0f} MiB); retry shortly",
                code="memory_pressure",
                retry_after=5,
            )
        with self._lock:
            self.in_flight += 1

    def done(self) -> None:
        """An admitted request has been answered."""
        with self._lock:
            self.in_flight -= 1
            idle = self.in_flight == 0
        if not idle:
            return
        rss = self._read_rss()
        if self.idle_low_mb is not None and rss > self.idle_low_mb + max(16.0, 0.1 * self.idle_low_mb):
            give_back()  # a big request's freed memory goes back now, not at the next pressure
            rss = self._read_rss()
        self.idle_low_mb = rss if self.idle_low_mb is None else min(self.idle_low_mb, rss)

    def watch(self, recycle: Callable[[], None], interval_s: float = 5.0) -> threading.Thread:
        """Check every `interval_s` while idle: over critical even after relief, and the idle
        baseline was under it (so a fresh worker would be too), call `recycle` once."""

        def loop() -> None:
            while True:
                time.sleep(interval_s)
                if self.in_flight or self._read_rss() < self.critical_mb:
                    continue
                self._relieved_at = -1e9
                rss = self.relieve_if_due(self._read_rss())
                baseline = self.idle_low_mb
                if rss >= self.critical_mb and not self.in_flight and baseline is not None and baseline < self.critical_mb:
                    _log(
                        logging.ERROR,
                        "memory stays critical while idle: replacing this worker",
                        rss_mb=rss,
                        baseline_mb=baseline,
                        critical_mb=self.critical_mb,
                    )
                    recycle()
                    return

        thread = threading.Thread(target=loop, name="memory-watch", daemon=True)
        thread.start()
        self.watching = True
        return thread

    def status(self) -> dict[str, Any]:
        """Live figures for the health report (read now, not at the last admission)."""
        rss = self._read_rss()
        return {
            "rss_mb": round(rss, 1),
            "limit_mb": self.limit_mb,
            "warn_mb": round(self.warn_mb, 1),
            "critical_mb": round(self.critical_mb, 1),
            "state": self.state(rss),
            "in_flight": self.in_flight,
            "idle_low_mb": None if self.idle_low_mb is None else round(self.idle_low_mb, 1),
            "refused": self.refused,
            "recycle_watch": self.watching,
        }


def _log(level: int, message: str, **megabytes: float) -> None:
    """A memory event with its figures in MiB, rounded to 0.1."""
    event(log, level, message, **{name: round(value, 1) for name, value in megabytes.items()})
