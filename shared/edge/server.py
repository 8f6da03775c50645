"""How a function is served: gunicorn's threaded worker, as functions-framework runs it,
except that a slow client costs a timer, not a serving thread.

functions-framework's gunicorn hands a connection to a thread as soon as its first byte
arrives, and the thread then blocks until the headers and the body are in: eight clients
that send a POST's headers and then nothing hold eight threads (THREADS is 2 in the image),
and health times out for as long as they wait. `BufferingWorker` (shared/edge/worker.py) reads every request whole
on the worker's event loop first (`framing.RequestFraming` says when it is whole), under
deadlines in the manner of Apache's mod_reqtimeout:

- headers within `header_timeout_s` of the connection (or of a kept-alive connection's
  next byte);
- the body within `body_timeout_s` of the headers, plus one second for every
  `body_min_rate` bytes it declares (a chunked body: every such byte received);
- the bytes held for requests not yet answered within `buffer_bytes` in all; a request
  over 16 KiB that would pass it is refused with 503 and Retry-After, so a flood of large
  uploads costs bounded memory while small requests (health, landmarks) still get in.

A request late at its deadline is answered 408 (JSON, Connection: close) and its
connection closed. Only then does a thread get the request, parsed by gunicorn from the
bytes held (`PrefixUnreader`), its socket bounded by `header_timeout_s` for writing the
answer. `serve(app, ...)` runs a WSGI app (functions-framework's `create_app`) on gunicorn
with this worker: functions/serve.py is the command.

The app is built in gunicorn's master, before it forks the worker, and just before each fork
the master moves everything it holds into the garbage collector's permanent generation
(`gc.freeze`, gunicorn's `pre_fork` hook): the worker's collections then never walk the
inherited objects, whose pages would otherwise be copied by the headers a collection writes,
and those pages stay shared with the master. Issue 25's round five (docs/benchmark.md):
the master's private pages at verify_face's peak 18.2 -> 12.5 MB, summed PSS -4.4 MB at
the peak and -5.5 MB at rest (paired medians), and 10-20 ms less CPU to the first answer.
"""

from __future__ import annotations

import gc
from typing import Any

from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]  # gunicorn has no type information

from shared.edge.worker import BufferingWorker


def freeze_before_fork(_arbiter: Any, _worker: Any) -> None:
    """gunicorn's pre_fork hook, run in the master before every fork (a restarted worker's
    too): what the master holds goes to the collector's permanent generation, out of the
    worker's collections (and the master's own). Collection is switched back on here where
    functions/serve.py paused it while the app was built."""
    gc.freeze()
    gc.enable()


class _Application(BaseApplication):
    def __init__(self, app: Any, options: dict[str, Any]):
        self.app, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.app


def serve(app: Any, host: str, port: int, *, workers: int = 1, threads: int = 2, timeout_s: int = 0, log_level: str = "error") -> None:
    """Serve the WSGI `app` on host:port with gunicorn and BufferingWorker, with
    functions-framework's own gunicorn options otherwise (one worker, `threads` threads,
    no request-line limit, `timeout_s` as CLOUD_RUN_TIMEOUT_SECONDS)."""
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": BufferingWorker,
        "loglevel": log_level,
        "limit_request_line": 0,
        "timeout": timeout_s,
        "pre_fork": freeze_before_fork,
    }
    _Application(app, options).run()
