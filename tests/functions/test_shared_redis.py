"""Served functions sharing one real Redis (tests/redis_server.py): two instances each,
started by the serving harness as the platform starts them.

- the rate limit holds across both instances; another client has its own;
- a reference photo embedded by one instance is a cache hit on the other;
- Redis killed mid-run and restarted: every request is answered (no 500, no hang) and
  the shared state comes back.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

import pytest

from tools.measure import harness


def call(url: str, body: dict | None = None, headers: dict | None = None, timeout: float = 30) -> tuple[int, dict, dict]:
    """(status, JSON body, headers) of one POST (or GET without a body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.load(r), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e), dict(e.headers)


def photos_body(face_photos, a: str = "obama.jpg", b: str = "obama2.jpg") -> dict:
    return {name: base64.b64encode((face_photos / f).read_bytes()).decode() for name, f in (("img1", a), ("img2", b))}


@pytest.fixture
def serve():
    servers: list[harness.Server] = []

    def start(fn: str, **env: str) -> harness.Server:
        # RATE_LIMIT_PROXY_HOPS=1: the tests play the platform's front end, writing X-Forwarded-For.
        servers.append(harness.start(fn, env={"REDIS_RETRY_S": "0.5", "RATE_LIMIT_PROXY_HOPS": "1", **env}))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="module")
def frames() -> int:
    from tools import ROOT

    return json.loads((ROOT / "models" / "finger-gesture" / "bundle.json").read_text())["preprocessing"]["frames"]


def gesture(frames: int) -> dict:
    return {"model": "finger-gesture", "features": [[0.0, 0.0]] * frames}


def test_the_rate_limit_holds_across_two_instances(serve, redis_server, frames):
    a, b = (serve("predict_gesture", REDIS_URL=redis_server.url, RATE_LIMITS="6/minute;100/day") for _ in range(2))
    client = {"X-Forwarded-For": "203.0.113.5"}
    statuses = [call(s.url, gesture(frames), client)[0] for s in (a, b, a, b, a, b)]
    assert statuses == [200] * 6
    for server in (a, b):
        status, body, headers = call(server.url, gesture(frames), client)
        assert status == 429 and body == {"error": {"code": "rate_limited", "message": body["error"]["message"]}}
        assert "6 per minute" in body["error"]["message"]
        assert 1 <= int(headers["Retry-After"]) <= 60 and headers["RateLimit-Limit"] == "6" and headers["RateLimit-Remaining"] == "0"
    # Another client (as the front end reports it, whatever the client itself wrote) has its own count.
    assert call(a.url, gesture(frames), {"X-Forwarded-For": "1.2.3.4, 198.51.100.9"})[0] == 200
    assert call(b.url, gesture(frames), {"X-Forwarded-For": "203.0.113.5, 198.51.100.9"})[0] == 200
    status, health, _ = call(a.url)
    assert health["rate_limits"]["backend"] == "redis" and health["rate_limits"]["refused"] == 1
    assert health["settings"]["redis_configured"] is True and redis_server.url not in json.dumps(health)


def test_with_an_api_key_the_limit_is_per_key(serve, redis_server, frames):
    env = {"REDIS_URL": redis_server.url, "RATE_LIMITS": "3/minute", "API_KEY": "k3y"}
    a, b = serve("predict_gesture", **env), serve("predict_gesture", **env)
    keyed = {"X-API-Key": "k3y"}
    assert [
        call(s.url, gesture(frames), {**keyed, "X-Forwarded-For": ip})[0] for s, ip in ((a, "1.1.1.1"), (b, "2.2.2.2"), (a, "3.3.3.3"))
    ] == [200] * 3
    assert call(b.url, gesture(frames), {**keyed, "X-Forwarded-For": "4.4.4.4"})[0] == 429
    assert call(a.url, gesture(frames), {"X-API-Key": "wrong"})[0] == 401  # refused before it counts


