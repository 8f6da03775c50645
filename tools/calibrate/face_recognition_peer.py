#!/usr/bin/env python3
"""The peer users compare against, on the same sets: face_recognition 1.3.0 (dlib's HOG
detector, its 5-point alignment, the same dlib ResNet embedder) at its own 0.6 euclidean
tolerance, scored with this project's calibration maths (tools/calibrate/calibrate_face_threshold.py).

Run in the reference venv (tools only; never a runtime dependency), made once with
`make venv-face-recognition` (.venvs/face-recognition, tools/requirements/face-recognition.txt):
    .venvs/face-recognition/bin/python tools/calibrate/face_recognition_peer.py --pairs ../shared/data/faces/lfw-dev/pairs.csv \\
        --photos ../shared/data/faces/deepface --cropped --json build/cal/face_recognition.json

As face_recognition's own examples do: `face_locations` (HOG, upsampled once), the largest
box, `face_encodings` (one jitter). A photo where it finds no face is rejected in every
pair (distance +inf), as a service built on it would answer. The pre-cropped variant is
cut from the same boxes this project's calibration uses (its served detector), so both
products see the same thumbnails.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools.calibrate import calibrate_face_threshold as cal  # noqa: E402

TOLERANCE = 0.6  # face_recognition.compare_faces' default: "0.6 is typical best performance"
CACHE = ROOT / "build" / "calibrate-cache" / "face_recognition-1.3.0.json"


def encode(data: bytes) -> list[float] | None:
    import face_recognition

    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1)
    if not boxes:
        return None
    largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
    return [float(v) for v in face_recognition.face_encodings(image, [largest])[0]]


def distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """face_recognition's face_distance (euclidean); +inf when either photo had no face."""
    return np.inf if a is None or b is None else float(np.linalg.norm(a - b))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=Path, action="append", default=[])
    parser.add_argument("--photos", type=Path, action="append", default=[])
    parser.add_argument("--cropped", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    store = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    thumbnails = None
    if args.cropped:  # the same thumbnails the project's calibration scores
        from dataclasses import replace

        from shared.face.verify import FaceVerifier, VerifyOptions
        from shared.settings import get_settings

        verifier = FaceVerifier.load(replace(VerifyOptions.from_settings(get_settings()), cache_size=0))
        thumbnails = lambda data, name: cal.thumbnail(verifier, data, name)  # noqa: E731
    sets = [cal.PairSet.from_pairs(p) for p in args.pairs] + [cal.PairSet.from_folder(p) for p in args.photos]
    report, started = {}, time.perf_counter()
    for pair_set, cropped in itertools.product(sets, (False, True) if args.cropped else (False,)):
        vectors = {}
        for image in pair_set.images():
            data = (pair_set.folder / image).read_bytes()
            key = f"{hashlib.sha256(data).hexdigest()}:{'cropped' if cropped else 'plain'}"
            if key not in store:
                if cropped:
                    data = thumbnails(data, image) if thumbnails else None
                store[key] = encode(data) if data is not None else None
            vectors[image] = None if store[key] is None else np.asarray(store[key])
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_text(json.dumps(store))
        d = np.array([distance(vectors[a], vectors[b]) for a, b, _ in pair_set.pairs])
        same = np.array([s for _, _, s in pair_set.pairs])
        name = f"{pair_set.name}{' pre-cropped' if cropped else ''}"
        no_face = [i for i, v in vectors.items() if v is None]
        report[name] = {**cal.measure(d, same, pair_set.folds, {"tolerance 0.6": TOLERANCE}), "no_face": no_face}
        cal.print_report(f"face_recognition 1.3.0, {name}", report[name])
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.json:
        summary = {"peer": "face_recognition 1.3.0 (dlib-bin)", "metric": "euclidean", "sets": report}
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
