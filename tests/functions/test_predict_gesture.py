"""predict_gesture through functions-framework with the shipped default bundles.

Real keypoints: landmark frames are rebuilt from the held-out rows of the training data
(../shared/data/gesture, read only) so the answer can be checked against the true class;
the error cases need no data.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from functions_framework import create_app
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from shared.settings import MODELS_DIR

SOURCE = "functions/predict_gesture/main.py"
W, H = 960, 540


@pytest.fixture(scope="module")
def client():
    saved = dict(os.environ)
    os.environ.pop("GESTURE_MODEL", None)
    os.environ["MAX_FRAMES"] = "64"
    from shared.settings import get_settings

    get_settings.cache_clear()
    app = create_app("predict_gesture", SOURCE)
    yield app.test_client()
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def post(client, body) -> tuple[int, dict]:
    r = client.post("/", data=json.dumps(body), content_type="application/json")
    text = r.get_data(as_text=True)
    assert "Traceback" not in text
    return r.status_code, r.get_json()


def _heldout(path, per_class: int):
    data = np.loadtxt(path, delimiter=",")
    y, x = data[:, 0].astype(int), data[:, 1:]
    picks = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        held = idx[round(len(idx) * 0.75) :]
        picks += list(held[:: max(1, len(held) // per_class)][:per_class])
    return y[picks], x[picks]


def hand_landmarks(row: np.ndarray) -> list:
    """A keypoint.csv row (integer pixels / max abs) -> 21 MediaPipe points that give it back."""
    m = next(m for m in range(1, 4000) if np.abs(row * m - np.round(row * m)).max() < 1e-6)
    px = np.round(row * m).reshape(21, 2)
    px = px - px.min(axis=0) + 20
    return ((px + 0.5) / [W, H]).tolist()


def finger_landmarks(row: np.ndarray) -> list | None:
    offsets = np.round(row.reshape(16, 2) * [W, H])
    px = offsets - offsets.min(axis=0) + 10
    if np.any(px.max(axis=0) > [W - 1, H - 1]):
        return None
    frames = []
    for p in (px + 0.5) / [W, H]:
        hand = [[0.5, 0.5, 0.0]] * 21
        hand[8] = [float(p[0]), float(p[1]), 0.0]
        frames.append(hand)
    return frames


def test_get_answers_health_and_both_contracts(client):
    r = client.get("/")
    body = r.get_json()
    assert r.status_code == 200 and body["ready"] is True
    assert body["default_model"] == "finger-gesture"
    contracts = {c["model"]: c for c in body["contracts"]}
    assert contracts["hand-sign"]["labels"] == ["Open", "Close", "Pointer", "OK"]
    assert contracts["hand-sign"]["features_shape"] == [1, 42]
    assert contracts["finger-gesture"]["labels"] == ["Stop", "Clockwise", "Counter Clockwise", "Move"]
    assert contracts["finger-gesture"]["features_shape"] == [16, 2]
    assert all(c["input_forms"] == ["landmarks", "features"] for c in contracts.values())
    assert {b["name"] for b in body["bundles"]} == {"hand-sign", "finger-gesture"}


def test_hand_signs_from_raw_landmarks_match_the_heldout_classes(client, gesture_data):
    y, x = _heldout(gesture_data / "keypoint.csv", per_class=25)
    labels = ["Open", "Close", "Pointer", "OK"]
    hits = 0
    for cls, row in zip(y, x, strict=True):
        status, body = post(client, {"landmarks": [hand_landmarks(row)], "model": "hand-sign", "top_k": 4})
        assert status == 200, body
        assert body["model"] == "hand-sign" and len(body["top_k"]) == 4
        assert math.isclose(sum(t["probability"] for t in body["top_k"]), 1.0, abs_tol=1e-4)
        # the same row sent as features gives the same answer: the landmark recipe is exact
        _, direct = post(client, {"features": [row.tolist()], "model": "hand-sign", "top_k": 4})
        assert direct["top_k"] == body["top_k"]
        hits += body["label"] == labels[cls]
    assert hits / len(y) >= 0.9, f"{hits}/{len(y)}"


def test_finger_gestures_from_raw_landmarks_match_the_heldout_classes(client, gesture_data):
    y, x = _heldout(gesture_data / "point_history.csv", per_class=25)
    labels = ["Stop", "Clockwise", "Counter Clockwise", "Move"]
    hits = total = 0
    for cls, row in zip(y, x, strict=True):
        frames = finger_landmarks(row)
        if frames is None:
            continue
        status, body = post(client, {"landmarks": frames})
        assert status == 200, body
        assert body["model"] == "finger-gesture" and body["frames_used"] == 16 and body["frames_received"] == 16
        _, direct = post(client, {"features": row.reshape(16, 2).tolist()})
        assert direct["label"] == body["label"]
        assert abs(direct["score"] - body["score"]) < 1e-5
        hits += body["label"] == labels[cls]
        total += 1
    assert total >= 90 and hits / total >= 0.9, f"{hits}/{total}"


def test_identical_requests_get_identical_probabilities(client, gesture_examples):
    # finger-gesture is a fused LSTM, which keeps state between invocations unless reset.
    tracks = [np.asarray(t).reshape(16, 2).tolist() for t in gesture_examples["tracks"]]
    bodies = [post(client, {"features": tracks[i], "top_k": 4})[1] for i in (0, 0, 3, 1, 0)]
    assert bodies[0]["top_k"] == bodies[1]["top_k"] == bodies[4]["top_k"]
    assert bodies[0]["label"] == "Clockwise" and bodies[3]["label"] == "Counter Clockwise"


def test_longer_and_shorter_sequences_are_fitted(client):
    still = [[[0.5, 0.5]] * 21] * 40
    status, body = post(client, {"landmarks": still})
    assert status == 200 and body["frames_received"] == 40 and body["frames_used"] == 16
    assert body["label"] == "Stop"
    status, body = post(client, {"landmarks": still[:3]})
    assert status == 200 and body["frames_used"] == 3


def example(name: str) -> dict:
    """A request body shipped in docs/examples/."""
    return json.loads((MODELS_DIR.parent / "docs" / "examples" / f"{name}.json").read_text())


def probabilities(body: dict) -> dict[str, float]:
    return {item["label"]: item["probability"] for item in body["top_k"]}


def test_missing_frames_are_carried_and_counted(client):
    """finger-gesture's policy is "previous": a missing frame (null, or any null point)
    answers exactly as if the last seen frame had been sent again."""
    frames = example("fingertip-clockwise")["landmarks"]
    broken, carried = list(frames), list(frames)
    broken[5], carried[5] = None, frames[4]
    broken[9], carried[9] = [[None, 0.5], *frames[9][1:]], frames[8]
    status, body = post(client, {"landmarks": broken, "top_k": 4})
    assert status == 200 and body["frames_missing"] == 2
    status, same = post(client, {"landmarks": carried, "top_k": 4})
    assert probabilities(body) == probabilities(same)


def test_image_size_changes_the_landmark_features(client):
    """hand-sign scales normalised landmarks to pixels of the camera image: the default is
    its training camera (960 x 540); another aspect ratio gives other features."""
    hand = example("hand-open")["landmarks"][0]
    answers = {}
    for size in (None, [960, 540], [480, 640]):
        body = {"landmarks": [hand], "model": "hand-sign", "top_k": 4, **({"image_size": size} if size else {})}
        status, answer = post(client, body)
        assert status == 200
        answers[str(size)] = probabilities(answer)
    assert answers["None"] == answers["[960, 540]"]
    assert answers["[480, 640]"] != answers["None"]


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({}, 400, "bad_request"),
        ({"landmarks": [], "features": []}, 400, "bad_request"),
        ({"features": [[0.1, 0.2]], "extra": 1}, 400, "bad_request"),
        ({"features": [[0.1, 0.2, 0.3]]}, 400, "bad_request"),
        ({"features": [[0.1, "0.2"]]}, 400, "bad_request"),
        ({"features": [[0.1, True]]}, 400, "bad_request"),
        ({"features": "0.1,0.2"}, 400, "bad_request"),
        ({"features": [[0.1, 1e400]]}, 400, "bad_request"),
        ({"landmarks": [[[0.5, 0.5]] * 20]}, 400, "bad_request"),
        ({"landmarks": [[[0.5]] * 21]}, 400, "bad_request"),
        ({"landmarks": [[{"x": 0.5}] * 21]}, 400, "bad_request"),
        ({"features": [[0.1, 0.2]], "model": "nope"}, 400, "unknown_model"),
        ({"features": [[0.1, 0.2]], "top_k": 0}, 400, "bad_request"),
        ({"features": [[0.1, 0.2]], "top_k": 5}, 400, "bad_request"),
        ({"features": [[0.1, 0.2]], "top_k": True}, 400, "bad_request"),
        ({"features": [[0.1, 0.2]], "image_size": [640, 480]}, 400, "bad_request"),
        ({"landmarks": [[[0.5, 0.5]] * 21], "image_size": [640]}, 400, "bad_request"),
        ({"features": [[0.1, 0.2]] * 65}, 413, "too_many_frames"),
        ({"features": []}, 422, "no_frames"),
        ({"features": [None, [None, None]]}, 422, "no_data"),
        ({"landmarks": [None, None]}, 422, "no_data"),
        ({"landmarks": [[[0.5, 0.5]] * 21], "model": "hand-sign"}, 422, "no_data"),
    ],
)
def test_bad_requests_get_clear_errors(client, body, status, code):
    got, answer = post(client, body)
    assert (got, answer["error"]["code"]) == (status, code), answer
    assert answer["error"]["message"]


def test_unknown_model_names_the_available_ones(client):
    _, answer = post(client, {"features": [[0.0, 0.0]], "model": "lsv"})
    assert "finger-gesture" in answer["error"]["message"] and "hand-sign" in answer["error"]["message"]


def test_non_json_is_415(client):
    r = client.post("/", data="features=1", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
    max_leaves=30,
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.fixed_dictionaries({}, optional={"landmarks": _json, "features": _json, "model": _json, "top_k": _json, "image_size": _json}))
def test_no_input_gives_a_500(client, body):
    r = client.post("/", data=json.dumps(body), content_type="application/json")
    assert r.status_code in (200, 400, 413, 422), r.get_data(as_text=True)[:300]


def test_default_bundles_ship_their_heldout_tables():
    for name in ("hand-sign", "finger-gesture"):
        meta = json.loads((MODELS_DIR / name / "bundle.json").read_text())
        held = meta["metrics"]["heldout"]
        assert held["samples"] == sum(c["samples"] for c in held["per_class"].values())
        matrix = np.array(held["confusion"]["matrix"])
        assert math.isclose(held["accuracy"], np.trace(matrix) / matrix.sum(), abs_tol=1e-4)
        assert meta["runtimes_checked"].keys() == {"ai_edge_litert", "tflite_runtime"}


def test_long_landmark_sequences_with_visibility_and_presence_are_accepted(monkeypatch):
    """700 frames of 21 points in MediaPipe's object form with every documented key: under
    the default MAX_FRAMES (1024), so the value-count guard must not refuse it."""
    monkeypatch.delenv("MAX_FRAMES", raising=False)
    monkeypatch.delenv("GESTURE_MODEL", raising=False)
    from shared.settings import get_settings

    get_settings.cache_clear()
    client = create_app("predict_gesture", SOURCE).test_client()
    frames = example("fingertip-clockwise")["landmarks"]
    point = lambda p: {"x": p[0], "y": p[1], "z": 0.0, "visibility": 0.99, "presence": 0.98}  # noqa: E731
    sequence = [[point(p) for p in frames[i % len(frames)]] for i in range(700)]
    status, body = post(client, {"landmarks": sequence})
    assert status == 200, body
    assert body["frames_received"] == 700
