"""State shared through Redis (shared/state/store.py, shared_cache.py, shared/edge/ratelimit.py)
against a real redis-server (tests/redis_server.py): each "instance" here is its own
SharedStore, as two processes would have."""

from __future__ import annotations

import dataclasses
import socket
import time
from types import SimpleNamespace

import numpy as np
import pytest

from shared.edge.ratelimit import RateLimiter
from shared.errors import RateLimited, ServiceUnavailable, error_response
from shared.face.results import FaceEmbedding, FaceResult, Landmarks
from shared.state.shared_cache import RecordCodec, RedisCache, TieredCache, make_cache
from shared.state.store import SharedStore, StoreOptions

CODEC = RecordCodec(FaceEmbedding, "embedding", {"face": FaceResult.from_record})
KEY = ("ab" * 32, "face-embedder-dlib", "1.0.0")


def embedding(seed: int = 0) -> FaceEmbedding:
    vector = np.random.default_rng(seed).standard_normal(128).astype(np.float32)
    face = FaceResult((1.25, 2.0, 30.5, 40.0), Landmarks(*((5.5 + i, 6.0 - i / 3) for i in range(6))), 0.91234567)
    return FaceEmbedding(vector, face, 1, "face-detector-short", {"decode": 1.5, "embed": 20.25})


def store(url: str, retry_s: float = 0.3, timeout_s: float = 0.25) -> SharedStore:
    return SharedStore(StoreOptions(url, timeout_s, retry_s))


def request(xff: str = "", remote: str = "10.9.9.9", api_key: str = "") -> SimpleNamespace:
    headers = {k: v for k, v in (("X-Forwarded-For", xff), ("X-API-Key", api_key)) if v}
    return SimpleNamespace(headers=headers, remote_addr=remote)


# ---- the codec ----------------------------------------------------------------------------


def test_codec_round_trips_exactly_and_compactly():
    value = embedding()
    data = CODEC.encode(value)
    back = CODEC.decode(data)
    assert back.embedding.dtype == np.float32 and np.array_equal(back.embedding, value.embedding)
    assert (back.face, back.faces_found, back.detector, back.time_ms) == (value.face, 1, "face-detector-short", value.time_ms)
    assert isinstance(back.face.landmarks, Landmarks) and back.face.to_area() == value.face.to_area()
    assert len(data) < 128 * 4 + 450  # the array's bytes and a small header
    assert b"pickle" not in data and not data.startswith(b"\x80")


@pytest.mark.parametrize("data", [b"", b"\x00\x00\x00\x05{bad}", b"\x00\x00\x00\x02{}" + b"\x00" * 8, CODEC.encode(embedding())[:-3]])
def test_codec_refuses_what_it_did_not_write(data):
    with pytest.raises(ValueError, match="not a cached FaceEmbedding"):
        CODEC.decode(data)


# ---- the cache ----------------------------------------------------------------------------


def test_an_embedding_put_by_one_instance_is_a_hit_on_another(redis_server):
    first = make_cache(16, 60, store(redis_server.url), CODEC, "face-embedding")
    second = make_cache(16, 60, store(redis_server.url), CODEC, "face-embedding")
    assert isinstance(first, TieredCache) and second.get(KEY) is None
    first.put(KEY, embedding(1))
    hit = second.get(KEY)
    assert hit is not None and np.array_equal(hit.embedding, embedding(1).embedding)
    assert second.stats()["shared"]["hits"] == 1 and second.stats()["local"]["size"] == 1  # kept locally too
    # The key is a hash of its parts (the photo's sha256, the model, its version): none of
    # them reaches Redis; the value is sealed with them (no template readable there); it expires.
    client = redis_server.client()
    (stored,) = client.keys("*")
    assert stored == first.shared.redis_key(KEY).encode() and stored.startswith(b"tflite-fn:face-embedding:")
    assert not any(part.encode() in stored for part in KEY)
    value = client.get(stored)
    assert CODEC.encode(embedding(1)) not in value and b"face-detector-short" not in value and b"_shape" not in value
    assert 0 < client.ttl(stored) <= 60