def test_a_reference_photo_embedded_on_one_instance_is_a_hit_on_the_other(serve, redis_server, face_photos):
    a, b = (serve("verify_face", REDIS_URL=redis_server.url) for _ in range(2))
    body = photos_body(face_photos)
    status, first, _ = call(a.url, body)
    assert status == 200 and first["verified"] is True
    status, second, _ = call(b.url, body)
    assert status == 200
    # The same answer, stage timings included (as first computed), without computing it.
    assert {k: v for k, v in second.items() if k != "time_ms"} == {k: v for k, v in first.items() if k != "time_ms"}
    assert second["time_ms"]["img1"] == first["time_ms"]["img1"]
    assert second["time_ms"]["total"] < first["time_ms"]["total"] / 3
    cache = call(b.url)[1]["embedding_cache"]
    assert cache["backend"] == "redis" and cache["shared"]["hits"] == 2 and cache["shared"]["misses"] == 0
    assert cache["shared"]["state"] == "ok" and len(redis_server.client().keys("tflite-fn:face-embedding:*")) == 2


def test_redis_killed_mid_run_every_request_is_answered_and_state_recovers(serve, redis_server, face_photos, frames):
    common = {"REDIS_URL": redis_server.url, "RATE_LIMITS": "1000/minute", "REDIS_TIMEOUT_S": "0.2"}
    verify = serve("verify_face", **common)
    open_ = serve("predict_gesture", **common, RATE_LIMIT_FAIL="open")
    closed = serve("predict_gesture", **common, RATE_LIMIT_FAIL="closed")

    def round_(pair: tuple[str, str]) -> list[int]:
        started = time.perf_counter()
        statuses = [call(verify.url, photos_body(face_photos, *pair))[0], call(open_.url, gesture(frames))[0]]
        statuses.append(call(closed.url, gesture(frames))[0])
        assert time.perf_counter() - started < 20, "a request hung"
        return statuses

    assert round_(("obama.jpg", "obama2.jpg")) == [200, 200, 200]
    redis_server.stop()
    for pair in (("obama.jpg", "obama3.jpg"), ("obama3.jpg", "obama2.jpg"), ("obama.jpg", "obama2.jpg")):
        statuses = round_(pair)
        assert statuses[:2] == [200, 200]  # cache fails open; the limiter too (RATE_LIMIT_FAIL=open)
        assert statuses[2] == 503  # RATE_LIMIT_FAIL=closed
    status, body, headers = call(closed.url, gesture(frames))
    assert status == 503 and body["error"]["code"] == "rate_limiter_unavailable" and int(headers["Retry-After"]) >= 1
    health = call(verify.url)[1]["embedding_cache"]["shared"]
    assert health["state"] == "unavailable" and health["errors"] >= 1 and "redis://" not in json.dumps(health)

    redis_server.start()  # the same port, empty
    time.sleep(0.7)  # REDIS_RETRY_S=0.5
    assert round_(("biden.jpg", "obama3.jpg")) == [200, 200, 200]
    assert len(redis_server.client().keys("tflite-fn:face-embedding:*")) == 1  # the new photo, written again
    assert redis_server.client().keys("tflite-fn:limits*")
    assert call(verify.url)[1]["embedding_cache"]["shared"]["state"] == "ok"


def test_a_redis_that_never_answers_slows_no_request_for_long(serve, face_photos, frames):
    """A Redis that accepts connections and never replies (a hung server, a black hole)."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        env = {"REDIS_URL": url, "RATE_LIMITS": "100/minute", "REDIS_TIMEOUT_S": "0.2", "REDIS_RETRY_S": "30"}
        gesture_server, verify_server = serve("predict_gesture", **env), serve("verify_face", **env)
        slowest = 0.0
        for _ in range(5):
            started = time.perf_counter()
            assert call(gesture_server.url, gesture(frames))[0] == 200
            assert call(verify_server.url, photos_body(face_photos))[0] == 200
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 5  # the first round pays one 0.2 s timeout per store (and model loading)
        assert call(verify_server.url)[1]["embedding_cache"]["shared"]["errors"] == 1  # then the breaker holds
