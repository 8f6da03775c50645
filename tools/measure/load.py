#!/usr/bin/env python3
"""Bounded load on the locally served functions: a fixed number of requests, a maximum
duration, loopback only. A realistic mix (real photos / real keypoints, ~10% bad
requests) at concurrency 4; reports counts by status, 5xx, worker restarts, RSS samples
and slope (MB per 1000 requests, least squares), and p50/p95 latency of the first and
last third of the run.

    python tools/load.py --function both --requests 2000 --max-seconds 300
    python tools/load.py --function verify_face --url http://127.0.0.1:8080/   # a running server
"""
from __future__ import annotations

import argparse
import http.client
import json
import signal
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from tools import localserve  # noqa: E402
from tools.loadmix import Request, gesture_mix, verify_mix  # noqa: E402

# ---- settings ------------------------------------------------------------------------
REQUESTS = 200
MAX_SECONDS = 60.0
CONCURRENCY = 4
BAD_FRACTION = 0.10
WARMUP = 40  # requests sent (concurrently) before measuring: model loading and per-thread
# allocator arenas filling up once are not a leak
RSS_EVERY = 10  # sample the worker's RSS after every this many completed requests


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def slope_per_1000(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of RSS (MB) against completed requests, in MB per 1000 requests."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 1000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def floor(points: list[tuple[int, float]], window: int = 5) -> list[tuple[int, float]]:
    """The lowest sample of each run of `window`: RSS between requests, without the
    transient buffers of whichever requests happened to be in flight at a sample."""
    return [(points[i + window - 1][0], min(mb for _, mb in points[i:i + window]))
            for i in range(0, len(points) - window + 1, window)]


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in localserve.LOOPBACK:
        raise SystemExit(f"refusing to load {host!r}: this script only targets loopback ({', '.join(localserve.LOOPBACK)})")


class Client:
    """One keep-alive connection per thread."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.local = threading.local()

    def send(self, req: Request) -> tuple[int, float, str]:
        started = time.perf_counter()
        for attempt in (0, 1):  # a keep-alive connection the server closed is retried once
            conn = getattr(self.local, "conn", None) or http.client.HTTPConnection(self.host, self.port, timeout=120)
            self.local.conn = conn
            try:
                conn.request("POST", "/", body=req.body, headers={"Content-Type": req.content_type})
                response = conn.getresponse()
                text = response.read().decode("utf-8", "replace")
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self.local.conn = None
                return response.status, (time.perf_counter() - started) * 1000, text
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt:
                    return 0, (time.perf_counter() - started) * 1000, "connection failed"
        raise AssertionError("unreachable")


def run(function: str, *, requests: int = REQUESTS, max_seconds: float = MAX_SECONDS, concurrency: int = CONCURRENCY,
        bad_fraction: float = BAD_FRACTION, url: str | None = None, seed: int = 7, env: dict | None = None) -> dict:
    """Drive one function; the report is a plain dict (see the module docstring)."""
    mix = {"verify_face": verify_mix, "predict_gesture": gesture_mix}[function](requests + WARMUP, bad_fraction, seed)
    server = None
    if url:
        check_loopback(url)
    else:
        server = localserve.start(function, env=env)
        url = server.url
    client = Client(url)
    try:
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(lambda build: client.send(build()), mix[:WARMUP]))
        pids = server.worker_pids() if server else []
        idle_before = server.rss_mb() if server else None
        results: list[tuple[int, int, float, str]] = []  # (order, status, ms, kind)
        rss: list[tuple[int, float]] = []
        errors: list[str] = []
        lock = threading.Lock()
        deadline = time.monotonic() + max_seconds

        def one(build) -> None:
            if time.monotonic() > deadline:
                return
            req: Request = build()
            status, ms, text = client.send(req)
            with lock:
                results.append((len(results) + 1, status, ms, req.kind))
                if status >= 500 or status == 0 or (req.expect and status != req.expect):
                    errors.append(f"{req.kind}: {status} {text[:200]}")
                if server and len(results) % RSS_EVERY == 0 and server.alive():
                    rss.append((len(results), server.rss_mb()))

        started = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, mix[WARMUP:]))
        elapsed = time.monotonic() - started
        if server and server.alive():
            rss.append((len(results), server.rss_mb()))
        out = report(function, results, rss, errors, elapsed, server, pids, requests, max_seconds, concurrency)
        if server and server.alive():  # quiet: nothing in flight, so no request's transient buffers
            out["rss_idle_mb"] = {"before": round(idle_before, 1), "after": round(server.rss_mb(), 1)}
        return out
    finally:
        if server:
            server.stop()


def report(function, results, rss, errors, elapsed, server, pids, requests, max_seconds, concurrency) -> dict:
    by_status: dict[str, int] = {}
    for _, status, _, _ in results:
        by_status[str(status)] = by_status.get(str(status), 0) + 1
    third = max(1, len(results) // 3)
    ordered = sorted(results)
    first = [ms for _, s, ms, k in ordered[:third] if s == 200]
    last = [ms for _, s, ms, k in ordered[-third:] if s == 200]
    restarts = None
    if server:
        now = server.worker_pids()
        restarts = 0 if (server.alive() and now == pids) else max(1, len(set(now) - set(pids)))
    return {
        "function": function,
        "requests_planned": requests, "requests_done": len(results), "max_seconds": max_seconds,
        "concurrency": concurrency, "seconds": round(elapsed, 1),
        "by_status": dict(sorted(by_status.items())),
        "server_errors": sum(n for s, n in by_status.items() if s == "0" or s.startswith("5")),
        "unexpected": errors[:20], "unexpected_count": len(errors),
        "worker_restarts": restarts,
        "rss_mb": [(n, round(mb, 1)) for n, mb in rss],
        "rss_slope_mb_per_1000": round(slope_per_1000(rss), 2),
        "rss_floor_slope_mb_per_1000": round(slope_per_1000(floor(rss)), 2),
        "p50_ms": {"first_third": round(percentile(first, 0.5), 1), "last_third": round(percentile(last, 0.5), 1)},
        "p95_ms": {"first_third": round(percentile(first, 0.95), 1), "last_third": round(percentile(last, 0.95), 1)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--function", choices=["verify_face", "predict_gesture", "both"], default="both")
    parser.add_argument("--requests", type=int, default=REQUESTS, help="requests per function (after warm-up)")
    parser.add_argument("--max-seconds", type=float, default=MAX_SECONDS, help="stop sending after this long (per function)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--bad-fraction", type=float, default=BAD_FRACTION)
    parser.add_argument("--url", help="target a running loopback server instead of starting one (one function only)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json-out", type=Path, help="also write the reports here")
    args = parser.parse_args(argv)
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the served function is stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    functions = list(localserve.FUNCTIONS) if args.function == "both" else [args.function]
    if args.url and len(functions) != 1:
        parser.error("--url needs one --function")
    reports = [run(f, requests=args.requests, max_seconds=args.max_seconds, concurrency=args.concurrency,
                   bad_fraction=args.bad_fraction, url=args.url, seed=args.seed) for f in functions]
    text = "[\n" + ",\n".join(json.dumps(r) for r in reports) + "\n]"
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    return 1 if any(r["server_errors"] or r["worker_restarts"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
