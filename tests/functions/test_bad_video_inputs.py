"""The bad-input catalogue for clips (issue 27): hostile videos sent to predict_gesture as
deployed (functions-framework under gunicorn, the serving harness), as a multipart file and
as base64 in JSON. Each answers a strict-JSON 4xx `{"error": {"code", "message"}}` within
CPU_S of the worker's CPU and PEAK_MB of its peak RSS growth, the worker survives, and a
valid clip afterwards answers exactly as before. Clips are made in the test from the
shipped hand photos (tests/data/hands) with PyAV (tools/measure/hostile_video.py)."""

from __future__ import annotations

import base64
import http.client
import json
import uuid

import psutil
import pytest

from tools import testdata
from tools.measure import harness, hostile
from tools.measure import hostile_video as hv

CPU_S = 2.0
PEAK_MB = 64.0
MESSAGE_CHARS = 600


@pytest.fixture(scope="module")
def clips() -> dict[str, bytes]:
    photos = [(testdata.hand_photos() / n).read_bytes() for n in ("open.jpg", "pointer.jpg", "close.jpg", "two-hands.jpg")] * 3
    mp4, webm = hv.clip(photos), hv.clip(photos, "webm", "vp8")
    return {
        "valid": hv.clip([photos[1]] * 6),
        "declared_100000x100000": hv.webp_canvas(hv.animated_webp(photos), 100_000, 100_000),
        "a_million_frames": hv.mp4_time_to_sample(mp4, 1_000_000),
        "frames_without_delay": hv.gif_frames_without_delay(),
        "truncated_mp4": mp4[: len(mp4) * 6 // 10],
        "zeroed_stream": hv.zero_middle(webm),
        "unknown_codec_mpeg2": hv.clip(photos[:2], "mp4", "mpeg2video"),
        "unknown_codec_ffv1": hv.clip(photos[:2], "matroska", "ffv1", size=(64, 48)),
        "avi_container": hv.clip(photos[:2], "avi", "mpeg4"),
        "decodes_past_its_duration": hv.webm_duration(webm, 0.1),
        "random_bytes": bytes(range(256)) * 8,
    }


CASES = {
    "declared_100000x100000": (413, "video_too_large"),
    "a_million_frames": (413, "video_too_many_frames"),
    "frames_without_delay": (413, "video_too_long"),
    "truncated_mp4": (415, "bad_video"),
    "zeroed_stream": (422, "bad_video"),
    "unknown_codec_mpeg2": (415, "unsupported_codec"),
    "unknown_codec_ffv1": (415, "unsupported_codec"),
    "avi_container": (415, "unsupported_video"),
    "decodes_past_its_duration": (422, "bad_video"),
    "random_bytes": (415, "bad_video"),
}


@pytest.fixture(scope="module")
def server():
    started = harness.start("predict_gesture", env={"RATE_LIMITS": ""})
    yield started
    started.stop()


def send(server, clip: bytes, multipart: bool) -> tuple[int, bytes]:
    if multipart:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="clip"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + clip
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    else:
        body, headers = json.dumps({"video": base64.b64encode(clip).decode()}).encode(), {"Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        conn.request("POST", "/", body=body, headers={**headers, "Content-Length": str(len(body))})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def answer_of(server, clip: bytes, multipart: bool = True) -> dict:
    status, text = send(server, clip, multipart)
    answer = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in an answer"))
    assert status == 200, answer
    answer.pop("time_ms")
    return answer


@pytest.fixture(scope="module")
def baseline(server, clips) -> dict:
    answer = answer_of(server, clips["valid"])
    assert answer["frames_received"] == 16 and not answer["frames_without_hand"], answer  # finger-gesture: 16 frames sampled
    return answer


def cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


@pytest.mark.parametrize("multipart", [True, False], ids=["multipart", "base64"])
@pytest.mark.parametrize("kind", sorted(CASES))
def test_hostile_clip_is_a_clean_4xx_within_bounds(server, clips, baseline, kind, multipart):
    pid = server.serving_pid()
    before = cpu_s(pid)
    with hostile.peak_rss(pid) as rss:
        status, text = send(server, clips[kind], multipart)
    cpu = cpu_s(pid) - before
    print(f"{kind}: {status} in {cpu:.3f} s of CPU, peak RSS +{rss.growth_mb:.1f} MB")
    answer = json.loads(text)
    assert (status, answer.get("error", {}).get("code")) == CASES[kind], answer
    assert set(answer) == {"error"} and 0 < len(answer["error"]["message"]) <= MESSAGE_CHARS
    assert cpu < CPU_S and rss.growth_mb < PEAK_MB, (cpu, rss.growth_mb)
    assert server.worker_pids() == server.started_workers
    assert answer_of(server, clips["valid"], multipart) == baseline
