"""predict_gesture from pixels, through functions-framework: every input form, no hand, two
hands, a rotated and a mirrored photo, the hand models' lazy load, and the new fields' bad
values. Photos: tests/data/hands (shipped, NOTICE.md) and the face-recognition sdist's."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from functions_framework import create_app
from PIL import Image

from tools import testdata

SOURCE = "functions/predict_gesture/main.py"
SIGNS = {"open.jpg": "Open", "close.jpg": "Close", "pointer.jpg": "Pointer"}


@pytest.fixture(scope="module")
def client():
    return create_app("predict_gesture", SOURCE).test_client()


def photo(name: str) -> bytes:
    return (testdata.hand_photos() / name).read_bytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def post_json(client, body: dict) -> tuple[int, dict]:
    r = client.post("/", data=json.dumps(body), content_type="application/json")
    assert "Traceback" not in r.get_data(as_text=True)
    return r.status_code, r.get_json()


def post_form(client, files: dict[str, list[bytes]], **fields: str) -> tuple[int, dict]:
    data: dict = {k: [(io.BytesIO(v), f"{k}{i}.jpg") for i, v in enumerate(vs)] for k, vs in files.items()}
    data.update(fields)
    r = client.post("/", data=data, content_type="multipart/form-data")
    assert "Traceback" not in r.get_data(as_text=True)
    return r.status_code, r.get_json()


def check_hand(hand: dict, size: tuple[int, int]) -> None:
    assert set(hand) == {"landmarks", "handedness", "handedness_score", "presence", "box"}
    points = np.asarray(hand["landmarks"])
    assert points.shape == (21, 3)
    assert (points[:, :2] > -0.05).all() and (points[:, :2] < 1.05).all()
    assert hand["handedness"] in ("Left", "Right") and 0.5 <= hand["handedness_score"] <= 1 and 0.5 <= hand["presence"] <= 1
    box = hand["box"]
    assert box["x"] >= 0 and box["x"] + box["w"] <= size[0] and box["y"] >= 0 and box["y"] + box["h"] <= size[1]
    # the box is the landmarks' extent, in pixels of the photo
    assert box["x"] == pytest.approx(max(points[:, 0].min(), 0) * size[0], abs=1)
    assert box["w"] == pytest.approx((min(points[:, 0].max(), 1) - max(points[:, 0].min(), 0)) * size[0], abs=2)


@pytest.mark.parametrize("name", sorted(SIGNS))
def test_json_image_answers_the_sign_and_the_landmarks(client, name):
    status, body = post_json(client, {"image": b64(photo(name)), "model": "hand-sign", "return_landmarks": True})
    assert status == 200, body
    assert body["label"] == SIGNS[name] and body["model"] == "hand-sign"
    assert body["frames_without_hand"] == [] and "previous" in body["missing_policy"]
    assert len(body["hands"]) == 1 and len(body["hands"][0]) == 1
    check_hand(body["hands"][0][0], (400, 300))
    assert {"decode", "hands", "preprocess", "inference", "total"} <= set(body["time_ms"])


def test_data_uri_and_multipart_image_answer_as_base64_json(client):
    data = photo("open.jpg")
    answers = [
        post_json(client, {"image": b64(data), "model": "hand-sign", "return_landmarks": True}),
        post_json(client, {"image": "data:image/jpeg;base64," + b64(data), "model": "hand-sign", "return_landmarks": True}),
        post_form(client, {"image": [data]}, model="hand-sign", return_landmarks="true"),
    ]
    for status, body in answers:
        assert status == 200, body
        body.pop("time_ms")
    assert answers[0][1] == answers[1][1] == answers[2][1]


def test_landmarks_are_left_out_unless_asked(client):
    status, body = post_json(client, {"image": b64(photo("close.jpg")), "model": "hand-sign"})
    assert status == 200 and "hands" not in body and body["frames_without_hand"] == []
    status, body = post_form(client, {"image": [photo("close.jpg")]}, model="hand-sign", return_landmarks="false", top_k="1")
    assert status == 200 and "hands" not in body and len(body["top_k"]) == 1


def test_json_frames_track_and_fill_the_frame_without_a_hand(client, face_photos):
    hand = photo("pointer.jpg")
    face = jpeg(Image.open(face_photos / "biden.jpg").convert("RGB").resize((400, 300)))
    frames = [b64(hand), b64(hand), b64(face), b64(hand)]
    status, body = post_json(client, {"frames": frames, "model": "finger-gesture", "return_landmarks": True})
    assert status == 200, body
    assert body["frames_received"] == 4 and body["frames_missing"] == 1
    assert body["frames_without_hand"] == [2] and body["missing_policy"].startswith("1 frame(s) without a hand")
    assert [len(f) for f in body["hands"]] == [1, 1, 0, 1]
    first, second = np.asarray(body["hands"][0][0]["landmarks"]), np.asarray(body["hands"][1][0]["landmarks"])
    assert np.abs(first - second)[:, :2].max() < 0.02  # frame 1 tracked from frame 0's landmarks: the same hand


def test_multipart_frames_are_read_in_order(client):
    frames = [photo("open.jpg"), photo("close.jpg")]
    status, body = post_form(client, {"frames": frames}, model="finger-gesture", return_landmarks="true")
    assert status == 200, body
    assert body["frames_received"] == 2 and body["frames_without_hand"] == []
    _, one = post_json(client, {"image": b64(frames[1]), "model": "hand-sign", "return_landmarks": True})
    assert body["hands"][1][0]["box"] == one["hands"][0][0]["box"]


def test_a_photo_without_a_hand_is_422_no_hand(client, face_photos):
    face = (face_photos / "biden.jpg").read_bytes()
    for status, body in (
        post_json(client, {"image": b64(face), "model": "hand-sign"}),
        post_form(client, {"frames": [face, face]}),
    ):
        assert status == 422 and body["error"]["code"] == "no_hand", body


def test_two_hands_with_max_hands_2(client):
    data = b64(photo("two-hands.jpg"))
    _, one = post_json(client, {"image": data, "model": "hand-sign", "return_landmarks": True})
    status, two = post_json(client, {"image": data, "model": "hand-sign", "return_landmarks": True, "max_hands": 2})
    assert status == 200, two
    assert len(one["hands"][0]) == 1 and len(two["hands"][0]) == 2
    boxes = sorted(h["box"]["x"] for h in two["hands"][0])
    assert boxes[1] - boxes[0] > 100
    status, form = post_form(client, {"image": [photo("two-hands.jpg")]}, model="hand-sign", return_landmarks="true", max_hands="2")
    assert status == 200 and len(form["hands"][0]) == 2


def test_a_rotated_photo_answers_the_same_sign_with_rotated_landmarks(client):
    data = photo("pointer.jpg")
    turned = jpeg(Image.open(io.BytesIO(data)).transpose(Image.Transpose.ROTATE_270))  # clockwise: (x, y) -> (h - y, x)
    _, upright = post_json(client, {"image": b64(data), "model": "hand-sign", "return_landmarks": True})
    status, rotated = post_json(client, {"image": b64(turned), "model": "hand-sign", "return_landmarks": True})
    assert status == 200, rotated
    assert rotated["label"] == upright["label"] == "Pointer"
    a = np.asarray(upright["hands"][0][0]["landmarks"])[:, :2] * (400, 300)
    b = np.asarray(rotated["hands"][0][0]["landmarks"])[:, :2] * (300, 400)
    expected = np.column_stack([300 - a[:, 1], a[:, 0]])
    assert np.linalg.norm(b - expected, axis=1).mean() < 0.03 * np.hypot(*np.ptp(a, axis=0))


def test_an_exif_rotated_photo_is_read_upright(client):
    data = photo("open.jpg")
    image = Image.open(io.BytesIO(data)).transpose(Image.Transpose.ROTATE_90)  # stored on its side
    exif = Image.Exif()
    exif[0x0112] = 6  # display: rotate 90 clockwise, which undoes the stored turn
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    _, upright = post_json(client, {"image": b64(data), "model": "hand-sign", "return_landmarks": True})
    status, body = post_json(client, {"image": b64(out.getvalue()), "model": "hand-sign", "return_landmarks": True})
    assert status == 200 and body["label"] == upright["label"] == "Open"
    a, b = (np.asarray(x["hands"][0][0]["landmarks"])[:, :2] for x in (upright, body))
    assert np.abs(a - b).max() < 0.03  # normalised to the upright photo in both


def test_a_mirrored_photo_swaps_handedness(client):
    for name in sorted(SIGNS):
        data = photo(name)
        mirrored = jpeg(Image.open(io.BytesIO(data)).transpose(Image.Transpose.FLIP_LEFT_RIGHT))
        _, a = post_json(client, {"image": b64(data), "model": "hand-sign", "return_landmarks": True})
        _, b = post_json(client, {"image": b64(mirrored), "model": "hand-sign", "return_landmarks": True})
        assert {a["hands"][0][0]["handedness"], b["hands"][0][0]["handedness"]} == {"Left", "Right"}, name
        assert a["label"] == b["label"] == SIGNS[name]


def test_hand_models_load_on_the_first_photo_only(monkeypatch):
    monkeypatch.delenv("API_KEY", raising=False)
    fresh = create_app("predict_gesture", SOURCE).test_client()
    status, body = post_json(fresh, {"landmarks": [[[0.5 + 0.01 * i, 0.5 - 0.01 * i] for i in range(21)]], "model": "hand-sign"})
    assert status == 200 and "frames_without_hand" not in body and "hands" not in body
    health = fresh.get("/").get_json()
    assert health["hand_models"]["state"] == "not_loaded"
    assert {b["name"] for b in health["bundles"]} == {"finger-gesture", "hand-sign"}
    status, _ = post_json(fresh, {"image": b64(photo("open.jpg")), "model": "hand-sign"})
    assert status == 200
    health = fresh.get("/").get_json()
    assert health["hand_models"]["state"] == "ready"
    assert {"hand-detector", "hand-landmarks"} <= {b["name"] for b in health["bundles"]}


IMAGE = "open.jpg"
BAD = [
    ("return_landmarks as a string", {"return_landmarks": "true"}, 400, "bad_request"),
    ("return_landmarks as 1", {"return_landmarks": 1}, 400, "bad_request"),
    ("return_landmarks null", {"return_landmarks": None}, 400, "bad_request"),
    ("max_hands 3", {"max_hands": 3}, 400, "bad_request"),
    ("max_hands 0", {"max_hands": 0}, 400, "bad_request"),
    ("max_hands true", {"max_hands": True}, 400, "bad_request"),
    ("max_hands as a string", {"max_hands": "2"}, 400, "bad_request"),
    ("max_hands 1.5", {"max_hands": 1.5}, 400, "bad_request"),
    ("image_size with a photo", {"image_size": [640, 480]}, 400, "bad_request"),
]


@pytest.mark.parametrize(("kind", "extra", "status", "code"), BAD, ids=[b[0] for b in BAD])
def test_bad_photo_options_are_refused(client, kind, extra, status, code):
    got, body = post_json(client, {"image": b64(photo(IMAGE)), "model": "hand-sign", **extra})
    assert (got, body["error"]["code"]) == (status, code), body
    assert "message" in body["error"] and "Traceback" not in body["error"]["message"]


BAD_BODIES = [
    ("image is a number", {"image": 3}, 400, "bad_request"),
    ("image is a list", {"image": ["abc"]}, 400, "bad_request"),
    ("image is not base64", {"image": "not*base64!"}, 400, "bad_request"),
    ("image is empty", {"image": ""}, 400, "bad_request"),
    ("image is base64 of text", {"image": b64(b"%PDF-1.4 not a photo" * 20)}, 415, "unsupported_image"),
    ("image is a truncated jpeg", {"image": "TRUNCATED"}, 400, "invalid_image"),
    ("frames is a string", {"frames": "abc"}, 400, "bad_request"),
    ("frames holds a number", {"frames": [3]}, 400, "bad_request"),
    ("frames is empty", {"frames": []}, 422, "no_frames"),
    ("65 frames", {"frames": ["TINY"] * 65}, 413, "too_many_frames"),
    ("image and landmarks", {"image": "IMAGE", "landmarks": [[[0.5, 0.5]] * 21]}, 400, "bad_request"),
    ("image and frames", {"image": "IMAGE", "frames": ["IMAGE"]}, 400, "bad_request"),
    ("return_landmarks with landmarks", {"landmarks": [[[0.5, 0.5]] * 21], "return_landmarks": True}, 400, "bad_request"),
    ("max_hands with features", {"features": [[0.1, 0.2]] * 16, "max_hands": 1}, 400, "bad_request"),
]


def _fill(value, data: bytes):
    if value == "IMAGE":
        return b64(data)
    if value == "TRUNCATED":
        return b64(data[: len(data) // 2])
    if value == "TINY":
        return b64(jpeg(Image.new("RGB", (32, 32))))
    if isinstance(value, list):
        return [_fill(v, data) for v in value]
    return value


@pytest.mark.parametrize(("kind", "body", "status", "code"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_photo_bodies_are_refused(client, kind, body, status, code):
    data = photo(IMAGE)
    got, answer = post_json(client, {k: _fill(v, data) for k, v in body.items()})
    assert (got, answer["error"]["code"]) == (status, code), answer


BAD_FORMS = [
    ("two image files", {"image": [b"IMAGE", b"IMAGE"]}, {}, 400, "bad_request"),
    ("empty image file", {"image": [b""]}, {}, 400, "bad_request"),
    ("an empty frame among frames", {"frames": [b"IMAGE", b""]}, {}, 400, "bad_request"),
    ("unknown file field", {"photo": [b"IMAGE"]}, {}, 400, "bad_request"),
    ("unknown text field", {"image": [b"IMAGE"]}, {"camera": "front"}, 400, "bad_request"),
    ("return_landmarks True", {"image": [b"IMAGE"]}, {"return_landmarks": "True"}, 400, "bad_request"),
    ("return_landmarks 1", {"image": [b"IMAGE"]}, {"return_landmarks": "1"}, 400, "bad_request"),
    ("max_hands 3", {"image": [b"IMAGE"]}, {"max_hands": "3"}, 400, "bad_request"),
    ("max_hands 2.0", {"image": [b"IMAGE"]}, {"max_hands": "2.0"}, 400, "bad_request"),
    ("top_k minus one", {"image": [b"IMAGE"]}, {"top_k": "-1"}, 400, "bad_request"),
    ("top_k 99", {"image": [b"IMAGE"]}, {"top_k": "99"}, 400, "bad_request"),
    ("model twice", {"image": [b"IMAGE"], "model": [b"hand-sign", b"hand-sign"]}, {}, 400, "bad_request"),
    ("landmarks as a file", {"landmarks": [b"[[0.1, 0.2]]"]}, {}, 400, "bad_request"),
    ("a gif as the image", {"image": [b"GIF"]}, {}, 422, "multi_frame_image"),
]


@pytest.mark.parametrize(("kind", "files", "fields", "status", "code"), BAD_FORMS, ids=[b[0] for b in BAD_FORMS])
def test_bad_multipart_forms_are_refused(client, kind, files, fields, status, code):
    from tools.measure import hostile

    real = {b"IMAGE": photo(IMAGE), b"GIF": hostile.animated_gif()}
    files = {k: [real.get(v, v) for v in vs] for k, vs in files.items()}
    defaults = {} if "model" in files else {"model": "hand-sign"}
    got, answer = post_form(client, files, **{**defaults, **fields})
    assert (got, answer["error"]["code"]) == (status, code), answer


def test_a_large_photo_answers_in_its_own_pixels(client):
    """A 1600x1200 photo is searched at HAND_IMAGE_SIDE (640) but answered in its own pixels."""
    data = photo("open.jpg")
    big = jpeg(Image.open(io.BytesIO(data)).resize((1600, 1200), Image.Resampling.LANCZOS))
    _, small = post_json(client, {"image": b64(data), "model": "hand-sign", "return_landmarks": True})
    status, large = post_json(client, {"image": b64(big), "model": "hand-sign", "return_landmarks": True})
    assert status == 200 and large["label"] == small["label"] == "Open"
    a, b = small["hands"][0][0], large["hands"][0][0]
    check_hand(b, (1600, 1200))
    assert np.abs(np.asarray(a["landmarks"])[:, :2] - np.asarray(b["landmarks"])[:, :2]).max() < 0.02
    for key in ("x", "y", "w", "h"):
        assert b["box"][key] == pytest.approx(4 * a["box"][key], abs=12)
