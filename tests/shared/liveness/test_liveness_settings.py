"""LIVENESS_SECRET and its settings: read once, checked at start, never shown by health."""

from __future__ import annotations

import pytest

from shared.liveness.options import LivenessOptions
from shared.settings import Settings, SettingsError


def test_liveness_is_off_without_a_secret(monkeypatch):
    monkeypatch.delenv("LIVENESS_SECRET", raising=False)
    settings = Settings.from_env()
    assert not LivenessOptions.from_settings(settings).enabled and settings.public()["liveness_enabled"] is False


def test_a_short_secret_is_refused_at_start(monkeypatch):
    monkeypatch.setenv("LIVENESS_SECRET", "too-short")
    with pytest.raises(SettingsError, match="LIVENESS_SECRET must be at least 32 bytes"):
        Settings.from_env()


def test_the_secret_is_read_into_the_options_and_never_shown(monkeypatch):
    secret = "k" * 40
    monkeypatch.setenv("LIVENESS_SECRET", secret)
    monkeypatch.setenv("LIVENESS_TTL_S", "45")
    monkeypatch.setenv("MAX_LIVENESS_FRAMES", "20")
    settings = Settings.from_env()
    options = LivenessOptions.from_settings(settings)
    assert options.enabled and options.secret == secret.encode() and options.ttl_s == 45 and options.max_frames == 20
    public = settings.public()
    assert public["liveness_enabled"] is True and secret not in repr(public) and "liveness_secret" not in public
