"""predict_gesture from clips, through functions-framework: mp4 as a multipart file, webm as
base64, animated GIF and WebP, sampled to the bundle's frame count; `return_landmarks:
"holistic"` (pose, face and hands); the new fields' bad values. Clips are made in the test
from the shipped hand photos (tests/data/hands) with PyAV (tools/measure/hostile_video.py)."""

from __future__ import annotations

import base64
import io
import json

import pytest
from functions_framework import create_app
from PIL import Image

from tools import testdata
from tools.measure import hostile_video as hv

SOURCE = "functions/predict_gesture/main.py"


@pytest.fixture(scope="module")
def client():
    """In process, the memory guard reads this test process's RSS, several hundred MB into a
    full run (437 MiB on tflite-runtime 2.14's run, where every request here was refused
    503 memory_pressure): a tier the size of the machine keeps it out of the way, as
    tests/functions/test_replay.py does. The served memory is measured by the benchmarks."""
    from shared.settings import get_settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEMORY_LIMIT_MB", "65536")
        get_settings.cache_clear()
        yield create_app("predict_gesture", SOURCE).test_client()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    return {n: (testdata.hand_photos() / n).read_bytes() for n in ("open.jpg", "pointer.jpg", "close.jpg", "two-hands.jpg")}


def post(client, body: dict | None = None, files: dict[str, bytes] | None = None, **fields: str) -> tuple[int, dict]:
    if files is not None:
        data: dict = {k: (io.BytesIO(v), f"{k}.bin") for k, v in files.items()}
        r = client.post("/", data={**data, **fields}, content_type="multipart/form-data")
    else:
        r = client.post("/", data=json.dumps(body), content_type="application/json")
    text = r.get_data(as_text=True)
    assert "Traceback" not in text
    return r.status_code, json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in an answer"))


def test_an_mp4_clip_is_sampled_to_the_bundles_frames(client, photos):
    clip = hv.clip([photos["pointer.jpg"]] * 8)
    status, answer = post(client, files={"video": clip}, model="hand-sign")
    assert status == 200 and answer["label"] == "Pointer", answer
    status, answer = post(client, files={"video": clip})  # finger-gesture: a 16-frame window
    assert status == 200 and answer["frames_received"] == 16 and answer["frames_without_hand"] == []


@pytest.mark.parametrize("kind", ["webm", "gif", "webp"])
def test_webm_gif_and_webp_clips_as_base64(client, photos, kind):
    # the photo and a re-encoded copy in turn (identical frames would be merged into a still WebP)
    again = io.BytesIO()
    Image.open(io.BytesIO(photos["open.jpg"])).save(again, "JPEG", quality=70)
    frames = [photos["open.jpg"], again.getvalue()] * 3
    clip = hv.animated_webp(frames) if kind == "webp" else hv.clip(frames, kind, {"webm": "vp8", "gif": "gif"}[kind])
    status, answer = post(client, {"video": base64.b64encode(clip).decode(), "model": "hand-sign"})
    assert status == 200 and answer["label"] == "Open", answer


def test_return_landmarks_holistic_adds_pose_and_face_beside_the_hands(client, photos):
    clip = hv.clip([photos["two-hands.jpg"]] * 4)
    status, answer = post(client, files={"video": clip}, model="hand-sign", return_landmarks='"holistic"', max_hands="2")
    assert status == 200, answer
    assert len(answer["pose"]) == len(answer["face"]) == len(answer["hands"]) == 1  # hand-sign: one frame
    pose, face = answer["pose"][0], answer["face"][0]
    assert len(pose) == 33 and all(len(p) == 4 for p in pose)
    assert len(face) == 468 and all(len(p) == 3 for p in face)
    nose = pose[0]
    xs = [p[0] for p in face]
    assert min(xs) < nose[0] < max(xs)  # the pose's nose sits inside the face mesh
    assert len(answer["hands"][0]) == 2 and "holistic" in answer["time_ms"]
    status, plain = post(client, files={"video": clip}, model="hand-sign", return_landmarks="true")
    assert status == 200 and "pose" not in plain and "face" not in plain and len(plain["hands"]) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"video": "bm90IGEgY2xpcA==", "frames": []}, "bad_request"),
        ({"video": 12}, "bad_request"),
        ({"video": "%%%"}, "bad_request"),
        ({"image": "", "return_landmarks": "pose"}, "bad_request"),
    ],
)
def test_bad_video_fields_are_400(client, body, code):
    status, answer = post(client, body)
    assert status == 400 and answer["error"]["code"] == code, answer


def test_return_landmarks_yes_is_refused(client, photos):
    status, answer = post(client, {"image": base64.b64encode(photos["open.jpg"]).decode(), "return_landmarks": "yes"})
    assert status == 400 and "holistic" in answer["error"]["message"]
