#!/usr/bin/env python3
"""Holistic from pixels, measured against `mediapipe==0.10.21`'s own Holistic solution.

On the photos of ../shared/data/hands/subhih (webcam photos of a person: face, upper body,
hands; see its SOURCE.md), MediaPipe Holistic (static_image_mode, model_complexity 1 = the
full pose model, which the bundle is; refine_face_landmarks off) runs in a separate tools
venv (--reference-python) and ours in this one. Reported:
- pose: found in the same photos (%), mean landmark distance over the 33 points in % of the
  diagonal of the reference landmarks' box (x, y), and the visibility difference;
- hands (left and right, the subject's): found on the same sides (%), mean distance in % of
  the reference hand box's diagonal;
- face (468 points): the same, when our pipeline computes a face;
- CPU per photo of our pipeline.

    .venv/bin/python tools/measure/holistic_agreement.py [--out build/holistic-agreement.json]
--reference-python defaults to .venvs/mediapipe/bin/python (make venv-mediapipe).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np

from tools import ROOT, print_report, python_option

# ---- settings -------------------------------------------------------------------------
PHOTOS = ROOT.parent / "shared/data/hands/subhih"
PARTS = ("pose", "face", "left", "right")


def reference(paths: list[str], static: bool = True) -> dict:
    """MediaPipe Holistic on each photo (runs under --reference-python, imports mediapipe);
    static=False runs them as one video, in order (for the sequence tools)."""
    import mediapipe as mp
    from PIL import Image, ImageOps

    def points(found: Any, visibility: bool) -> list | None:
        if found is None:
            return None
        return [[p.x, p.y, p.z, p.visibility] if visibility else [p.x, p.y, p.z] for p in found.landmark]

    out = {}
    with mp.solutions.holistic.Holistic(static_image_mode=static, model_complexity=1) as holistic:
        for path in paths:
            image = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
            r = holistic.process(image)
            out[Path(path).name] = {
                "size": [image.shape[1], image.shape[0]],
                "pose": points(r.pose_landmarks, True),
                "face": points(r.face_landmarks, False),
                "left": points(r.left_hand_landmarks, False),
                "right": points(r.right_hand_landmarks, False),
            }
    return out


def ours(paths: list[Path], root: Path, max_side: int) -> tuple[dict, list[float]]:
    from shared.gesture.recipes import holistic_parts
    from shared.hands.options import HandOptions
    from shared.holistic.options import HolisticOptions
    from shared.holistic.tracker import Holistic
    from shared.images import DecodeLimits, decode_photo

    m = root / "models"
    holistic = Holistic.load(
        HolisticOptions(
            str(m / "pose-detector"),
            str(m / "pose-landmarks"),
            str(m / "hand-recrop"),
            HandOptions(str(m / "hand-detector"), str(m / "hand-landmarks")),
            face_detector=str(m / "face-detector-short"),
            face_landmarks=str(m / "face-landmarks"),
        )
    )
    out, cpu = {}, []
    for path in paths:
        t0 = time.process_time()
        photo = decode_photo(path.read_bytes(), name=path.name, limits=DecodeLimits(max_side=max_side))
        frame = holistic.find(photo.pixels)
        cpu.append((time.process_time() - t0) * 1000)
        parts = holistic_parts(frame)
        out[path.name] = {"size": list(photo.size), **{k: None if v is None else v.tolist() for k, v in parts.items()}}
    return out, cpu


def diagonal(points: np.ndarray, size: list[int]) -> float:
    xy = points[:, :2] * size
    return float(np.hypot(*(xy.max(axis=0) - xy.min(axis=0))))


def compare(ref: dict, got: dict, part: str) -> dict:
    same, errors, worst = 0, [], []
    for name, r in ref.items():
        a, b = r[part], got[name][part]
        same += (a is None) == (b is None)
        if a is None or b is None:
            continue
        a, b = np.asarray(a), np.asarray(b)
        err = float(np.linalg.norm((a[:, :2] - b[:, :2]) * r["size"], axis=1).mean()) / diagonal(a, r["size"]) * 100
        errors.append(err)
        worst.append((err, name))
    found = sum(r[part] is not None for r in ref.values())
    report: dict[str, Any] = {
        "reference_found": found,
        "ours_found": sum(g[part] is not None for g in got.values()),
        "same_found_pct": round(100 * same / len(ref), 1),
    }
    if errors:
        report |= {
            "compared": len(errors),
            "mean_error_pct_of_box_diagonal": round(float(np.mean(errors)), 3),
            "median_pct": round(float(np.median(errors)), 3),
            "p95_pct": round(float(np.percentile(errors, 95)), 3),
            "worst": [f"{n}: {e:.2f}%" for e, n in sorted(worst, reverse=True)[:3]],
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--reference-python", help="a Python with mediapipe==0.10.21 (default: .venvs/mediapipe/bin/python)")
    parser.add_argument("--bundles-root", type=Path, default=ROOT, help="repo root holding models/")
    parser.add_argument("--max-side", type=int, default=640, help="longest side photos are scaled to (HAND_IMAGE_SIDE)")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    parser.add_argument("--reference-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    paths = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if args.reference_only:
        json.dump(reference([str(p) for p in paths]), sys.stdout)
        return 0
    reference_python = python_option(args.reference_python, "mediapipe")
    if not reference_python:
        raise SystemExit("needs --reference-python (a venv with mediapipe==0.10.21: make venv-mediapipe)")
    cmd = [reference_python, __file__, "--reference-only", "--photos", str(args.photos)]
    ref = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=3600).stdout)
    got, cpu = ours(paths, args.bundles_root, args.max_side)
    report: dict[str, Any] = {
        "photos": len(paths),
        "max_side": args.max_side,
        "cpu_ms_per_photo_mean": round(float(np.mean(cpu)), 1),
        **{part: compare(ref, got, part) for part in PARTS},
    }
    print_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
