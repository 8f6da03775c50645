"""This process's memory: what it holds (RSS), giving freed memory back, and a budget that
requests reserve from before they decode.

Why a budget: a decoder's peak follows the image's declared geometry, not its byte size,
and freed memory stays resident in glibc's arenas. Checking RSS when a request arrives
lets four 12 MP PNGs in at once; reserving each one's estimated peak does not.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator

from shared.errors import ServiceUnavailable
from shared.logs import event

log = logging.getLogger(__name__)
MB = 2**20
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # glibc's mallopt() parameter numbers (malloc.h)
TRIM_PER_MMAP_THRESHOLD = 4  # free heap kept at an arena's top before it goes back: 4 x the mmap threshold
TRIM_AFTER_BYTES = 16 * MB  # a reservation this large returns freed memory when released
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """Resident set size of this process, in MiB: /proc/self/statm on Linux (what psutil
    reads there too, without importing psutil before the first answer: ~5 ms of cold
    start, more on a contended CPU), psutil elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES / MB
    except OSError:
        import psutil

        return float(psutil.Process().memory_info().rss) / MB


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl): nothing to tune
        return None


def tune_malloc(arenas: int, mmap_threshold: int) -> bool:
    """Make freed memory go back to the system by itself (glibc; False elsewhere).

    arenas: cap on malloc arenas (MALLOC_ARENA_MAX, for arenas made from now on; 0 keeps
        glibc's 8 per core): each request thread otherwise keeps its own arena's peak.
    mmap_threshold: bytes from which an allocation gets its own mapping, returned to the
        system on free (0 keeps glibc's dynamic threshold, which rises to 32 MB after the
        first big free and then keeps decoded images' blocks on the heap). Measured here,
        four concurrent 12 MP PNG decodes left RSS +50 MB with glibc's defaults, +1 MB
        with 2 arenas and a 1 MiB threshold.
        A fixed mmap threshold also fixes glibc's trim threshold at 128 KiB: every block
        between that and the mmap threshold freed at the top of the heap went back to the
        system and was faulted in again by the next one. Up to 4 x the mmap threshold of
        free heap now stays at an arena's top (4 MiB each): on a 29-frame clip through
        Holistic, 3,100 page faults per frame fell to 27 and CPU per frame by ~13%.
    """
    libc = _libc()
    if libc is None:
        return False
    ok = not arenas or libc.mallopt(M_ARENA_MAX, arenas) == 1
    if not mmap_threshold:
        return bool(ok)
    ok = ok and libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
    return bool(ok and libc.mallopt(M_TRIM_THRESHOLD, TRIM_PER_MMAP_THRESHOLD * mmap_threshold) == 1)


def give_back() -> None:
    """Return freed heap memory to the system (glibc's malloc_trim; a few ms)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


class MemoryBudget:
    """Reservations of estimated peak memory against this instance's critical level.

    `reserve(nbytes)` lets a request go on when RSS now + what others reserved + nbytes
    stays under `critical_mb`; otherwise it waits up to `wait_s` for reservations to be
    released, then answers 503 with Retry-After (MEMORY_WAIT_S; no default here: the
    setting's is the one). RSS already holds part of what running requests reserved, so
    the check errs on the safe side.
    """

    def __init__(self, critical_mb: float, wait_s: float, read_rss: Callable[[], float] = rss_mb):
        self.critical_mb = critical_mb
        self.wait_s = wait_s
        self._read_rss = read_rss
        self._reserved = 0
        self._released = threading.Condition()
        self.refused = 0

    @property
    def reserved_mb(self) -> float:
        return self._reserved / MB

    @contextlib.contextmanager
    def reserve(self, nbytes: int, what: str) -> Iterator[None]:
        """Hold `nbytes` of the budget for the block; 503 when it cannot be had in time."""
        deadline = time.monotonic() + self.wait_s
        trimmed = False
        with self._released:
            while self._read_rss() + (self._reserved + nbytes) / MB > self.critical_mb:
                if self._reserved == 0:  # nobody will release anything: give freed memory back, once
                    if trimmed:
                        self._refuse(nbytes, what)
                    give_back()
                    trimmed = True
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    self._refuse(nbytes, what)
                self._released.wait(min(left, 0.1))
            self._reserved += nbytes
        try:
            yield
        finally:
            with self._released:
                self._reserved -= nbytes
                self._released.notify_all()
            if nbytes >= TRIM_AFTER_BYTES:
                give_back()

    def _refuse(self, nbytes: int, what: str) -> None:
        self.refused += 1
        event(
            log,
            logging.WARNING,
            "memory budget spent: refusing work",
            need_mb=round(nbytes / MB, 1),
            reserved_mb=round(self.reserved_mb, 1),
            critical_mb=round(self.critical_mb, 1),
        )
        raise ServiceUnavailable(
            f"{what} needs about {nbytes / MB:.0f} MiB to decode and this instance cannot spare it now; retry shortly",
            code="memory_budget",
            retry_after=2,
        )
