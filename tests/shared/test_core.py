"""Settings, lazy loading, the cache, the memory guard and error mapping: pure Python."""

import logging
import threading
import time

import pytest

from shared.edge.admission import MemoryGuard
from shared.errors import BadRequest, BundleError, ServiceUnavailable, error_response
from shared.runtime.lazy import Lazy
from shared.settings import Settings, SettingsError
from shared.state.cache import TTLCache


def test_settings_defaults_suit_the_512mb_tier(monkeypatch):
    for name in ("MEMORY_LIMIT_MB", "INTERPRETER_THREADS", "VERIFY_THRESHOLD", "API_KEY"):
        monkeypatch.delenv(name, raising=False)
    s = Settings.from_env()
    assert s.memory_limit_mb == 512 and s.interpreter_threads == 1
    assert s.verify_threshold is None and s.api_key == ""
    assert "api_key" not in s.public() and s.public()["api_key_required"] is False


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("MEMORY_LIMIT_MB", "lots", "must be a int"),
        ("INTERPRETER_THREADS", "0", "between 1 and 64"),
        ("EMBEDDING_CACHE_SIZE", "-1", "between 0"),
        ("GESTURE_MODEL", " , ", "at least one bundle"),
    ],
)
def test_bad_settings_are_named(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        Settings.from_env()


def test_warn_level_must_not_exceed_critical(monkeypatch):
    monkeypatch.setenv("MEMORY_WARN_FRACTION", "0.9")
    monkeypatch.setenv("MEMORY_CRITICAL_FRACTION", "0.8")
    with pytest.raises(SettingsError, match="must not exceed"):
        Settings.from_env()


def test_errors_map_to_json_and_hide_internals():
    body, status, headers = error_response(BadRequest("img1 is not valid base64"))
    assert (status, body) == (400, {"error": {"code": "bad_request", "message": "img1 is not valid base64"}})
    body, status, headers = error_response(ServiceUnavailable("down", retry_after=3.2))
    assert status == 503 and headers == {"Retry-After": "4"}  # rounded up: never back before it is ready
    body, status, _ = error_response(KeyError("secret internal detail"))
    assert status == 500 and "secret" not in str(body)


def test_lazy_builds_once_under_concurrent_first_calls():
    calls = []

    def build():
        calls.append(1)
        time.sleep(0.05)
        return object()

    lazy = Lazy("thing", build)
    results = []
    threads = [threading.Thread(target=lambda: results.append(lazy.get())) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1
    assert lazy.status()["state"] == "ready"


def test_lazy_failure_is_503_then_retried_after_backoff():
    attempts = []

    def build():
        attempts.append(1)
        if len(attempts) == 1:
            raise BundleError("cannot read gs://secret-bucket/m: timeout", reason="object storage unreachable", bundle="m")
        return "model"

    lazy = Lazy("face models", build, retry_s=0.2)
    with pytest.raises(ServiceUnavailable, match="model bundle 'm' cannot be loaded: object storage unreachable") as first:
        lazy.get()
    assert first.value.retry_after >= 0.2 and first.value.code == "model_unavailable"
    with pytest.raises(ServiceUnavailable):  # within the back-off: no new attempt
        lazy.get()
    assert len(attempts) == 1 and lazy.status() == {
        "state": "failed",
        "last_error": "model bundle 'm' cannot be loaded: object storage unreachable",
    }
    assert "secret-bucket" not in first.value.message
    time.sleep(0.25)
    assert lazy.get() == "model" and len(attempts) == 2


def test_lazy_bug_while_loading_is_a_generic_503_with_the_traceback_logged():
    def build():
        return {}["value"]  # a bundle.json read as a raw dict without its key: a bug, not an outage

    lazy = Lazy("face models", build, retry_s=5)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("shared.runtime.lazy")
    logger.addHandler(handler)
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            lazy.get()
    finally:
        logger.removeHandler(handler)
    assert caught.value.code == "model_unavailable" and caught.value.status == 503
    assert "value" not in caught.value.message and "KeyError" not in caught.value.message
    assert "internal error" in lazy.status()["last_error"]
    logged = [r for r in records if r.exc_info]
    assert logged and logged[0].exc_info[0] is KeyError  # the traceback reaches the log


def test_cache_is_lru_with_ttl():
    now = [0.0]
    cache = TTLCache(maxsize=2, ttl_s=10, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    now[0] = 11
    assert cache.get("a") is None
    off = TTLCache(0, 10)
    off.put("x", 1)
    assert len(off) == 0 and off.get("x") is None  # maxsize 0: nothing is kept


def test_memory_guard_warns_drops_caches_then_refuses_when_critical():
    rss = [100.0]
    dropped = []
    guard = MemoryGuard(limit_mb=200, warn_fraction=0.7, critical_fraction=0.85, read_rss=lambda: rss[0])
    guard.on_pressure(lambda: dropped.append(1))
    guard.admit()
    assert guard.status()["state"] == "ok" and not dropped and guard.in_flight == 1
    guard.done()
    assert guard.in_flight == 0 and guard.idle_low_mb == 100
    rss[0] = 150  # over 140 (warn), under 170 (critical)
    guard.admit()
    assert guard.status()["state"] == "warning" and dropped
    guard.done()
    rss[0] = 180
    with pytest.raises(ServiceUnavailable, match="memory is critical") as refused:
        guard.admit()
    assert refused.value.status == 503 and refused.value.retry_after and guard.status()["state"] == "critical"
    assert guard.in_flight == 0  # a refused request is not counted
    rss[0] = 100
    assert guard.status()["state"] == "ok"  # health reads the live figure, not the last admission
    guard.admit()
    assert guard.status()["refused"] == 1
