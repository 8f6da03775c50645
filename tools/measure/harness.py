"""Serve one function from the repo with functions-framework in a subprocess, on loopback.

Used by the load script and by the tests that need a real served process (streamed
uploads, schemathesis): `start("verify_face")` picks a free 127.0.0.1 port, starts
``python -m functions_framework`` (gunicorn, one worker, as on Cloud Run) and waits until
GET / answers. The gunicorn worker is the child process; its pid and RSS are what the
load script watches for restarts and memory growth.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ("verify_face", "predict_gesture")
LOOPBACK = ("127.0.0.1", "::1", "localhost")
MB = 2**20


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalServer:
    """Attributes: function name; url ("http://127.0.0.1:PORT/"); process (the
    functions-framework master); log (file holding its stdout and stderr)."""

    function: str
    url: str
    process: subprocess.Popen
    log: Path
    started_workers: list[int] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].strip("/"))

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

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start(function: str, *, env: dict[str, str] | None = None, python: str = sys.executable, timeout_s: float = 60.0) -> LocalServer:
    """Start `function` under functions-framework on a free loopback port; wait until GET / is 200."""
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}; expected one of {FUNCTIONS}")
    port = free_port()
    log = Path(tempfile.mkstemp(prefix=f"{function}-", suffix=".log")[1])
    cmd = [python, "-m", "functions_framework", "--target", function, "--source", str(ROOT / "functions" / function / "main.py"),
           "--host", "127.0.0.1", "--port", str(port)]
    full_env = {**os.environ, "WORKERS": "1", **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    server = LocalServer(function, f"http://127.0.0.1:{port}/", process, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{function} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(server.url, timeout=5) as response:
                if response.status == 200 and server.worker_pids():
                    server.started_workers = server.worker_pids()
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise TimeoutError(f"{function} did not answer GET / within {timeout_s} s: {log.read_text()[-2000:]}")

