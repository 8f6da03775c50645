"""verify_face's liveness protocol, served as the platform serves it (tools/measure/harness.py),
two instances sharing a real Redis (tests/redis_server.py): the challenge, a burst that acts
it out (assembled from registry photos: tools/measure/liveness_bursts.py), one still photo,
and the token refusals (bad, forged, expired, reused on another instance). Without
LIVENESS_SECRET the liveness fields are refused."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
import uuid

import pytest
from functions_framework import create_app

from shared.face.options import VerifyOptions
from shared.face.verify import FaceVerifier, Stopwatch
from shared.liveness.options import LivenessOptions
from shared.liveness.token import Challenges
from shared.settings import MODELS_DIR
from tools.measure import harness
from tools.measure import liveness_bursts as bursts

SECRET = "liveness-test-secret-" + "0123456789abcdef" * 2


def call(url: str, body: dict, timeout: float = 60) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def call_multipart(url: str, frames: list[bytes], fields: dict[str, str], img2: bytes) -> tuple[int, dict]:
    boundary = uuid.uuid4().hex
    parts = [(f'name="frames"; filename="f{i}.jpg"', "image/jpeg", f) for i, f in enumerate(frames)]
    parts.append(('name="img2"; filename="ref.png"', "image/png", img2))
    parts += [(f'name="{k}"', "text/plain", v.encode()) for k, v in fields.items()]
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: form-data; {d}\r\nContent-Type: {t}\r\n\r\n".encode() + data + b"\r\n"
        for d, t, data in parts
    )
    body += f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def servers():
    from tools.measure.redis_server import RedisServer

    redis = RedisServer().start()
    env = {"LIVENESS_SECRET": SECRET, "REDIS_URL": redis.url}
    started = [harness.start("verify_face", env=env) for _ in range(2)]
    yield started
    for s in started:
        s.stop()
    redis.remove()


@pytest.fixture(scope="module")
def cropped(face_photos) -> dict[str, bytes]:
    verifier = FaceVerifier.load(VerifyOptions(str(MODELS_DIR / "face-detector-short"), str(MODELS_DIR / "face-embedder-sface")))
    out = {}
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg"):
        data = (face_photos / name).read_bytes()
        photo, faces, _, _ = verifier.find_faces(data, name, Stopwatch())
        out[name] = bursts.webcam_crop(data, tuple(v * photo.scale for v in faces[0].box))
    return out


def our_token(actions: tuple[str, ...], clock=time.time) -> str:
    """A token as the function issues them (same secret), with the actions the burst acts out."""
    return Challenges(LivenessOptions(secret=SECRET.encode()), clock).issue(actions).token


def test_a_challenge_is_issued(servers):
    status, body = call(servers[0].url, {"liveness": "challenge"})
    assert status == 200 and set(body) == {"challenge"} and set(body["challenge"]) == {"token", "actions", "expires_in_s"}
    assert 2 <= len(body["challenge"]["actions"]) <= 3 and body["challenge"]["expires_in_s"] == 120


def test_a_burst_acting_out_the_challenge_verifies_once(servers, cropped, face_photos):
    token = our_token(("turn_right", "look_up"))
    actions = {"turn_right": cropped["obama2.jpg"], "look_up": cropped["obama3.jpg"]}
    frames = bursts.assembled([cropped["obama.jpg"]], actions, ("turn_right", "look_up"), seed=1)
    status, body = call_multipart(servers[0].url, frames, {"challenge": token}, (face_photos / "32bit.png").read_bytes())
    assert status == 200, body
    assert body["verified"] is True and body["match"] is True and body["liveness"]["passed"] is True
    assert [a["action"] for a in body["liveness"]["actions"]] == ["turn_right", "look_up"] and body["liveness"]["frames"] == 10
    assert {"decode_and_detect", "embed", "mesh"} <= set(body["time_ms"]["burst"])
    status, body = call(
        servers[1].url, {"frames": [b64(f) for f in frames], "challenge": token, "img2": b64((face_photos / "32bit.png").read_bytes())}
    )
    assert (status, body["error"]["code"]) == (409, "reused_token")  # on the other instance too


def test_one_still_photo_is_not_verified(servers, cropped, face_photos):
    _, issued = call(servers[0].url, {"liveness": "challenge"})
    frames = bursts.still_attack(cropped["obama.jpg"], 12, seed=5)
    body = {
        "frames": [b64(f) for f in frames],
        "challenge": issued["challenge"]["token"],
        "img2": b64((face_photos / "obama2.jpg").read_bytes()),
    }
    status, answer = call(servers[1].url, body)
    assert status == 200, answer
    assert answer["match"] is True and answer["verified"] is False and answer["liveness"]["passed"] is False


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        ("not-a-token", 400, "bad_token"),
        (Challenges(LivenessOptions(secret=b"another-secret-of-32-bytes-or-more!")).issue().token, 403, "forged_token"),
        (our_token(("blink", "turn_left"), clock=lambda: time.time() - 3600), 403, "expired_token"),
    ],
    ids=["bad", "forged", "expired"],
)
def test_bad_forged_and_expired_tokens_are_refused_by_name(servers, cropped, face_photos, token, status, code):
    body = {"frames": [b64(cropped["obama.jpg"])] * 6, "challenge": token, "img2": b64(cropped["obama2.jpg"])}
    got, answer = call(servers[0].url, body)
    assert (got, answer["error"]["code"]) == (status, code), answer


@pytest.mark.parametrize(
    "body",
    [
        {"frames": ["AAAA"], "img2": "AAAA"},
        {"challenge": "x", "img2": "AAAA"},
        {"liveness": "challenge", "img1": "AAAA"},
        {"liveness": "please"},
        {"frames": ["AAAA"], "challenge": "x", "img1": "AAAA", "img2": "AAAA"},
        {"frames": ["AAAA"], "challenge": "x"},
    ],
    ids=["no-challenge", "no-frames", "challenge-with-photo", "unknown-liveness", "img1-too", "no-img2"],
)
def test_malformed_liveness_requests_are_400(servers, body):
    status, answer = call(servers[0].url, body)
    assert status == 400 and answer["error"]["code"] == "bad_request", answer


def test_without_a_secret_liveness_is_refused():
    client = create_app("verify_face", "functions/verify_face/main.py").test_client()
    r = client.post("/", json={"liveness": "challenge"})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "liveness_disabled"
