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
