"""HTTP load on loopback: requests, sequential or from N client threads, with latency and
the server's CPU time per request."""
from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Request:
    """One POST: body bytes + content type; `check(json)` raises when the answer is wrong."""

    name: str
    body: bytes
    content_type: str
    check: Callable[[dict], None] | None = None

    def validate(self, raw: bytes) -> None:
        if self.check is not None:
            self.check(json.loads(raw))


def json_request(name: str, payload: dict, check: Callable[[dict], None] | None = None) -> Request:
    return Request(name, json.dumps(payload).encode(), "application/json", check)


def multipart_request(name: str, files: dict[str, bytes], check: Callable[[dict], None] | None = None) -> Request:
    """multipart/form-data with one JPEG part per field (as a browser or `curl -F` sends)."""
    boundary = uuid.uuid4().hex
    parts = []
    for field_name, data in files.items():
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field_name}\"; filename=\"{field_name}.jpg\"\r\n"
                "Content-Type: image/jpeg\r\n\r\n")
        parts += [head.encode(), data, b"\r\n"]
    parts.append(f"--{boundary}--\r\n".encode())
    return Request(name, b"".join(parts), f"multipart/form-data; boundary={boundary}", check)


def send(conn: http.client.HTTPConnection, request: Request) -> tuple[int, bytes]:
    conn.request("POST", "/", body=request.body, headers={"Content-Type": request.content_type})
    response = conn.getresponse()
    return response.status, response.read()


@dataclass
class LoadResult:
    """Attributes: latencies_ms (client side, per request); cpu_ms_per_request (server
    process tree CPU delta / requests); errors (non-200 or wrong answers) and the first one."""

    requests: int
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    cpu_ms_per_request: float = 0.0
    wall_s: float = 0.0
    errors: int = 0
    first_error: str = ""

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(q) - 1]


def run_load(server, requests: list[Request], total: int, concurrency: int,
             on_progress: Callable[[int], None] | None = None) -> LoadResult:
    """Send `total` requests (cycling through `requests`) from `concurrency` threads, each
    with its own keep-alive connection. `on_progress(n)` runs after each n-th completion."""
    result = LoadResult(total, concurrency)
    lock = threading.Lock()
    issued = [0]
    done = [0]

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
        while True:
            with lock:
                if issued[0] >= total:
                    break
                i = issued[0]
                issued[0] += 1
            request = requests[i % len(requests)]
            started = time.perf_counter()
            try:
                status, body = send(conn, request)
                elapsed = (time.perf_counter() - started) * 1000
                if status != 200:
                    raise RuntimeError(f"{request.name}: HTTP {status} {body[:200]!r}")
                request.validate(body)
            except Exception as exc:  # count it, keep the first message, reconnect
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
                with lock:
                    result.errors += 1
                    result.first_error = result.first_error or str(exc)[:300]
                    done[0] += 1
                continue
            with lock:
                result.latencies_ms.append(elapsed)
                done[0] += 1
                n = done[0]
            if on_progress is not None:
                on_progress(n)
        conn.close()

    cpu_before = server.cpu_s()
    started = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.wall_s = time.perf_counter() - started
    result.cpu_ms_per_request = (server.cpu_s() - cpu_before) * 1000 / max(total, 1)
    return result