def test_keys_expire_after_the_ttl(redis_server):
    cache = RedisCache(store(redis_server.url), 1, CODEC, "face-embedding")
    cache.put(KEY, embedding())
    assert cache.get(KEY) is not None
    time.sleep(1.6)
    assert cache.get(KEY) is None and redis_server.client().dbsize() == 0


def test_without_a_store_the_cache_is_the_instance_own():
    assert type(make_cache(16, 60, None, CODEC, "x")).__name__ == "TTLCache"
    assert type(make_cache(0, 60, store("redis://127.0.0.1:1/0"), CODEC, "x")).__name__ == "TTLCache"  # 0 = off


def test_a_value_it_cannot_read_is_a_miss(redis_server):
    cache = RedisCache(store(redis_server.url), 60, CODEC, "face-embedding")
    redis_server.client().set(cache.redis_key(KEY), b"\x80\x04 not ours")
    assert cache.get(KEY) is None and cache.store.available()


def test_a_value_sealed_for_another_key_or_altered_is_a_miss(redis_server):
    """A value copied from another photo's key, or altered in Redis (one bit), is a miss:
    it cannot make this photo answer with another's embedding."""
    cache = RedisCache(store(redis_server.url), 60, CODEC, "face-embedding")
    other = ("cd" * 32, *KEY[1:])
    cache.put(other, embedding(2))
    client = redis_server.client()
    client.set(cache.redis_key(KEY), client.get(cache.redis_key(other)))
    assert cache.get(KEY) is None and cache.get(other) is not None
    altered = bytearray(client.get(cache.redis_key(other)))
    altered[20] ^= 1
    client.set(cache.redis_key(other), bytes(altered))
    assert cache.get(other) is None


def test_a_record_its_pipeline_could_not_have_made_is_refused_by_the_check():
    def check(value):
        if value.embedding.shape != (128,) or not np.all(np.isfinite(value.embedding)):
            raise ValueError("not an embedding of this embedder")

    codec = RecordCodec(FaceEmbedding, "embedding", {"face": FaceResult.from_record}, check)
    assert codec.decode(codec.encode(embedding())) is not None
    for bad in (np.ones(3, np.float32), np.full(128, np.nan, np.float32), np.ones((2, 128), np.float32)):
        with pytest.raises(ValueError):
            codec.decode(CODEC.encode(dataclasses.replace(embedding(), embedding=bad)))
    record = CODEC.encode(embedding())
    assert b'"score":0.91234567' in record
    with pytest.raises(ValueError):  # NaN in the JSON header (json.loads reads it by default)
        codec.decode(record.replace(b'"score":0.91234567', b'"score":NaN'))


def test_redis_down_fails_open_fast_and_recovers(redis_server):
    shared = store(redis_server.url, retry_s=0.5)
    cache = make_cache(16, 60, shared, CODEC, "face-embedding")
    cache.put(KEY, embedding())
    redis_server.stop()
    other = ("cd" * 32, "face-embedder-dlib", "1.0.0")
    started = time.perf_counter()
    assert cache.get(other) is None  # a miss, not an error
    cache.put(other, embedding(2))  # nothing raised
    assert cache.get(KEY) is not None  # this instance's own tier still answers
    assert time.perf_counter() - started < 1.0
    assert cache.stats()["shared"]["state"] == "unavailable" and shared.errors >= 1
    # While the breaker is open Redis is not even tried.
    errors = shared.errors
    for _ in range(20):
        cache.shared.get(other)
    assert shared.errors == errors
    redis_server.start()
    time.sleep(0.6)
    cache.put(other, embedding(2))
    assert redis_server.client().exists(cache.shared.redis_key(other)) == 1
    assert cache.stats()["shared"]["state"] == "ok"


