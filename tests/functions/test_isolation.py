"""Isolation between requests: a warm instance gives the same answer for the same input no
matter what came before it (good requests of other kinds, bad requests, failures half way),
and the same answer a brand-new instance gives. Answers are compared as exact JSON with
only `time_ms` left out.

verify_face photos get a fresh suffix after the JPEG end marker on every request (same
pixels, new sha256), so the embedding cache never answers and the models run each time.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest
from functions_framework import create_app

from tools.measure import hostile

VERIFY = "functions/verify_face/main.py"
GESTURE = "functions/predict_gesture/main.py"
ROUNDS = 3  # each kind of request comes back this many times, in a shuffled order
MODELS = Path(__file__).resolve().parents[2] / "models"


def answer(client, body) -> tuple[int, dict]:
    r = client.post("/", data=json.dumps(body), content_type="application/json")
    out = r.get_json()
    out.pop("time_ms", None)
    return r.status_code, out


def interleaved(kinds: list[str], seed: int) -> list[str]:
    order = kinds * ROUNDS
    random.Random(seed).shuffle(order)
    return order


# ---- verify_face -----------------------------------------------------------------------


class Fresh:
    """Photo bytes with a growing suffix: new sha256 each time, identical pixels."""

    def __init__(self):
        self.n = 0

    def __call__(self, data: bytes) -> str:
        self.n += 1
        return base64.b64encode(data + b"\0" * self.n if data[:2] == b"\xff\xd8" else data).decode()


def verify_requests(photos: Path) -> dict:
    read = {p.name: p.read_bytes() for p in photos.iterdir() if p.suffix in (".jpg", ".png")}
    corner = hostile.encode(hostile.Image.open(photos / "obama.jpg").crop((0, 0, 200, 200)), "JPEG")
    return {
        "same person": ("obama.jpg", "obama2.jpg"),
        "different people": ("obama2.jpg", "biden.jpg"),
        "rgba png": ("obama3.jpg", "32bit.png"),
        "partial face": ("obama_partial_face.jpg", "obama.jpg"),
        "no face": ("obama.jpg", corner),
        "second photo corrupt": ("biden.jpg", read["obama.jpg"][:5000]),
    }, read


def verify_body(spec, read, fresh) -> dict:
    return {name: fresh(read[p] if isinstance(p, str) else p) for name, p in zip(("img1", "img2"), spec, strict=True)}


def test_verify_face_answers_do_not_depend_on_earlier_requests(face_photos):
    kinds, read = verify_requests(face_photos)
    fresh = Fresh()
    cold = {}
    for kind, spec in kinds.items():  # each kind on its own brand-new instance
        cold[kind] = answer(create_app("verify_face", VERIFY).test_client(), verify_body(spec, read, fresh))
    assert cold["same person"][0] == 200 and cold["same person"][1]["verified"] is True
    assert cold["different people"][1]["verified"] is False
    assert cold["no face"][0] == 422 and cold["second photo corrupt"][0] == 400

    warm = create_app("verify_face", VERIFY).test_client()
    for kind in interleaved(list(kinds), seed=1):
        assert answer(warm, verify_body(kinds[kind], read, fresh)) == cold[kind], kind


# ---- predict_gesture -------------------------------------------------------------------


def gesture_requests(examples: dict) -> dict:
    hands, tracks = examples["hands"][:4], examples["tracks"][:4]
    pairs = lambda flat: [flat[i : i + 2] for i in range(0, len(flat), 2)]  # noqa: E731
    landmarks = [
        [[0.5 + 0.15 * h[2 * j] + t[2 * f], 0.6 + 0.15 * h[2 * j + 1] + t[2 * f + 1]] for j in range(21)]
        for f, (h, t) in enumerate(zip(hands * 4, [tracks[1]] * 16, strict=True))
    ]
    out = {
        "hand-sign features": {"features": [hands[0]], "model": "hand-sign"},
        "hand-sign other sign": {"features": [hands[2]], "model": "hand-sign", "top_k": 4},
        "hand-sign landmarks": {"landmarks": landmarks[:3], "model": "hand-sign"},
        "history 16 frames": {"features": pairs(tracks[0])},
        "history 5 frames (padded)": {"features": pairs(tracks[2])[:5], "top_k": 1},
        "history 40 frames (trimmed)": {"features": pairs(tracks[3]) * 2 + pairs(tracks[1])[:8]},
        "history with missing frames": {"features": [None, *pairs(tracks[1])[1:7], [None, None], *pairs(tracks[1])[8:]]},
        "landmarks 16 frames": {"landmarks": landmarks, "image_size": [1280, 720]},
        "bad: wrong feature count": {"features": [[0.1, 0.2, 0.3]] * 16},
        "bad: all frames missing": {"features": [None] * 16},
        "bad: unknown model": {"features": [[0.0, 0.0]], "model": "nope"},
    }
    return out


def gesture_models() -> list[str]:
    """The default bundles, plus any recurrent (LSTM/GRU) gesture bundle shipped in models/:
    recurrent models keep state between invokes unless it is reset."""
    from shared.settings import DEFAULT_GESTURE_MODELS

    defaults = {Path(p).resolve() for p in DEFAULT_GESTURE_MODELS.split(",")}
    extra = []
    for meta_path in sorted(MODELS.glob("*/bundle.json")):
        if meta_path.parent.resolve() in defaults:
            continue
        meta = json.loads(meta_path.read_text())
        text = json.dumps({k: meta.get(k) for k in ("name", "description", "conversion")}).lower()
        if meta.get("task") == "gesture-classification" and any(w in text for w in ("lstm", "gru", "recurrent")):
            extra.append(str(meta_path.parent))
    return extra


@pytest.fixture
def gesture_app_env(monkeypatch):
    recurrent = gesture_models()
    if recurrent:
        from shared.settings import DEFAULT_GESTURE_MODELS

        monkeypatch.setenv("GESTURE_MODEL", ",".join([DEFAULT_GESTURE_MODELS, *recurrent]))
    return [json.loads((Path(p) / "bundle.json").read_text())["name"] for p in recurrent]


def test_predict_gesture_answers_do_not_depend_on_earlier_requests(gesture_examples, gesture_app_env):
    kinds = gesture_requests(gesture_examples)
    for name in gesture_app_env:  # recurrent bundles get the same sequences
        kinds[f"{name} 16 frames"] = {**kinds["history 16 frames"], "model": name}
        kinds[f"{name} with missing frames"] = {**kinds["history with missing frames"], "model": name}
    cold = {kind: answer(create_app("predict_gesture", GESTURE).test_client(), body) for kind, body in kinds.items()}
    assert all(status == 200 for kind, (status, _) in cold.items() if not kind.startswith("bad")), cold
    assert [cold[k][0] for k in kinds if k.startswith("bad")] == [400, 422, 400]
    assert len({cold[k][1]["label"] for k in kinds if not k.startswith("bad")}) > 1, "every request got one label"

    warm = create_app("predict_gesture", GESTURE).test_client()
    for kind in interleaved(list(kinds), seed=2):
        assert answer(warm, kinds[kind]) == cold[kind], kind
