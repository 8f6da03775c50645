"""TTLCache: LRU with a time-to-live."""

from shared.state.cache import TTLCache


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
