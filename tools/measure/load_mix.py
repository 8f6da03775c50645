"""Request mixes for tools/load.py: real photos and real keypoints, plus ~10% bad requests.

verify_face: pairs of the face-recognition 1.3.0 test photos (fetched by tests/testdata.py);
half of the good requests get a unique suffix after the JPEG end marker (same pixels, new
sha256) so the embedding cache cannot answer them and the models run.
predict_gesture: rows of ../shared/data/gesture (keypoint.csv: one frame x 42 features for
the hand-sign bundle; point_history.csv: 16 frames x 2 for the default finger-gesture
bundle) sent as `features`, and as MediaPipe-style `landmarks` built from them.
"""
from __future__ import annotations

import base64
import csv
import functools
import json
import random
from dataclasses import dataclass
from typing import Callable

import testdata  # tests/testdata.py: fetches and caches the photos

HAND_SIGN = "hand-sign"


@dataclass(frozen=True)
class Request:
    """One POST: kind (for reports), body bytes, content type, expected status (0 = any 2xx/4xx)."""

    kind: str
    body: bytes
    content_type: str = "application/json"
    expect: int = 0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _json(kind: str, expect: int, **fields) -> Request:
    return Request(kind, json.dumps(fields).encode(), expect=expect)


def verify_mix(n: int, bad_fraction: float, seed: int) -> list[Callable[[], Request]]:
    """n request builders (bodies are built when sent: a long run's bodies do not all fit in memory)."""
    photos = testdata.face_photos()
    read = {name: (photos / name).read_bytes() for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "32bit.png")}
    pairs = [("obama.jpg", "obama2.jpg"), ("obama.jpg", "obama3.jpg"), ("obama2.jpg", "biden.jpg"), ("obama3.jpg", "32bit.png")]
    obama = read["obama.jpg"]
    bad = [
        lambda: _json("bad: invalid base64", 400, img1="***", img2=_b64(obama)),
        lambda: _json("bad: truncated jpeg", 400, img1=_b64(obama[: len(obama) // 3]), img2=_b64(obama)),
        lambda: _json("bad: missing img2", 400, img1=_b64(obama)),
        lambda: Request("bad: text/plain", b"img1=x", "text/plain", 415),
        lambda: _json("bad: not an image", 415, img1=_b64(b"%PDF-1.4 not a photo " * 50), img2=_b64(obama)),
        lambda: _json("bad: png bomb header", 413, img1=_b64(_png_header(50_000, 50_000)), img2=_b64(obama)),
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
    return _json(f"verify {a} {b}", 200, img1=_b64(read[a] + b"\0" * suffix), img2=_b64(read[b]))


def _png_header(width: int, height: int) -> bytes:
    import hostile  # tests/hostile.py

    return hostile.png_header_only(width, height)


def _rows(name: str) -> list[list[float]]:
    folder = testdata.shared_data("gesture")
    if folder is None:  # a fresh clone: the project's own example inputs
        from tools import gesture_examples

        return gesture_examples.rows_like(name)
    with (folder / name).open() as f:
        return [[float(v) for v in row[1:]] for row in csv.reader(f) if row]


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


def gesture_mix(n: int, bad_fraction: float, seed: int) -> list[Callable[[], Request]]:
    hands, tracks = _rows("keypoint.csv"), _rows("point_history.csv")
    rng = random.Random(seed)
    good = [
        lambda h, t: _json("features hand-sign", 200, features=[h], model=HAND_SIGN),
        lambda h, t: _json("features finger-gesture", 200, features=_pairs(t)),
        lambda h, t: _json("landmarks finger-gesture", 200, landmarks=_landmarks_from(h, t), top_k=2),
        lambda h, t: _json("landmarks hand-sign", 200, landmarks=_landmarks_from(h, [0.0] * 32)[:1], model=HAND_SIGN),
    ]
    bad = [
        lambda: _json("bad: strings in frames", 400, features=[["a", "b"]] * 16),
        lambda: _json("bad: wrong feature count", 400, features=[[0.1, 0.2, 0.3]] * 16),
        lambda: _json("bad: zero frames", 422, features=[]),
        lambda: _json("bad: unknown model", 400, features=[[0.1, 0.2]] * 16, model="nope"),
        lambda: _json("bad: too many frames", 413, features=[[0.1, 0.2]] * 5000),
        lambda: _json("bad: wrong landmark shape", 400, landmarks=[[[0.5, 0.5]] * 20] * 16),
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
    return [flat[i:i + 2] for i in range(0, len(flat), 2)]
