"""A bundle that is wrong where it matters fails when it loads, served: the first request
answers 503 model_unavailable with Retry-After, naming the bundle and the field, never a
generic 500 on every verification, a KeyError, or a path.

Each served bundle is a shipped one copied into tmp_path under its own name (the model
linked, so its sha256 still matches) with bundle.json edited, and configured through its
setting (FACE_EMBEDDER_MODEL, HAND_DETECTOR_MODEL)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

from functions_framework import create_app

from shared.settings import MODELS_DIR, get_settings
from tools import testdata


def edited_bundle(tmp_path: Path, name: str, edit: Callable[[dict], None]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model.tflite").symlink_to(MODELS_DIR / name / "model.tflite")
    meta = json.loads((MODELS_DIR / name / "bundle.json").read_text())
    edit(meta)
    (folder / "bundle.json").write_text(json.dumps(meta, indent=1))  # NaN written as Python's json writes it
    return folder


def served(monkeypatch, function: str, **env: str):
    for setting, value in env.items():
        monkeypatch.setenv(setting, value)
    get_settings.cache_clear()
    return create_app(function, f"functions/{function}/main.py").test_client()


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def assert_names_bundle_and_field(r, tmp_path: Path, *needles: str) -> None:
    assert r.status_code == 503, (r.status_code, r.get_data(as_text=True)[:300])
    assert int(r.headers["Retry-After"]) >= 1
    error = r.get_json()["error"]
    assert error["code"] == "model_unavailable"
    for needle in needles:
        assert needle in error["message"], error["message"]
    assert str(tmp_path) not in error["message"] and "/" not in error["message"].split("cannot be loaded:")[1]


def test_verify_face_with_a_nan_threshold_answers_503_naming_bundle_and_field_at_the_first_request(monkeypatch, tmp_path, face_photos):
    embedder = edited_bundle(tmp_path, "face-embedder-sface", lambda m: m["threshold"].update(value=float("nan")))
    client = served(monkeypatch, "verify_face", FACE_EMBEDDER_MODEL=str(embedder))
    body = {"img1": b64(face_photos / "obama.jpg"), "img2": b64(face_photos / "obama2.jpg")}
    for _ in range(2):  # the first request, and the remembered failure after it
        r = client.post("/", json=body)
        assert_names_bundle_and_field(
            r,
            tmp_path,
            "model bundle 'face-embedder-sface' cannot be loaded: bundle.json threshold.value is NaN; expected a finite number in (0, 2]",
        )


def test_predict_gesture_photos_with_a_hand_bundle_missing_its_rotation_keypoints_answer_503_naming_bundle_and_field(monkeypatch, tmp_path):
    def drop_rotation_keypoints(meta: dict) -> None:
        rect = meta["postprocessing"]["hand_rect"]
        del rect["rotation_start_keypoint"], rect["rotation_end_keypoint"]

    detector = edited_bundle(tmp_path, "hand-detector", drop_rotation_keypoints)
    client = served(monkeypatch, "predict_gesture", HAND_DETECTOR_MODEL=str(detector))
    r = client.post("/", json={"image": b64(testdata.hand_photos() / "open.jpg"), "model": "hand-sign"})
    assert_names_bundle_and_field(
        r, tmp_path, "model bundle 'hand-detector' cannot be loaded", "postprocessing.hand_rect.rotation_start_keypoint is missing"
    )
    # Landmarks need no hand model: the gesture bundles still serve them.
    landmarks = [[[0.5 + 0.01 * i, 0.5 - 0.01 * i] for i in range(21)]]
    ok = client.post("/", json={"landmarks": landmarks, "model": "hand-sign"})
    assert ok.status_code == 200, ok.get_json()
