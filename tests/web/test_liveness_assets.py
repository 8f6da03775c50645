"""Photos for the liveness page's acted clip (not a test module's tests: helpers only)."""

from __future__ import annotations

from pathlib import Path

from shared.face.options import VerifyOptions
from shared.face.verify import FaceVerifier, Stopwatch
from shared.settings import MODELS_DIR
from tools.measure import liveness_bursts as bursts

FPS = 10
# The page: 0.4 s frontal, then 1.2 s per action (two actions). The clip, at 10 fps: frontal
# 5 frames, turned right 6, frontal 6, up 6, frontal 7 (30 frames, looping).
PLAN = ["obama.jpg"] * 5 + ["obama2.jpg"] * 6 + ["obama.jpg"] * 6 + ["obama3.jpg"] * 6 + ["obama.jpg"] * 7


def acted_clip_photos(face_photos: Path, folder: Path) -> list[Path]:
    verifier = FaceVerifier.load(VerifyOptions(str(MODELS_DIR / "face-detector-short"), str(MODELS_DIR / "face-embedder-sface")))
    crops = {}
    for name in set(PLAN):
        data = (face_photos / name).read_bytes()
        photo, faces, _, _ = verifier.find_faces(data, name, Stopwatch())
        path = folder / f"crop-{name}"
        path.write_bytes(bursts.webcam_crop(data, tuple(v * photo.scale for v in faces[0].box), 480))
        crops[name] = path
    return [crops[name] for name in PLAN]
