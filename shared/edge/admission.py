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

import psutil

from shared.errors import ServiceUnavailable, Unauthorized
from shared.logs import event

log = logging.getLogger(__name__)
MB = 2**20


def has_api_key(sent: str, expected: str) -> bool:
    """True when no key is configured or `sent` is it (constant-time comparison)."""
    return not expected or hmac.compare_digest(sent.encode(), expected.encode())


def check_api_key(sent: str, expected: str) -> None:
    """401 unless `sent` is the configured API key (when one is configured)."""
    if not has_api_key(sent, expected):
        raise Unauthorized("missing or wrong X-API-Key header")


def rss_mb() -> float:
    """Resident set size of this process, in MiB."""
    return psutil.Process().memory_info().rss / MB


class MemoryGuard:
    """Admits work while RSS is under the critical level; relieves pressure over the warning level."""

    def __init__(self, limit_mb: float, warn_fraction: float, critical_fraction: float, read_rss: Callable[[], float] = rss_mb):
        self.limit_mb = limit_mb
        self.warn_mb = limit_mb * warn_fraction
        self.critical_mb = limit_mb * critical_fraction
        self._read_rss = read_rss
        self._droppers: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.state = "ok"
        self.last_rss_mb = 0.0
        self.refused = 0
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

    def _relieve(self) -> float:
        for drop in self._droppers:
            drop()
        gc.collect()
        return self._read_rss()

    def admit(self) -> None:
        """Let a request in, or raise ServiceUnavailable (503) when memory is critical."""
        rss = self._read_rss()
        self.last_rss_mb = rss
        if rss < self.warn_mb:
            self.state = "ok"
            return
        with self._lock:  # one thread relieves pressure, at most once per interval
            before, now = rss, time.monotonic()
            relieved = now - self._relieved_at >= self.relieve_interval_s
            if relieved:
                self._relieved_at = now
                rss = self._relieve()
                self.last_rss_mb = rss
        if rss >= self.critical_mb:
            self.state = "critical"
            self.refused += 1
            event(
                log,
                logging.ERROR,
                "memory critical: refusing work",
                rss_mb=round(rss, 1),
                critical_mb=round(self.critical_mb, 1),
                limit_mb=self.limit_mb,
            )
            raise ServiceUnavailable(
                f"instance memory is critical ({rss:.0f} MiB of {self.limit_mb:.0f} MiB); retry shortly",
                code="memory_pressure",
                retry_after=5,
            )
        self.state = "warning" if rss >= self.warn_mb else "ok"
        if relieved:
            event(
                log,
                logging.WARNING,
                "memory high: caches dropped",
                rss_mb_before=round(before, 1),
                rss_mb=round(rss, 1),
                warn_mb=round(self.warn_mb, 1),
            )

    def status(self) -> dict[str, Any]:
        return {
            "rss_mb": round(self._read_rss(), 1),
            "limit_mb": self.limit_mb,
            "warn_mb": round(self.warn_mb, 1),
            "critical_mb": round(self.critical_mb, 1),
            "state": self.state,
            "refused": self.refused,
        }