def test_a_redis_that_never_answers_costs_one_timeout(tmp_path):
    with socket.socket() as silent:  # accepts connections (backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        cache = RedisCache(store(url, retry_s=30, timeout_s=0.2), 60, CODEC, "face-embedding")
        started = time.perf_counter()
        for _ in range(10):
            assert cache.get(KEY) is None
        assert time.perf_counter() - started < 1.0  # one 0.2 s timeout, then the breaker
        assert cache.store.errors == 1


# ---- rate limits --------------------------------------------------------------------------


def test_client_identity_follows_the_trusted_hops():
    limiter = RateLimiter("f", "5/minute", None, fail="open", proxy_hops=1)
    assert limiter.client("", "", "10.0.0.1") == "ip:10.0.0.1"
    assert limiter.client("", "198.51.100.7", "10.0.0.1") == "ip:198.51.100.7"
    # What the client wrote itself stands left of what the front end appended.
    assert limiter.client("", "1.2.3.4, 198.51.100.7", "10.0.0.1") == "ip:198.51.100.7"
    two = RateLimiter("f", "5/minute", None, fail="open", proxy_hops=2)
    assert two.client("", "1.2.3.4, 198.51.100.7, 35.1.1.1", "10.0.0.1") == "ip:198.51.100.7"
    assert two.client("", "198.51.100.7", "10.0.0.1") == "ip:10.0.0.1"  # fewer hops than trusted
    direct = RateLimiter("f", "5/minute", None, fail="open", proxy_hops=0)
    assert direct.client("", "1.2.3.4", "10.0.0.1") == "ip:10.0.0.1"
    # An API key identifies the client only when one is configured (and so was checked).
    keyed = RateLimiter("f", "5/minute", None, fail="open", proxy_hops=1, keyed=True)
    assert keyed.client("s3cret", "1.2.3.4", "10.0.0.1").startswith("key:") and "s3cret" not in keyed.client("s3cret", "", "")
    assert limiter.client("made-up", "", "10.0.0.1") == "ip:10.0.0.1"
    # IPv6: a client rotating addresses within its /64 is one client; IPv4-mapped is IPv4.
    assert direct.client("", "", "2001:db8:1:2::1") == direct.client("", "", "2001:db8:1:2:ffff::9") == "ip:2001:db8:1:2::/64"
    assert direct.client("", "", "2001:db8:1:3::1") != direct.client("", "", "2001:db8:1:2::1")
    assert limiter.client("", "[2001:db8::7]", "10.0.0.1") == "ip:2001:db8::/64"
    assert direct.client("", "", "::ffff:192.0.2.9") == "ip:192.0.2.9"


def test_over_the_limit_is_a_429_with_its_headers():
    limiter = RateLimiter("f", "3/minute;10/hour", None, fail="open", proxy_hops=1)
    for _ in range(3):
        limiter.admit(request("1.1.1.1"))
    with pytest.raises(RateLimited) as refused:
        limiter.admit(request("1.1.1.1"))
    limiter.admit(request("2.2.2.2"))  # another client has its own count
    body, status, headers = error_response(refused.value)
    assert status == 429 and body["error"]["code"] == "rate_limited" and "3 per minute" in body["error"]["message"]
    assert 1 <= int(headers["Retry-After"]) <= 60 and headers["Retry-After"] == headers["RateLimit-Reset"]
    assert (headers["RateLimit-Limit"], headers["RateLimit-Remaining"], headers["RateLimit-Policy"]) == ("3", "0", "3;w=60")
    assert limiter.status() == {"limits": ["3/minute", "10/hour"], "backend": "memory", "fail": "open", "refused": 1}


def test_the_limit_holds_across_instances_sharing_redis(redis_server):
    a = RateLimiter("f", "4/minute", store(redis_server.url), fail="open", proxy_hops=1)
    b = RateLimiter("f", "4/minute", store(redis_server.url), fail="open", proxy_hops=1)
    for limiter in (a, b, a, b):
        limiter.admit(request("1.1.1.1"))
    for limiter in (a, b):
        with pytest.raises(RateLimited):
            limiter.admit(request("1.1.1.1"))
    keys = redis_server.client().keys("*")
    assert keys and all(k.startswith(b"tflite-fn:limits") for k in keys)
    assert all(0 < redis_server.client().ttl(k) <= 60 for k in keys)  # counts expire with their window


