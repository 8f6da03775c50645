"""Serving harness: one function served the way the platform serves it, and the requests
sent to it. The one place tools and tests start a function and load it.

`start("verify_face")` spawns ``python functions/serve.py --target verify_face --source
functions/verify_face/main.py`` (functions-framework's app on gunicorn, one worker, read by
the project's buffering worker: as the image and Render serve it) on a free loopback port
in its own process group, waits until GET / (health) answers 200, and
returns the `Server`; `server.stop()` ends the whole group and `stop_all()` every server
still running.

`Request` is one POST with the status it expects (and an optional check of the answer);
`drive(url, requests, concurrency)` sends them from client threads, one keep-alive
connection each, and returns one `Outcome` per request.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from tools import ROOT

FUNCTIONS = ("verify_face", "predict_gesture")
LOOPBACK = ("127.0.0.1", "::1", "localhost")
MB = 2**20
STOP_GRACE_S = 10.0
_RUNNING: list[Server] = []


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """One functions-framework process. Attributes: function (the target name); source
    (its main.py); python; env (on top of os.environ, or instead of it when not
    inherit_env); cwd; host, port (0 = a free one); log (file for its stdout and stderr;
    None = this process's own); started_workers (worker pids when it became ready);
    command (run instead of `python functions/serve.py ...`, e.g. an image's CMD: it
    gets the address in HOST and PORT, functions-framework's own variables);
    framework_server (serve with functions-framework's own command and gunicorn worker
    instead, as Cloud Run functions' launcher does: for comparisons; also chosen for a tree
    without functions/serve.py, see _launcher)."""

    function: str
    source: Path
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=dict)
    inherit_env: bool = True
    cwd: Path = ROOT
    host: str = "127.0.0.1"
    port: int = 0
    log: Path | None = None
    started_workers: list[int] = field(default_factory=list)
    command: list[str] | None = None
    framework_server: bool = False
    process: subprocess.Popen | None = field(default=None, init=False, repr=False)
    t0: float = field(default=0.0, init=False, repr=False)  # perf_counter() at spawn

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> Server:
        self.port = self.port or free_port(self.host)
        launcher = self._launcher()
        cmd = [
            self.python,
            *launcher,
            "--target",
            self.function,
            "--source",
            str(self.source),
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        env = {**(os.environ if self.inherit_env else {}), "WORKERS": "1", "PYTHONUNBUFFERED": "1", **self.env}
        if self.command:
            cmd = self.command
            env.update(HOST=self.host, PORT=str(self.port))
        out = self.log.open("wb") if self.log else None
        self.t0 = time.perf_counter()
        self.process = subprocess.Popen(
            cmd, cwd=self.cwd, env=env, stdout=out, stderr=subprocess.STDOUT if out else None, start_new_session=True
        )  # its own group: stop() reaches the worker too
        if out:
            out.close()
        _RUNNING.append(self)
        return self

    def _launcher(self) -> list[str]:
        """How to serve: a tree's own functions/serve.py; functions-framework's command for a
        tree from before it existed (a `before` tree) or a Cloud Run functions folder (main.py
        at its top, as the platform's launcher serves it); ours for a lone function file."""
        source = Path(self.source).resolve()
        tree_serve = source.parents[1] / "serve.py"
        if self.framework_server or (source.name == "main.py" and not tree_serve.exists()):
            return ["-m", "functions_framework"]
        return [str(tree_serve if tree_serve.exists() else ROOT / "functions" / "serve.py")]

    def wait_ready(self, timeout_s: float = 60.0) -> Server:
        """Wait until GET / answers 200 and the worker is up; note its pid."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    if response.status == 200 and self.worker_pids():
                        self.started_workers = self.worker_pids()
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.function} did not answer GET / within {timeout_s:.0f} s; {self.log_tail()}")

    def wait_first_answer(self, request: Request, timeout_s: float) -> float:
        """Send `request` until it is answered; seconds from spawn to that answer (the cold
        start). Only refused/reset connections are retried: a wrong answer fails."""
        deadline = time.perf_counter() + timeout_s
        last = "no answer"
        while time.perf_counter() < deadline:
            self._check_alive()
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)
            try:
                status, body = send(conn, request)
            except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
                last = repr(exc)
                time.sleep(0.01)
                continue
            finally:
                conn.close()
            problem = request.problem(status, body)
            if problem:
                raise RuntimeError(f"{self.function}: first answer was wrong: {problem}")
            return self.elapsed()
        raise RuntimeError(f"{self.function}: no successful answer in {timeout_s:.0f} s ({last}); {self.log_tail()}")

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.function} exited with {self.process.returncode}; {self.log_tail()}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def elapsed(self) -> float:
        """Seconds since the process was spawned."""
        return time.perf_counter() - self.t0

    def worker_pids(self) -> list[int]:
        """Pids of the gunicorn workers (children of the master); [] once it has exited."""
        try:
            return sorted(c.pid for c in psutil.Process(self.process.pid).children())
        except psutil.NoSuchProcess:
            return []

    def serving_pid(self) -> int:
        """The process that runs the function: the single worker (or the master itself)."""
        workers = self.worker_pids()
        return workers[0] if workers else self.process.pid

    def rss_mb(self) -> float:
        """Resident memory of the serving process, in MiB."""
        return psutil.Process(self.serving_pid()).memory_info().rss / MB

    def log_tail(self, chars: int = 1500) -> str:
        if self.log is None or not self.log.exists():
            return "(log on the console)"
        return self.log.read_bytes()[-chars:].decode(errors="replace")

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM to the process group (gunicorn shuts down), SIGKILL after `grace_s`."""
        if self.process is None:  # never started
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(grace_s)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        self.process.wait(10)
        if self in _RUNNING:
            _RUNNING.remove(self)


_log_dir: Path | None = None  # where start() writes server logs; None: the system's temporary folder


def keep_logs_in(folder: Path) -> Path:
    """Write the logs of servers started from now on in `folder` (a tool's main() calls this
    with a folder under build/; the tests keep temporary files). Returns the folder."""
    global _log_dir
    folder.mkdir(parents=True, exist_ok=True)
    _log_dir = folder
    return folder


def start(
    function: str,
    *,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
    timeout_s: float = 60.0,
    framework_server: bool = False,
) -> Server:
    """Serve functions/`function`/main.py on a free loopback port, log to a new file (keep_logs_in's
    folder, else a temporary one); ready when returned. `framework_server`: with
    functions-framework's own command (see Server)."""
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}; expected one of {FUNCTIONS}")
    fd, name = tempfile.mkstemp(prefix=f"{function}-", suffix=".log", dir=_log_dir)
    os.close(fd)
    log = Path(name)
    server = Server(
        function, ROOT / "functions" / function / "main.py", python, dict(env or {}), log=log, framework_server=framework_server
    )
    server.start()
    try:
        return server.wait_ready(timeout_s)
    except BaseException:
        server.stop()
        raise


def stop_all() -> None:
    """Stop every server still running (on exit, even after an error)."""
    for server in list(_RUNNING):
        with contextlib.suppress(Exception):  # keep stopping the others
            server.stop()


# ---- requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One POST. Attributes: name (for reports); body; content_type; expect (the status a
    correct server answers); check(json) raises when a 200 answer is wrong."""

    name: str
    body: bytes
    content_type: str = "application/json"
    expect: int = 200
    check: Callable[[dict], None] | None = None

    def problem(self, status: int, body: bytes) -> str:
        """What is wrong with (status, body); empty when a correct server answers so."""
        if status != self.expect:
            return f"{self.name}: HTTP {status} (expected {self.expect}) {body[:200]!r}"
        if self.check is not None and status == 200:
            try:
                self.check(json.loads(body))
            except Exception as exc:  # the check's own message says what is wrong
                return f"{self.name}: {exc}"[:300]
        return ""


def json_request(name: str, payload: object, *, expect: int = 200, check: Callable[[dict], None] | None = None) -> Request:
    return Request(name, json.dumps(payload).encode(), "application/json", expect, check)


def multipart_request(name: str, files: dict[str, bytes], check: Callable[[dict], None] | None = None) -> Request:
    """multipart/form-data with one JPEG part per field (as a browser or `curl -F` sends)."""
    boundary = uuid.uuid4().hex
    parts = []
    for field_name, data in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; filename="{field_name}.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        )
        parts += [head.encode(), data, b"\r\n"]
    parts.append(f"--{boundary}--\r\n".encode())
    return Request(name, b"".join(parts), f"multipart/form-data; boundary={boundary}", check=check)


def send(conn: http.client.HTTPConnection, request: Request) -> tuple[int, bytes]:
    conn.request("POST", "/", body=request.body, headers={"Content-Type": request.content_type})
    response = conn.getresponse()
    body = response.read()
    if response.getheader("Connection", "").lower() == "close":
        conn.close()  # the next request opens a new connection
    return response.status, body


@dataclass(frozen=True)
class Outcome:
    """One request sent. Attributes: order (1-based, in completion order); request;
    status (0 = no answer); ms (client-side latency); problem ("" = answered as expected)."""

    order: int
    request: Request
    status: int
    ms: float
    problem: str


RequestSource = Request | Callable[[], Request]  # a builder makes the body when it is sent


def drive(
    url: str,
    requests: Sequence[RequestSource],
    concurrency: int,
    *,
    deadline: float | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Send each request once from `concurrency` threads, one keep-alive connection each
    (reopened once when the server closed it). Stops taking new ones after `deadline`
    (time.monotonic()). `on_outcome` runs under a lock after each answer."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    taken = iter(range(len(requests)))

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=300)
        while deadline is None or time.monotonic() < deadline:
            with lock:
                i = next(taken, None)
            if i is None:
                break
            item = requests[i]
            request = item if isinstance(item, Request) else item()
            started = time.perf_counter()
            for _attempt in range(2):
                try:
                    status, body = send(conn, request)
                    problem = request.problem(status, body)
                    break
                except (ConnectionError, http.client.HTTPException, OSError) as exc:
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=300)
                    status, problem = 0, f"{request.name}: no answer ({exc!r})"
            ms = (time.perf_counter() - started) * 1000
            with lock:
                outcomes.append(Outcome(len(outcomes) + 1, request, status, ms, problem))
                if on_outcome is not None:
                    on_outcome(outcomes[-1])
        conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolated linearly between the closest ranks; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
