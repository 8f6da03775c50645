"""The bad-input catalogue for liveness (tokens and bursts), served as deployed (the serving
harness, LIVENESS_SECRET and a real Redis for one-time tokens). Each case: its status and
code, a strict-JSON body of exactly {"error": {"code", "message"}} with a short message,
the serving worker's CPU and peak RSS growth bounded, the worker not restarted, and a
challenge request still answered afterwards."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import psutil
import pytest

from shared.liveness.options import LivenessOptions
from shared.liveness.token import Challenges
from tools.measure import harness, hostile
from tools.measure.redis_server import RedisServer

SECRET = "catalogue-secret-" + "fedcba9876543210" * 2
CPU_S = 2.0
PEAK_MB = 64.0
MESSAGE_CHARS = 600


def token(actions=("turn_left", "blink"), clock=time.time, secret: str = SECRET) -> str:
    return Challenges(LivenessOptions(secret=secret.encode()), clock).issue(actions).token


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class Case:
    kind: str
    status: int
    code: str
    build: Callable[[dict], dict]  # photos -> the JSON body (built when the case runs: fresh tokens)


def burst(d: dict, **over) -> dict:
    return {"frames": [d["face"]] * 6, "challenge": token(), "img2": d["face"], **over}


def altered(t: str) -> str:
    version, payload, signature = t.split(".")
    return f"{version}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"


CASES = [
    Case("token empty", 400, "bad_token", lambda d: burst(d, challenge="")),
    Case("token of 1 MB", 400, "bad_token", lambda d: burst(d, challenge="v1." + "a" * 2**20 + ".b")),
    Case("token is a number", 400, "bad_token", lambda d: burst(d, challenge=12345)),
    Case("token is a list", 400, "bad_token", lambda d: burst(d, challenge=["v1", "a", "b"])),
    Case("token is null", 400, "bad_token", lambda d: burst(d, challenge=None)),
    Case("token of another version", 400, "bad_token", lambda d: burst(d, challenge="v2" + token()[2:])),
    Case("token in two parts", 400, "bad_token", lambda d: burst(d, challenge=".".join(token().split(".")[:2]))),
    Case("token signature not base64", 403, "forged_token", lambda d: burst(d, challenge=token()[:-4] + "!!!!")),
    Case("token payload altered", 403, "forged_token", lambda d: burst(d, challenge=altered(token()))),
    Case("token of another secret", 403, "forged_token", lambda d: burst(d, challenge=token(secret="x" * 40))),
    Case("token signed empty", 403, "forged_token", lambda d: burst(d, challenge=token().rsplit(".", 1)[0] + ".")),
    Case("token expired an hour ago", 403, "expired_token", lambda d: burst(d, challenge=token(clock=lambda: time.time() - 3600))),
    Case("token reused", 409, "reused_token", lambda d: burst(d, challenge=d["spent"])),
    Case("frames is a string", 400, "bad_request", lambda d: burst(d, frames=d["face"])),
    Case("frames holds a number", 400, "bad_request", lambda d: burst(d, frames=[d["face"], 7])),
    Case("frames holds bad base64", 400, "bad_request", lambda d: burst(d, frames=[d["face"], "%%%"])),
    Case("frames without a challenge", 400, "bad_request", lambda d: {"frames": [d["face"]] * 6, "img2": d["face"]}),
    Case("challenge without frames", 400, "bad_request", lambda d: {"challenge": token(), "img2": d["face"]}),
    Case("burst without img2", 400, "bad_request", lambda d: {"frames": [d["face"]] * 6, "challenge": token()}),
    Case("burst with references", 400, "bad_request", lambda d: burst(d, references=[])),
    Case("liveness is not challenge", 400, "bad_request", lambda d: {"liveness": "yes"}),
    Case("liveness is an object", 400, "bad_request", lambda d: {"liveness": {"challenge": True}}),
    Case("burst of 5 frames", 422, "too_few_frames", lambda d: burst(d, frames=[d["face"]] * 5)),
    Case("burst of 31 frames", 413, "too_many_frames", lambda d: burst(d, frames=[d["tiny"]] * 31)),
    Case("a frame is not an image", 415, "unsupported_image", lambda d: burst(d, frames=[d["face"]] * 5 + [b64(b"hello")])),
    Case("a frame claims 50000 x 50000 px", 413, "image_too_large", lambda d: burst(d, frames=[d["face"]] * 5 + [d["bomb"]])),
    Case("img2 template malformed", 400, "invalid_template", lambda d: burst(d, img2={"model": "x"})),
]


@pytest.fixture(scope="module")
def server():
    redis = RedisServer().start()
    started = harness.start("verify_face", env={"LIVENESS_SECRET": SECRET, "REDIS_URL": redis.url})
    yield started
    started.stop()
    redis.remove()


@pytest.fixture(scope="module")
def data(face_photos, server) -> dict:
    face = (face_photos / "obama.jpg").read_bytes()
    d = {"face": b64(face), "tiny": b64(hostile.tiny(face, 64, "JPEG")), "bomb": b64(hostile.png_header_only(50_000, 50_000))}
    d["spent"] = token()
    status, _ = post(server, burst(d, challenge=d["spent"]))  # spends it (the still frames fail liveness)
    assert status == 200
    return d


def post(server, body: dict) -> tuple[int, bytes]:
    req = urllib.request.Request(server.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def strict_json(text: bytes):
    def refuse(name):
        raise AssertionError(f"{name} in an answer")

    return json.loads(text, parse_constant=refuse)


def test_the_catalogue_has_its_kinds():
    assert len({c.kind for c in CASES}) == len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_liveness_bad_input_is_a_clean_error_within_bounds(server, data, case):
    pid = server.serving_pid()
    before = sum(psutil.Process(pid).cpu_times()[:2])
    with hostile.peak_rss(pid) as rss:
        status, text = post(server, case.build(data))
    cpu = sum(psutil.Process(pid).cpu_times()[:2]) - before
    answer = strict_json(text)
    assert (status, answer.get("error", {}).get("code")) == (case.status, case.code), answer
    assert set(answer) == {"error"} and set(answer["error"]) == {"code", "message"}
    assert 0 < len(answer["error"]["message"]) <= MESSAGE_CHARS
    assert cpu < CPU_S and rss.growth_mb < PEAK_MB, (cpu, rss.growth_mb)
    assert server.worker_pids() == server.started_workers, "the worker restarted"
    status, text = post(server, {"liveness": "challenge"})
    assert status == 200 and "token" in strict_json(text)["challenge"]
