"""Request mixes for tools/measure/load.py: real photos and real keypoints, plus ~10% bad requests.

verify_face: pairs of the face-recognition 1.3.0 test photos (tools/testdata.py); half of
the good requests get a unique suffix after the JPEG end marker (same pixels, new sha256)
so the embedding cache cannot answer them and the models run.
predict_gesture: keypoint rows (tools/testdata.py: ../shared/data/gesture, else the
shipped examples; keypoint.csv: one frame x 42 features for the hand-sign bundle;
point_history.csv: 16 frames x 2 for the default finger-gesture bundle) sent as
`features`, and as MediaPipe-style `landmarks` built from them.
"""

from __future__ import annotations

import base64
import functools
import random
from collections.abc import Callable

from tools import testdata
from tools.measure.harness import Request, json_request

HAND_SIGN = "hand-sign"
Builder = Callable[[], Request]  # bodies are built when sent: a long run's bodies do not all fit in memory


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def verify_mix(n: int, bad_fraction: float, seed: int) -> list[Builder]:
    """n request builders for verify_face."""
    photos = testdata.face_photos()
    read = {name: (photos / name).read_bytes() for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "32bit.png")}
    pairs = [("obama.jpg", "obama2.jpg"), ("obama.jpg", "obama3.jpg"), ("obama2.jpg", "biden.jpg"), ("obama3.jpg", "32bit.png")]
    obama = read["obama.jpg"]
    bad = [
        lambda: json_request("bad: invalid base64", {"img1": "***", "img2": _b64(obama)}, expect=400),
        lambda: json_request("bad: truncated jpeg", {"img1": _b64(obama[: len(obama) // 3]), "img2": _b64(obama)}, expect=400),
        lambda: json_request("bad: missing img1", {"img2": _b64(obama)}, expect=400),  # img1 alone is a photo-only request
        lambda: Request("bad: text/plain", b"img1=x", "text/plain", 415),
        lambda: json_request("bad: not an image", {"img1": _b64(b"%PDF-1.4 not a photo " * 50), "img2": _b64(obama)}, expect=415),
        lambda: json_request("bad: png bomb header", {"img1": _b64(_png_header(50_000, 50_000)), "img2": _b64(obama)}, expect=413),
    ]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if rng.random() < bad_fraction:
            out.append(rng.choice(bad))
            continue
        a, b = rng.choice(pairs)
        # half get unique bytes after the JPEG end marker: the cache misses, the models run
        suffix = i + 1 if rng.random() < 0.5 and a.endswith(".jpg") else 0
        out.append(functools.partial(_pair, a, b, read, suffix))
    return out


def _pair(a: str, b: str, read: dict, suffix: int) -> Request:
    return json_request(f"verify {a} {b}", {"img1": _b64(read[a] + b"\0" * suffix), "img2": _b64(read[b])})


def _png_header(width: int, height: int) -> bytes:
    from tools.measure import hostile  # the project's one maker of hostile inputs

    return hostile.png_header_only(width, height)


def _landmarks_from(hand: list[float], track: list[float]) -> list:
    """16 frames of 21 (x, y) points in normalised image coordinates: the hand shape of a
    keypoint.csv row (scaled into the frame), moved so the index fingertip (8) follows the
    point_history.csv trajectory."""
    frames = []
    for t in range(16):
        dx, dy = track[2 * t], track[2 * t + 1]
        points = [[0.5 + 0.15 * hand[2 * j] + dx, 0.6 + 0.15 * hand[2 * j + 1] + dy] for j in range(21)]
        frames.append(points)
    return frames


def gesture_mix(n: int, bad_fraction: float, seed: int) -> list[Builder]:
    """n request builders for predict_gesture."""
    hands, tracks = testdata.gesture_rows("keypoint.csv"), testdata.gesture_rows("point_history.csv")
    rng = random.Random(seed)
    good = [
        lambda h, t: json_request("features hand-sign", {"features": [h], "model": HAND_SIGN}),
        lambda h, t: json_request("features finger-gesture", {"features": _pairs(t)}),
        lambda h, t: json_request("landmarks finger-gesture", {"landmarks": _landmarks_from(h, t), "top_k": 2}),
        lambda h, t: json_request("landmarks hand-sign", {"landmarks": _landmarks_from(h, [0.0] * 32)[:1], "model": HAND_SIGN}),
    ]
    bad = [
        lambda: json_request("bad: strings in frames", {"features": [["a", "b"]] * 16}, expect=400),
        lambda: json_request("bad: wrong feature count", {"features": [[0.1, 0.2, 0.3]] * 16}, expect=400),
        lambda: json_request("bad: zero frames", {"features": []}, expect=422),
        lambda: json_request("bad: unknown model", {"features": [[0.1, 0.2]] * 16, "model": "nope"}, expect=400),
        lambda: json_request("bad: too many frames", {"features": [[0.1, 0.2]] * 5000}, expect=413),
        lambda: json_request("bad: wrong landmark shape", {"landmarks": [[[0.5, 0.5]] * 20] * 16}, expect=400),
        lambda: Request("bad: infinity", b'{"features": [[Infinity, 0.1]]}', expect=400),
        lambda: Request("bad: not json", b'{"features": [[0.1, ', expect=400),
    ]
    out = []
    for _ in range(n):
        if rng.random() < bad_fraction:
            out.append(rng.choice(bad))
        else:  # the rows are picked now, so a run is the same whatever the thread timing
            out.append(functools.partial(rng.choice(good), rng.choice(hands), rng.choice(tracks)))
    return out


def _pairs(flat: list[float]) -> list[list[float]]:
    return [flat[i : i + 2] for i in range(0, len(flat), 2)]
