#!/usr/bin/env python3
"""The face mesh, measured: agreement with `mediapipe==0.10.21`'s own FaceMesh on real photos.

MediaPipe's FaceMesh (static_image_mode, max_num_faces=1, refine_landmarks=False: the same
face_landmark.tflite) runs in a separate tools venv (--reference-python); ours is
models/face-detector-short (the highest-scoring face, as MediaPipe's
ClipDetectionVectorSizeCalculator keeps the first) -> shared/facemesh. Per photo: found by
both, by one, by neither; for faces found by both, the mean distance over the 468 landmarks
in % of the diagonal of the reference landmarks' box, and the iris centres' distance to
MediaPipe's refined (attention model) iris centres 468 and 473, in % of the same diagonal.

    .venv/bin/python tools/measure/facemesh_agreement.py [--photos ../shared/data/faces/lfw-dev] \
        [--limit 300] [--out build/facemesh-agreement.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np

from tools import ROOT, print_report, python_option

# ---- settings -------------------------------------------------------------------------
AGREE_PCT = 3.0  # the bound on the mean landmark distance, % of the face box diagonal
IRIS_CENTRES = (468, 473)  # MediaPipe's refined mesh: iris centre of its left (33..133) and right (362..263) eye


def load_rgb(path: str) -> np.ndarray:
    from PIL import Image, ImageOps

    return np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))


def reference(paths: list[str]) -> dict:
    """MediaPipe's FaceMesh on each photo (runs under --reference-python, imports mediapipe)."""
    import mediapipe as mp

    out: dict = {}
    plain = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False)
    refined = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True)
    for path in paths:
        image = load_rgb(path)
        found = plain.process(image).multi_face_landmarks
        irises = refined.process(image).multi_face_landmarks
        entry: dict = {"size": [image.shape[1], image.shape[0]], "landmarks": None, "irises": None}
        if found:
            entry["landmarks"] = [[p.x, p.y, p.z] for p in found[0].landmark]
        if irises:
            entry["irises"] = [[irises[0].landmark[i].x, irises[0].landmark[i].y] for i in IRIS_CENTRES]
        out[path] = entry
    return out


def ours(paths: list[str]) -> tuple[dict, dict]:
    """Our face mesh on each photo: {path: {"landmarks", "irises"}} and CPU ms per stage."""
    from shared.face.detect import FaceDetector
    from shared.facemesh.mesh import FaceMesh
    from shared.facemesh.options import FaceMeshOptions
    from shared.runtime.bundle import load_as

    mesh = FaceMesh.load(FaceMeshOptions(str(ROOT / "models/face-landmarks"), str(ROOT / "models/iris-landmarks")))
    detector = load_as(FaceDetector, str(ROOT / "models/face-detector-short"), task="face-detection")
    out: dict = {}
    cpu: dict[str, list[float]] = {"detect": [], "mesh_and_irises": []}
    for path in paths:
        image = load_rgb(path)
        t0 = time.process_time()
        faces = detector.detect(image)
        t1 = time.process_time()
        entry: dict = {"landmarks": None, "irises": None}
        if faces:
            face = max(faces, key=lambda f: f.score)
            found = mesh.find(image, mesh.roi_from_detection(face.box, np.array(face.keypoints)))
            cpu["mesh_and_irises"].append((time.process_time() - t1) * 1000)
            if found is not None and found.left_eye and found.right_eye:
                entry["landmarks"] = found.normalized.tolist()
                w, h = found.image_size
                entry["irises"] = [[e.iris[0, 0] / w, e.iris[0, 1] / h] for e in (found.left_eye, found.right_eye)]
        cpu["detect"].append((t1 - t0) * 1000)
        out[path] = entry
    return out, cpu


def agreement(ref: dict, got: dict) -> dict:
    both, only_ref, only_ours, neither = [], [], [], 0
    errors, iris_errors = [], []
    for path, r in ref.items():
        g = got[path]
        if r["landmarks"] is None and g["landmarks"] is None:
            neither += 1
            continue
        if r["landmarks"] is None or g["landmarks"] is None:
            (only_ours if r["landmarks"] is None else only_ref).append(Path(path).name)
            continue
        size = np.array(r["size"], dtype=np.float64)
        a, b = np.array(r["landmarks"])[:, :2] * size, np.array(g["landmarks"])[:, :2] * size
        diagonal = float(np.hypot(*np.ptp(a, axis=0)))
        errors.append(100 * float(np.mean(np.linalg.norm(a - b, axis=1))) / diagonal)
        both.append(Path(path).name)
        if r["irises"]:
            ia, ib = np.array(r["irises"]) * size, np.array(g["irises"]) * size
            iris_errors.append(100 * float(np.mean(np.linalg.norm(ia - ib, axis=1))) / diagonal)
    e = np.array(errors)
    worst = sorted(zip(e.tolist(), both, strict=True), reverse=True)[:5]
    faces = len(both) + len(only_ref) + len(only_ours)
    return {
        "photos": len(ref),
        "faces_found_by_either": faces,
        "found_by_both": len(both),
        "found_by_both_pct": round(100 * len(both) / max(faces, 1), 1),
        "only_reference": only_ref,
        "only_ours": only_ours,
        "neither": neither,
        "mean_error_pct_of_box_diagonal": round(float(e.mean()), 3),
        "median_error_pct": round(float(np.median(e)), 3),
        "p95_error_pct": round(float(np.percentile(e, 95)), 3),
        f"faces_within_{AGREE_PCT}pct": round(100 * float(np.mean(e <= AGREE_PCT)), 1),
        "agreeing_faces_pct": round(100 * float(np.sum(e <= AGREE_PCT)) / max(faces, 1), 1),
        "worst": [[round(v, 2), name] for v, name in worst],
        "iris_centre_error_pct_vs_refined_mesh": round(float(np.mean(iris_errors)), 3) if iris_errors else None,
    }


def photo_paths(folder: Path, limit: int) -> list[str]:
    return [str(p) for p in sorted(folder.rglob("*.jpg"))[:limit]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared/data/faces/lfw-dev")
    parser.add_argument("--limit", type=int, default=300, help="the first N photos in path order (default 300)")
    parser.add_argument("--reference-python", help="a Python with mediapipe==0.10.21 (default: .venvs/mediapipe/bin/python)")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    parser.add_argument("--reference-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    paths = photo_paths(args.photos, args.limit)
    if args.reference_only:
        json.dump(reference(paths), sys.stdout)
        return 0
    reference_python = python_option(args.reference_python, "mediapipe")
    if not reference_python:
        parser.error("needs a Python with mediapipe==0.10.21 (make venv-mediapipe)")
    cmd = [reference_python, __file__, "--reference-only", "--photos", str(args.photos), "--limit", str(args.limit)]
    ref = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=3600).stdout)
    got, cpu = ours(paths)
    report = {"agreement": agreement(ref, got), "cpu_ms_per_photo": {k: round(float(np.mean(v)), 2) for k, v in cpu.items() if v}}
    print_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
