"""predict_gesture from photos: the benchmark's hand-photo requests and variants.

Photos: tests/data/hands/open.jpg (shipped, a real webcam photo) scaled to ~1 MP
(1155x866) and to 12 MP (4000x3000, JPEG q90, the size a phone camera sends), posted as
multipart `image` with `model=hand-sign`, as `curl -F image=@hand.jpg -F model=hand-sign`
does. The "before" variant serves the landmark-only path from another tree (--before-root,
e.g. the main branch before the hand models existed) to compare cold start and memory.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path

from PIL import Image

from tools import ROOT, testdata
from tools.measure.harness import Request

from .cases import Budget, Plan, Variant, Workload

PHOTO = "open.jpg"
SIZES = {"1 MP": (1155, 866), "12 MP": (4000, 3000)}


def _jpeg(size: tuple[int, int]) -> bytes:
    image = Image.open(testdata.hand_photos() / PHOTO).convert("RGB").resize(size, Image.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _check_open(answer: dict) -> None:
    if answer.get("label") != "Open" or answer.get("frames_without_hand") != []:
        raise RuntimeError(f"expected Open with a hand found, got {str(answer)[:200]}")


def photo_request(name: str, photo: bytes) -> Request:
    """multipart/form-data: the photo as file `image`, `model=hand-sign` as a text part."""
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nhand-sign\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="hand.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    body += photo + f"\r\n--{boundary}--\r\n".encode()
    return Request(name, body, f"multipart/form-data; boundary={boundary}", check=_check_open)


def photo_requests() -> dict[str, Request]:
    return {name: photo_request(f"{name} hand photo", _jpeg(size)) for name, size in SIZES.items()}


def hands_variants(pythons: dict[str, tuple[str, dict]], budget: Budget, before_root: Path | None, served: dict[str, str]) -> list[Variant]:
    """predict_gesture [photos] on the first runtime: one photo at a time (1 MP, 12 MP), and
    12 MP from 4 client threads with THREADS=4; and the landmark-only path of `before_root`."""
    runtime, (python, env) = next(iter(pythons.items()))
    photos = photo_requests()
    n = max(10, budget.requests)
    plans = [
        Plan("seq", {"THREADS": "1"}, [Workload(f"{name} hand photo", [req], n, 1) for name, req in photos.items()]),
        Plan("conc4", {"THREADS": "4"}, [Workload("12 MP hand photo", [photos["12 MP"]], n, 4)]),
    ]
    source = ROOT / "functions/predict_gesture/main.py"
    out = [Variant("predict_gesture [photos]", runtime, python, source, "predict_gesture", {**env, **served}, photos["1 MP"], plans)]
    if before_root is not None:
        from .gesture import gesture_requests

        requests = gesture_requests()
        cold = next(iter(requests.values()))[0]
        seq = [Plan("seq", {"THREADS": "1"}, [Workload(name, reqs, budget.gesture_requests, 1) for name, reqs in requests.items()])]
        before = before_root / "functions/predict_gesture/main.py"
        out.append(Variant("predict_gesture [landmarks, before]", runtime, python, before, "predict_gesture", {**env, **served}, cold, seq))
    return out
