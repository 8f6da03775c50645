"""Health in two levels, through functions-framework: brief for anyone, detailed with the
API key; never a path, a bucket or a model download from object storage on a probe."""

from __future__ import annotations

import json

import pytest
from functions_framework import create_app

from shared import __version__
from shared.settings import MODELS_DIR, get_settings

SOURCES = {"verify_face": "functions/verify_face/main.py", "predict_gesture": "functions/predict_gesture/main.py"}
KEY = "health-test-key"


def app(monkeypatch, function: str, **env: str):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return create_app(function, SOURCES[function]).test_client()


@pytest.mark.parametrize("function", list(SOURCES))
def test_anyone_gets_ready_name_and_version_only_when_a_key_is_set(monkeypatch, function):
    client = app(monkeypatch, function, API_KEY=KEY)
    for headers in ({}, {"X-API-Key": "wrong"}):
        r = client.get("/", headers=headers)
        assert r.status_code == 200
        assert r.get_json() == {"function": function, "ready": False, "version": __version__}


@pytest.mark.parametrize("function", list(SOURCES))
def test_the_key_opens_the_detailed_report_without_paths(monkeypatch, function):
    client = app(monkeypatch, function, API_KEY=KEY)
    body = client.get("/", headers={"X-API-Key": KEY}).get_json()
    assert body["version"] == __version__ and body["function"] == function
    assert {"models", "runtime", "memory", "settings"} <= set(body)
    assert body["settings"]["api_key_required"] is True
    text = json.dumps(body)
    assert str(MODELS_DIR) not in text and "/models/" not in text and KEY not in text


@pytest.mark.parametrize("function", list(SOURCES))
def test_without_a_key_configured_a_public_instance_tells_anyone_the_brief_report_only(monkeypatch, function):
    """Issue 23 item 4: with no API_KEY, the default (HEALTH_DETAILS=key) shows nobody the
    settings, limits, memory or bundle hashes; whatever key a request sends."""
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.delenv("HEALTH_DETAILS", raising=False)
    client = app(monkeypatch, function)
    for headers in ({}, {"X-API-Key": ""}, {"X-API-Key": "anything"}):
        assert client.get("/", headers=headers).get_json() == {"function": function, "ready": False, "version": __version__}


def test_health_details_open_shows_the_detailed_report_to_anyone_without_a_key(monkeypatch):
    monkeypatch.delenv("API_KEY", raising=False)
    body = app(monkeypatch, "verify_face", HEALTH_DETAILS="open").get("/").get_json()
    assert "memory" in body and body["settings"]["api_key_required"] is False and body["settings"]["health_details"] == "open"


def test_with_a_key_configured_health_details_open_still_needs_the_key(monkeypatch):
    client = app(monkeypatch, "verify_face", API_KEY=KEY, HEALTH_DETAILS="open")
    assert set(client.get("/").get_json()) == {"function", "ready", "version"}
    assert "memory" in client.get("/", headers={"X-API-Key": KEY}).get_json()


def test_health_details_takes_key_or_open_only(monkeypatch):
    from shared.settings import Settings, SettingsError

    monkeypatch.setenv("HEALTH_DETAILS", "true")
    with pytest.raises(SettingsError, match="HEALTH_DETAILS must be one of key, open"):
        Settings.from_env()


@pytest.mark.parametrize("function", list(SOURCES))
def test_head_answers_health_without_a_body(monkeypatch, function):
    r = app(monkeypatch, function).head("/")
    assert r.status_code == 200 and r.data == b""


def test_gesture_health_loads_local_bundles_but_never_object_storage(monkeypatch):
    local = app(monkeypatch, "predict_gesture").get("/").get_json()
    assert local["ready"] is True and [c["model"] for c in local["contracts"]] == ["finger-gesture", "hand-sign"]
    # A gs:// bundle: the probe must not try to fetch it (no storage answers on this port).
    remote = (
        app(
            monkeypatch,
            "predict_gesture",
            GESTURE_MODEL="gs://some-bucket/g/hand-sign",
            STORAGE_EMULATOR_HOST="http://127.0.0.1:9",
            MODEL_LOAD_TIMEOUT_S="1",
        )
        .get("/")
        .get_json()
    )
    assert remote["ready"] is False and remote["models"] == {"state": "not_loaded"}
    assert "some-bucket" not in json.dumps(remote) and remote["settings"]["gesture_models"] == ["gs://.../hand-sign"]


def test_a_bundle_json_without_a_threshold_is_a_503_naming_the_field(monkeypatch, tmp_path):
    """The typed face contract: a malformed bundle.json is a BundleError naming what is
    missing, answered 503 model_unavailable; not KeyError('value'), not a path."""
    broken = tmp_path / "face-embedder-dlib"
    broken.mkdir()
    meta = json.loads((MODELS_DIR / "face-embedder-dlib" / "bundle.json").read_text())
    del meta["threshold"]["value"]
    (broken / "bundle.json").write_text(json.dumps(meta))
    (broken / "model.tflite").symlink_to(MODELS_DIR / "face-embedder-dlib" / "model.tflite")
    client = app(monkeypatch, "verify_face", FACE_EMBEDDER_MODEL=str(broken))
    r = client.post("/", json={"img1": "aGVsbG8=", "img2": "aGVsbG8="})
    assert r.status_code == 503 and r.headers["Retry-After"]
    error = r.get_json()["error"]
    assert error["code"] == "model_unavailable"
    assert error["message"] == (
        "face models unavailable: model bundle 'face-embedder-dlib' cannot be loaded: "
        "bundle.json threshold.value is missing; expected a finite number in (0, 2]"
    )
    assert str(tmp_path) not in json.dumps(client.get("/").get_json())


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405_naming_the_allowed_ones(monkeypatch, method):
    r = app(monkeypatch, "verify_face").open("/", method=method)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD, POST, OPTIONS"
    assert r.get_json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("path", ["/robots.txt", "/favicon.ico"])
def test_framework_routes_answer_json_404(monkeypatch, path):
    r = app(monkeypatch, "predict_gesture").get(path)
    assert r.status_code == 404 and r.is_json
    assert r.get_json() == {"error": {"code": "not_found", "message": "Not Found"}}
