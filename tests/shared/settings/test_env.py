"""Settings read from the environment: defaults, and bad values named."""

import pytest

from shared.settings import Settings, SettingsError


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


def test_gallery_keys_map_each_key_to_its_galleries(monkeypatch):
    monkeypatch.setenv("GALLERY_KEYS", " shop-a=key=with=equals ; shop-b, shop-b.test=k2 ;")
    monkeypatch.setenv("GALLERY_URL", "postgresql://u:secret@db.internal/g")
    s = Settings.from_env()
    assert s.gallery_keys == (("key=with=equals", frozenset({"shop-a"})), ("k2", frozenset({"shop-b", "shop-b.test"})))
    public = s.public()  # health shows neither the URL (its password) nor the keys
    assert "secret" not in repr(public) and "k2" not in repr(public)
    assert public["gallery_configured"] is True and public["gallery_keys"] == 2


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("GALLERY_URL", "mysql://u:pw@h/db", "must start with postgresql://"),
        ("GALLERY_KEYS", "shop-a", "entry 1 must be"),
        ("GALLERY_KEYS", "shop-a=", "entry 1 must be"),
        ("GALLERY_KEYS", "../x=key", "entry 1 must be"),
        ("GALLERY_KEYS", "a=k;b=k", "one key twice"),
        ("GALLERY_EF_SEARCH", "0", "between 1 and 1000"),
    ],
)
def test_bad_gallery_settings_are_named_without_their_secrets(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message) as caught:
        Settings.from_env()
    if name != "GALLERY_EF_SEARCH":  # a URL's password or a tenant's key is never echoed
        assert value not in str(caught.value) and "pw" not in str(caught.value)
