"""One function's serving edge: the only code that knows a request.

A handler walks it in order, each stop once::

    if edge.is_health_check(request):  # GET/HEAD (health) and OPTIONS (CORS preflight)
        return edge.health(request, models)
    edge.admit(request)                # method, API key, rate limits, memory
    body = edge.read(request, SPEC)    # JSON or multipart -> typed values (shared/edge/reader.py)
    return edge.answer(pipeline(body)) # log; the result's to_dict(), 200 and CORS headers

and registers `edge.error` with functions-framework's errorhandler, so every exception,
wherever it is raised, becomes a JSON answer in one place.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from shared import __version__
from shared.edge import answers, requests
from shared.edge.admission import MemoryGuard, check_api_key, gallery_scope
from shared.edge.cors import CorsPolicy
from shared.edge.health import brief_report, detailed_report, shows_details
from shared.edge.ratelimit import RateLimiter
from shared.edge.reader import read
from shared.errors import MethodNotAllowed, ServiceError
from shared.fields import RequestSpec
from shared.logs import event, setup_logging
from shared.runtime.lazy import Lazy
from shared.settings import Settings
from shared.state.memory import MemoryBudget, tune_malloc

log = logging.getLogger(__name__)
HEALTH_METHODS = ("GET", "HEAD")


class Result(Protocol):
    """What a pipeline answers: a typed result that knows its wire form."""

    def to_dict(self) -> dict[str, Any]: ...


class Edge:
    """The serving edge of one function (`name`), configured by `settings`."""

    def __init__(self, name: str, settings: Settings, guard: MemoryGuard | None = None):
        setup_logging()
        self.name = name
        self.settings = settings
        self.guard = guard or MemoryGuard.from_settings(settings)
        self.cors = CorsPolicy(settings.cors_origins)
        # What decoding may reserve: the critical level, shared by this instance's requests.
        self.budget = MemoryBudget(self.guard.critical_mb, wait_s=settings.memory_wait_s)
        self._local = threading.local()
        self.limiter = RateLimiter.from_settings(name, settings)  # None without RATE_LIMITS
        tuned = tune_malloc(settings.malloc_arenas, settings.malloc_mmap_threshold_kb * 1024)
        # functions-framework builds the app (imports main.py, so this runs) in gunicorn's
        # master, before it forks the worker and before gunicorn is even imported: the
        # watchdog can only start in the worker, on its first request (_watch_once).
        self._born_pid = os.getpid()
        self._watch_pid = 0
        self._watch_lock = threading.Lock()
        event(
            log,
            logging.INFO,
            f"{name} {__version__} starting",
            function=name,
            version=__version__,
            memory_limit_mb=settings.memory_limit_mb,
            malloc_tuned=tuned,
            api_key_required=bool(settings.api_key),
        )

    # ---- in order of a request's walk -------------------------------------------------

    def is_health_check(self, request: Any) -> bool:
        """Start the request's clock; True for what the edge answers itself, without the
        pipeline: GET and HEAD (health) and OPTIONS (CORS preflight), all in `health`.
        MAX_REQUEST_BYTES holds for every method: a declared body over it is refused here, unread."""
        self._local.started = time.perf_counter()
        self._watch_once()
        self._local.request = request
        self._local.admitted = False
        self._local.cors = self.cors.headers(request.headers.get("Origin", ""))
        requests.refuse_declared_excess(request, self.settings.max_request_bytes)
        return request.method in (*HEALTH_METHODS, "OPTIONS")

    def health(self, request: Any, models: Lazy[Any], *, load: bool = False) -> Any:
        """Brief report for anyone; detailed with the API key (health.shows_details). `load`: build the models
        first for the detailed report (only where that is cheap: local bundles). A body
        sent with a health check is never read: the answer closes the connection. OPTIONS:
        the CORS preflight (shared/edge/cors.py), never behind the API key."""
        if request.method == "OPTIONS":
            return "", 204, {**self.cors.preflight(request.headers, self.name), **self._take_cors()}
        if not shows_details(request.headers.get("X-API-Key", ""), self.settings):
            report = brief_report(self.name, models)
        else:
            if load:
                with contextlib.suppress(ServiceError):  # the report's `models` shows the failure
                    models.get()
            report = detailed_report(self.name, models, self.guard, self.settings)
            if self.limiter is not None:
                report["rate_limits"] = self.limiter.status()
        cors = self._take_cors()
        return answers.closing(report, 200, cors) if answers.body_unread(request) else (report, 200, cors)

    def admit(self, request: Any) -> None:
        """POST only, with the API key when one is set, within the client's rate limits,
        while memory allows."""
        if request.method != "POST":
            raise MethodNotAllowed(f"{request.method} is not supported; use POST for {self.name}, GET for health")
        sent = request.headers.get("X-API-Key", "")
        self._local.galleries = gallery_scope(sent, self.settings.api_key, self.settings.gallery_keys)
        if not self._local.galleries:  # a gallery key admits its tenant as API_KEY would
            check_api_key(sent, self.settings.api_key)
        if self.limiter is not None:
            self.limiter.admit(request)
        self.guard.admit()
        self._local.admitted = True

    def galleries(self) -> frozenset[str] | None:
        """The galleries the admitted request's API key may use (admission.gallery_scope)."""
        return getattr(self._local, "galleries", frozenset())

    def read(self, request: Any, spec: RequestSpec) -> dict[str, Any]:
        """The body (JSON or multipart) as the typed values `spec` declares (shared/edge/spec.py)."""
        return read(request, spec, self.settings.max_request_bytes)

    def answer(self, result: Result) -> answers.Answer:
        """Log the success with its stage timings and hand the result (its `to_dict()`:
        serialised here, at the edge) to the framework."""
        self._leave()
        body = answers.strict_json(result.to_dict())
        event(
            log,
            logging.INFO,
            f"{self.name} ok",
            function=self.name,
            status=200,
            total_ms=self._elapsed_ms(),
            stages_ms=body.get("time_ms"),
        )
        return body, 200, self._take_cors()

    def error(self, exc: Exception) -> answers.Answer:
        """Any exception -> JSON answer (functions-framework's errorhandler calls this)."""
        self._leave()
        body, status, headers = answers.error_answer(exc)
        headers = {**headers, **self._take_cors()}
        event(
            log,
            logging.WARNING if status < 500 else logging.ERROR,
            f"{self.name} {status}",
            function=self.name,
            status=status,
            error=body["error"]["code"],
            total_ms=self._elapsed_ms(),
        )
        request = getattr(self._local, "request", None)
        if status == 413 or (request is not None and answers.body_unread(request)):
            return answers.closing(body, status, headers)
        return body, status, headers

    def on_memory_pressure(self, drop: Callable[[], None]) -> None:
        """Register something that frees memory when the guard sees pressure."""
        self.guard.on_pressure(drop)

    def _take_cors(self) -> dict[str, str]:
        """This request's CORS headers, once: the framework's own routes (/robots.txt)
        reach `error` without `is_health_check`, and must not get a previous request's."""
        cors: dict[str, str] = getattr(self._local, "cors", {})
        self._local.cors = {}
        return cors

    def _leave(self) -> None:
        if getattr(self._local, "admitted", False):
            self._local.admitted = False
            self.guard.done()

    def _watch_once(self) -> None:
        """In a gunicorn worker, start the idle memory watchdog (MEMORY_RECYCLE) once: it
        replaces the worker with SIGTERM (gunicorn's graceful exit; the master forks a new one)."""
        if self._watch_pid == os.getpid() or not self.settings.memory_recycle:
            return
        with self._watch_lock:
            if self._watch_pid != os.getpid():
                self._watch_pid = os.getpid()
                if in_gunicorn_worker(self._born_pid):
                    self.guard.watch(recycle=lambda: os.kill(os.getpid(), signal.SIGTERM))

    def _elapsed_ms(self) -> float | None:
        started = getattr(self._local, "started", None)
        return None if started is None else round((time.perf_counter() - started) * 1000, 1)


def in_gunicorn_worker(born_pid: int) -> bool:
    """True in a gunicorn worker (functions-framework's server) forked from the process that
    was `born_pid` when the app was built, where SIGTERM makes the worker finish its
    requests and exit and the master starts a fresh one. (A container's gunicorn master is
    often PID 1, so the parent's PID tells nothing.)"""
    return "gunicorn.workers.base" in sys.modules and os.getpid() != born_pid
