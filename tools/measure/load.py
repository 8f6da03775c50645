#!/usr/bin/env python3
"""Bounded load on the locally served functions: a fixed number of requests, a maximum
duration, loopback only. A realistic mix (real photos / real keypoints, ~10% bad
requests) at concurrency 4; reports counts by status, 5xx, worker restarts, RSS samples
and slope (MB per 1000 requests, least squares), and p50/p95 latency of the first and
last third of the run.

    python tools/measure/load.py --function both --requests 2000 --max-seconds 300
    python tools/measure/load.py --function verify_face --url http://127.0.0.1:8080/   # a running server
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

from tools import LOGS
from tools.measure import harness
from tools.measure.harness import Outcome, drive, percentile
from tools.measure.load_mix import gesture_mix, verify_mix

# ---- settings ------------------------------------------------------------------------
REQUESTS = 200
MAX_SECONDS = 60.0
CONCURRENCY = 4
BAD_FRACTION = 0.10
WARMUP = 40  # requests sent (concurrently) before measuring: model loading and per-thread
# allocator arenas filling up once are not a leak
RSS_EVERY = 10  # sample the worker's RSS after every this many completed requests


def slope_per_1000(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of RSS (MB) against completed requests, in MB per 1000 requests."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 1000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def floor(points: list[tuple[int, float]], window: int = 5) -> list[tuple[int, float]]:
    """The lowest sample of each run of `window`: RSS between requests, without the
    transient buffers of whichever requests happened to be in flight at a sample."""
    return [(points[i + window - 1][0], min(mb for _, mb in points[i : i + window])) for i in range(0, len(points) - window + 1, window)]


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in harness.LOOPBACK:
        raise SystemExit(f"refusing to load {host!r}: this script only targets loopback ({', '.join(harness.LOOPBACK)})")


def run(
    function: str,
    *,
    requests: int = REQUESTS,
    max_seconds: float = MAX_SECONDS,
    concurrency: int = CONCURRENCY,
    bad_fraction: float = BAD_FRACTION,
    url: str | None = None,
    seed: int = 7,
    env: dict | None = None,
) -> dict:
    """Drive one function; the report is a plain dict (see the module docstring)."""
    mix = {"verify_face": verify_mix, "predict_gesture": gesture_mix}[function](requests + WARMUP, bad_fraction, seed)
    server = None
    if url:
        check_loopback(url)
    else:
        server = harness.start(function, env=env)
        url = server.url
    try:
        drive(url, mix[:WARMUP], concurrency)
        idle_before = server.rss_mb() if server else None
        rss: list[tuple[int, float]] = []

        def sample(outcome: Outcome) -> None:
            if server and outcome.order % RSS_EVERY == 0 and server.alive():
                rss.append((outcome.order, server.rss_mb()))

        started = time.monotonic()
        outcomes = drive(url, mix[WARMUP:], concurrency, deadline=started + max_seconds, on_outcome=sample)
        elapsed = time.monotonic() - started
        if server and server.alive():
            rss.append((len(outcomes), server.rss_mb()))
        out = report(function, outcomes, rss, elapsed, server, requests, max_seconds, concurrency)
        if server and server.alive():  # quiet: nothing in flight, so no request's transient buffers
            out["rss_idle_mb"] = {"before": round(idle_before, 1), "after": round(server.rss_mb(), 1)}
        return out
    finally:
        if server:
            server.stop()


def report(
    function: str,
    outcomes: list[Outcome],
    rss: list[tuple[int, float]],
    elapsed: float,
    server,
    requests: int,
    max_seconds: float,
    concurrency: int,
) -> dict:
    by_status: dict[str, int] = {}
    for o in outcomes:
        by_status[str(o.status)] = by_status.get(str(o.status), 0) + 1
    third = max(1, len(outcomes) // 3)
    first = [o.ms for o in outcomes[:third] if o.status == 200]
    last = [o.ms for o in outcomes[-third:] if o.status == 200]
    unexpected = [o.problem for o in outcomes if o.problem]
    restarts = None
    if server:
        now = server.worker_pids()
        restarts = 0 if (server.alive() and now == server.started_workers) else max(1, len(set(now) - set(server.started_workers)))
    return {
        "function": function,
        "requests_planned": requests,
        "requests_done": len(outcomes),
        "max_seconds": max_seconds,
        "concurrency": concurrency,
        "seconds": round(elapsed, 1),
        "by_status": dict(sorted(by_status.items())),
        "server_errors": sum(n for s, n in by_status.items() if s == "0" or s.startswith("5")),
        "unexpected": unexpected[:20],
        "unexpected_count": len(unexpected),
        "worker_restarts": restarts,
        "rss_mb": [(n, round(mb, 1)) for n, mb in rss],
        "rss_slope_mb_per_1000": round(slope_per_1000(rss), 2),
        "rss_floor_slope_mb_per_1000": round(slope_per_1000(floor(rss)), 2),
        "p50_ms": {"first_third": round(percentile(first, 50), 1), "last_third": round(percentile(last, 50), 1)},
        "p95_ms": {"first_third": round(percentile(first, 95), 1), "last_third": round(percentile(last, 95), 1)},
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
    harness.keep_logs_in(LOGS / "load-logs")
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the served function is stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    functions = list(harness.FUNCTIONS) if args.function == "both" else [args.function]
    if args.url and len(functions) != 1:
        parser.error("--url needs one --function")
    reports = [
        run(
            f,
            requests=args.requests,
            max_seconds=args.max_seconds,
            concurrency=args.concurrency,
            bad_fraction=args.bad_fraction,
            url=args.url,
            seed=args.seed,
        )
        for f in functions
    ]
    text = "[\n" + ",\n".join(json.dumps(r) for r in reports) + "\n]"
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    return 1 if any(r["server_errors"] or r["worker_restarts"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
