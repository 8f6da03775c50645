"""One functions-framework process, started the way the platform starts it, and watched.

`Server.start()` spawns ``python -m functions_framework --target T --source S`` on a free
loopback port in its own process group; a sampler thread reads the memory of the process
tree (gunicorn master + its worker) every ~20 ms. `stop()` kills the whole group, and
`stop_all()` kills every server still running (called on exit, even on error).
"""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

MB = 2**20
SAMPLE_S = 0.02
_RUNNING: list["Server"] = []


@dataclass(frozen=True)
class Sample:
    """Attributes: t (s since spawn); pss_mb (PSS summed over master + worker: pages shared
    after fork counted once, close to what the container is charged); rss_mb (RSS summed,
    shared pages counted twice: an upper bound); worker_rss_mb (largest single process)."""

    t: float
    pss_mb: float
    rss_mb: float
    worker_rss_mb: float


@dataclass
class Server:
    label: str
    python: str
    source: Path
    target: str
    env: dict[str, str]
    log_dir: Path
    port: int = 0
    samples: list[Sample] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)

    def start(self) -> None:
        self.port = free_port()
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_dir / f"{self.label}.log", "wb")
        cmd = [self.python, "-m", "functions_framework", "--target", self.target, "--source", str(self.source),
               "--host", "127.0.0.1", "--port", str(self.port)]
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        _RUNNING.append(self)
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample_loop, daemon=True)
        self._sampler.start()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def mark(self, what: str) -> float:
        """Note a phase boundary (shown on the plot); returns its time since spawn."""
        t = self.elapsed()
        self.marks.append((t, what))
        return t

    def _tree(self) -> list[psutil.Process]:
        root = psutil.Process(self.proc.pid)
        return [root] + root.children(recursive=True)

    def memory(self) -> Sample:
        pss = rss = worker = 0.0
        for p in self._tree():
            try:
                info = p.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            pss += info.pss / MB
            rss += info.rss / MB
            worker = max(worker, info.rss / MB)
        return Sample(self.elapsed(), pss, rss, worker)

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far by the process tree."""
        total = 0.0
        for p in self._tree():
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
        return total

    def _sample_loop(self) -> None:
        while not self._stop.is_set() and self.proc.poll() is None:
            try:
                sample = self.memory()
            except psutil.NoSuchProcess:
                break
            if sample.rss_mb > 0:  # nothing readable: the tree is being torn down
                self.samples.append(sample)
            self._stop.wait(SAMPLE_S)

    def peak(self, start: float = 0.0, end: float = float("inf")) -> Sample | None:
        """The sample with the highest PSS between `start` and `end` (s since spawn)."""
        window = [s for s in list(self.samples) if start <= s.t <= end]
        return max(window, key=lambda s: s.pss_mb) if window else None

    def wait_first_answer(self, request, timeout_s: float) -> float:
        """Poll with `request` until the server answers; seconds from spawn to a 200 answer
        (the cold start). Only refused/reset connections are retried: any other answer fails."""
        from .client import send

        deadline = time.perf_counter() + timeout_s
        last = "no answer"
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label}: process exited with {self.proc.returncode}: {self.log_tail()}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout_s)
            try:
                status, body = send(conn, request)
                if status != 200:  # an answer that is not a success is a failed cold start, not a wait
                    raise RuntimeError(f"{self.label}: first answer was HTTP {status}: {body[:300]!r}")
                request.validate(body)
                return self.mark("first answer")
            except (ConnectionError, http.client.HTTPException, socket.timeout) as exc:
                last = repr(exc)
            finally:
                conn.close()
            time.sleep(0.01)
        raise RuntimeError(f"{self.label}: no successful answer in {timeout_s:.0f} s ({last}); {self.log_tail()}")

    def log_tail(self, chars: int = 1500) -> str:
        self._log.flush()
        return (self.log_dir / f"{self.label}.log").read_bytes()[-chars:].decode(errors="replace")

    def stop(self) -> None:
        self._stop.set()
        try:
            # SIGKILL to our own group (master + worker): quick, and nothing lingers.
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self._sampler.join(2)
        self._log.close()
        if self in _RUNNING:
            _RUNNING.remove(self)


def stop_all() -> None:
    for server in list(_RUNNING):
        try:
            server.stop()
        except Exception:  # keep killing the others
            pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