@pytest.mark.parametrize("fail", ["open", "closed"])
def test_redis_down_follows_rate_limit_fail_and_recovers(redis_server, fail):
    limiter = RateLimiter("f", "3/minute", store(redis_server.url, retry_s=0.5), fail=fail, proxy_hops=1)
    limiter.admit(request("1.1.1.1"))
    redis_server.stop()
    started = time.perf_counter()
    if fail == "open":
        for _ in range(3):  # counted in this instance meanwhile: still a limit
            limiter.admit(request("1.1.1.1"))
        with pytest.raises(RateLimited):
            limiter.admit(request("1.1.1.1"))
    else:
        with pytest.raises(ServiceUnavailable) as down:
            limiter.admit(request("1.1.1.1"))
        assert down.value.code == "rate_limiter_unavailable" and down.value.retry_after
    assert time.perf_counter() - started < 1.0
    assert limiter.status()["store"]["state"] == "unavailable"
    redis_server.start()  # empty: the counts it held are gone
    time.sleep(0.6)
    limiter.admit(request("1.1.1.1"))
    assert redis_server.client().keys("tflite-fn:limits*")


# ---- settings and the served edge, without Redis ---------------------------------------------


def test_settings_check_the_new_variables(monkeypatch):
    from shared.settings import Settings, SettingsError

    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@10.0.0.3:6379/0")
    monkeypatch.setenv("RATE_LIMITS", "20/hour;100/day")
    for marker in ("K_SERVICE", "RENDER"):
        monkeypatch.delenv(marker, raising=False)
    settings = Settings.from_env()
    # Served directly (no platform front end known), X-Forwarded-For is the client's own writing.
    assert (settings.rate_limit_fail, settings.rate_limit_proxy_hops, settings.redis_timeout_s) == ("open", 0, 0.25)
    for marker, value in (("K_SERVICE", "verify-face"), ("RENDER", "true")):
        monkeypatch.setenv(marker, value)
        assert Settings.from_env().rate_limit_proxy_hops == 1  # Cloud Run, Knative, Render append the address
        monkeypatch.delenv(marker)
    public = settings.public()
    assert public["redis_configured"] is True and "hunter2" not in str(public) and "redis_url" not in public
    for name, value, message in (
        ("REDIS_URL", "http://:hunter2@host", "REDIS_URL must start with"),
        ("RATE_LIMITS", "lots", "RATE_LIMITS must look like"),
        ("RATE_LIMIT_FAIL", "maybe", "RATE_LIMIT_FAIL must be one of"),
    ):
        monkeypatch.setenv(name, value)
        with pytest.raises(SettingsError, match=message) as error:
            Settings.from_env()
        assert "hunter2" not in str(error.value)
        monkeypatch.delenv(name)


def test_served_edge_limits_posts_not_health_checks(monkeypatch):
    """predict_gesture through functions-framework, limits counted in this process's memory."""
    from functions_framework import create_app

    from shared.settings import get_settings

    monkeypatch.setenv("RATE_LIMITS", "2/minute")
    monkeypatch.setenv("RATE_LIMIT_PROXY_HOPS", "1")  # as behind Cloud Run's front end
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    client = create_app("predict_gesture", "functions/predict_gesture/main.py").test_client()
    body = {"model": "finger-gesture", "features": [[0.0, 0.0]] * 16}
    for _ in range(3):
        assert client.get("/").status_code == 200  # never counted
    assert [client.post("/", json=body).status_code for _ in range(2)] == [200, 200]
    refused = client.post("/", json=body)
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "rate_limited"
    assert refused.headers["RateLimit-Limit"] == "2" and int(refused.headers["Retry-After"]) >= 1
    assert client.post("/", json=body, headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 200
    assert client.get("/").get_json()["rate_limits"] == {"limits": ["2/minute"], "backend": "memory", "fail": "open", "refused": 1}
