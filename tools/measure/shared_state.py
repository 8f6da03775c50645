#!/usr/bin/env python3
"""What the Redis shared by the instances buys and costs, measured on served functions
(the serving harness) and a real redis-server on loopback (tools/measure/redis_server.py).

1. The shared cache: instance A verifies a reference photo pair; then a fresh instance B
   (models loaded by one unrelated request first) is sent the same pair. With Redis both
   embeddings are hits; without, B computes them. Reported: B's client latency and the
   answer's `time_ms.total`, and the same for B's very first request (models loading).
2. Redis per request: predict_gesture (the cheapest request, so the overhead shows)
   without limits, with RATE_LIMITS counted in memory, and counted in Redis; sequential
   keep-alive requests, p50/p95 client latency.
3. The cache's own calls, in process: RedisCache.get (hit) and put of one embedding.

    python tools/measure/shared_state.py                   # prints markdown rows
    python tools/measure/shared_state.py --repeat 5 --requests 500
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

from tools import LOGS, ROOT, testdata
from tools.measure import harness
from tools.measure.harness import Request, drive, json_request, percentile
from tools.measure.redis_server import RedisServer

# ---- settings ------------------------------------------------------------------------
REPEAT = 3
REQUESTS = 300
LIMITS = "1000000/hour"  # never reached: what is measured is the counting


def pair_request(a: str, b: str) -> Request:
    photos = testdata.face_photos()
    body = {k: base64.b64encode((photos / f).read_bytes()).decode() for k, f in (("img1", a), ("img2", b))}
    return json_request(f"{a}+{b}", body)


def verify_once(url: str, request: Request) -> tuple[float, float]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    started = time.perf_counter()
    status, body = harness.send(conn, request)
    ms = (time.perf_counter() - started) * 1000
    conn.close()
    if status != 200:
        raise RuntimeError(f"{request.name}: HTTP {status} {body[:200]!r}")
    return ms, float(json.loads(body)["time_ms"]["total"])


def cache_rows(repeat: int) -> list[str]:
    reference, warmup = pair_request("obama.jpg", "obama2.jpg"), pair_request("biden.jpg", "obama3.jpg")
    rows = []
    for label, with_redis in (("without Redis (per-instance cache)", False), ("with Redis (shared cache)", True)):
        warm, first = [], []
        for _ in range(repeat):
            redis = RedisServer().start() if with_redis else None
            env = {"REDIS_URL": redis.url} if redis else {}
            try:
                a = harness.start("verify_face", env=env)
                verify_once(a.url, reference)
                a.stop()
                b = harness.start("verify_face", env=env)  # warm: models loaded by another pair
                verify_once(b.url, warmup)
                warm.append(verify_once(b.url, reference))
                b.stop()
                c = harness.start("verify_face", env=env)  # its very first request
                first.append(verify_once(c.url, reference))
                c.stop()
            finally:
                harness.stop_all()
                if redis:
                    redis.remove()
        rows.append(
            f"| reference pair on a fresh instance, {label} | {statistics.median(m for m, _ in warm):.1f} ms "
            f"(pipeline {statistics.median(t for _, t in warm):.1f} ms) | {statistics.median(m for m, _ in first):.0f} ms "
            f"(pipeline {statistics.median(t for _, t in first):.1f} ms) |"
        )
    return rows


def gesture_rows(requests: int) -> list[str]:
    frames = json.loads((ROOT / "models" / "finger-gesture" / "bundle.json").read_text())["preprocessing"]["frames"]
    request = json_request("still", {"model": "finger-gesture", "features": [[0.0, 0.0]] * frames})
    redis = RedisServer().start()
    rows = []
    try:
        for label, env in (
            ("no rate limits", {}),
            ("RATE_LIMITS counted in memory", {"RATE_LIMITS": LIMITS}),
            ("RATE_LIMITS counted in Redis", {"RATE_LIMITS": LIMITS, "REDIS_URL": redis.url}),
        ):
            server = harness.start("predict_gesture", env=env)
            try:
                drive(server.url, [request] * 50, 1)  # warm-up
                outcomes = drive(server.url, [request] * requests, 1)
            finally:
                server.stop()
            bad = [o.problem for o in outcomes if o.problem]
            if bad:
                raise RuntimeError(bad[0])
            ms = [o.ms for o in outcomes]
            rows.append(f"| predict_gesture, {label} | {percentile(ms, 50):.2f} ms | {percentile(ms, 95):.2f} ms |")
    finally:
        redis.remove()
    return rows


def call_rows(requests: int) -> list[str]:
    import numpy as np

    from shared.face.verify import FaceEmbedding
    from shared.state.shared_cache import RecordCodec, RedisCache
    from shared.state.store import SharedStore, StoreOptions

    redis = RedisServer().start()
    try:
        cache = RedisCache(SharedStore(StoreOptions(redis.url)), 3600, RecordCodec(FaceEmbedding, "embedding"), "bench")
        value = FaceEmbedding(np.ones(128, np.float32), {"x": 1, "y": 2, "w": 3, "h": 4}, 1, "face-detector-short", {"embed": 20.0})
        size = len(cache.codec.encode(value))
        times: dict[str, list[float]] = {"put": [], "get": []}
        for i in range(requests):
            for name, call in (("put", lambda i=i: cache.put(("k", i), value)), ("get", lambda i=i: cache.get(("k", i)))):
                started = time.perf_counter()
                call()
                times[name].append((time.perf_counter() - started) * 1000)
    finally:
        redis.remove()
    return [
        f"| RedisCache.{name} of one embedding ({size} bytes), in process | {percentile(t, 50):.3f} ms | {percentile(t, 95):.3f} ms |"
        for name, t in times.items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=REPEAT, help="fresh instances per cache row (median)")
    parser.add_argument("--requests", type=int, default=REQUESTS, help="requests per latency row")
    args = parser.parse_args(argv)
    harness.keep_logs_in(LOGS / "shared-state-logs")
    print("| shared cache | warm instance: client (pipeline) | first request: client (pipeline) |")
    print("|---|---|---|")
    print("\n".join(cache_rows(args.repeat)), flush=True)
    print()
    print("| Redis per request | p50 | p95 |")
    print("|---|---|---|")
    print("\n".join(gesture_rows(args.requests) + call_rows(args.requests)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
