"""The short form of tools/measure/load.py in CI: 200 requests per function at concurrency 4 against
a functions-framework subprocess, ~10% of them bad. No 5xx, no worker restart, every bad
request answered with its expected status, and memory flat.

A leak of 100 KB per request (100 MB per 1000 requests) would take a 512 MB instance down
within a few thousand requests; that is what the memory bounds catch at this length (the
per-sample RSS is noisy: each request briefly holds a few tens of MB of buffers).
"""

from __future__ import annotations

import time

import pytest

from tools.measure import load

REQUESTS = 200
MAX_SECONDS = 60.0
LEAK_MB_PER_1000 = 100.0
IDLE_GROWTH_MB = REQUESTS * LEAK_MB_PER_1000 / 1000


@pytest.mark.parametrize("function", ["verify_face", "predict_gesture"])
def test_short_load_has_no_server_errors_restarts_or_leak(function, face_photos):
    started = time.monotonic()
    r = load.run(function, requests=REQUESTS, max_seconds=MAX_SECONDS)
    print(r)
    assert time.monotonic() - started < MAX_SECONDS + 30
    assert r["requests_done"] == REQUESTS, f"only {r['requests_done']} requests in {MAX_SECONDS} s"
    assert r["server_errors"] == 0, r["by_status"]
    assert r["worker_restarts"] == 0
    assert r["unexpected_count"] == 0, r["unexpected"]
    assert 0 < sum(n for s, n in r["by_status"].items() if s.startswith("4")) < REQUESTS * 0.25, r["by_status"]
    assert r["rss_floor_slope_mb_per_1000"] < LEAK_MB_PER_1000, r["rss_mb"]
    idle = r["rss_idle_mb"]
    assert idle["after"] - idle["before"] < IDLE_GROWTH_MB, idle
