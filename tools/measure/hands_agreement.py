#!/usr/bin/env python3
"""Hands from pixels, measured: agreement with MediaPipe itself, and accuracy on labelled photos.

On the photos of ../shared/data/hands/subhih (labels.csv, see its SOURCE.md):
1. agreement with `mediapipe==0.10.21`'s own Hands solution (static_image_mode, the same
   model complexity), run in a separate tools venv (--reference-python): same number of
   hands found, mean landmark distance as % of the reference hand box's diagonal,
   handedness agreement;
2. against the labels: detection rate and box IoU (the landmarks' box against the labelled
   hand box, best match per labelled hand);
3. end to end: the `hand-sign` answer on the photos whose sign is Close, Pointer or Open,
   per class, from our landmarks as they are, mirrored (x -> 1 - x), and from MediaPipe's.

Set up the reference venv once (tools only; never a runtime dependency):
    make venv-mediapipe          # .venvs/mediapipe from tools/requirements/mediapipe.txt
Run from the repo root with the runtime venv (--reference-python defaults to
.venvs/mediapipe/bin/python when it is there; '' skips the agreement):
    .venv/bin/python tools/measure/hands_agreement.py \
        [--variant full|lite] [--bundles-root DIR] [--out build/hands-agreement.json]
`--variant lite` compares the lite bundles (built with build_hand_bundles.py --variant lite
--root DIR) with MediaPipe's model_complexity=0.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np

from tools import print_report, python_option

# ---- settings -------------------------------------------------------------------------
MAX_HANDS = 2
SIGNS = ("Close", "Pointer", "Open")
DETECTED_IOU = 0.5  # a labelled hand counts as detected when a found hand's box overlaps it this much


def reference(paths: list[str], complexity: int) -> dict:
    """MediaPipe's Hands on each photo (runs under --reference-python, imports mediapipe)."""
    import mediapipe as mp
    from PIL import Image, ImageOps

    out = {}
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=MAX_HANDS, model_complexity=complexity) as hands:
        for path in paths:
            image = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
            result = hands.process(image)
            found = []
            for lm, hd in zip(result.multi_hand_landmarks or [], result.multi_handedness or [], strict=True):
                c = hd.classification[0]
                found.append({"landmarks": [[p.x, p.y, p.z] for p in lm.landmark], "handedness": c.label, "score": c.score})
            out[Path(path).name] = {"size": [image.shape[1], image.shape[0]], "hands": found}
    return out


def ours(paths: list[Path], root: Path, variant: str, max_side: int = 1280) -> tuple[dict, dict]:
    """Our pipeline on each photo: hands as normalised landmarks, and CPU per photo."""
    from shared.hands.finder import HandFinder, HandOptions
    from shared.images import DecodeLimits, decode_photo

    suffix = "" if variant == "full" else "-lite"
    finder = HandFinder.load(HandOptions(str(root / f"models/hand-detector{suffix}"), str(root / f"models/hand-landmarks{suffix}")))
    out, cpu = {}, {"decode": [], "hands": []}
    for path in paths:
        t0 = time.process_time()
        photo = decode_photo(path.read_bytes(), name=path.name, limits=DecodeLimits(max_side=max_side))
        t1 = time.process_time()
        hands = finder.find(photo.pixels, MAX_HANDS)
        t2 = time.process_time()
        cpu["decode"].append((t1 - t0) * 1000)
        cpu["hands"].append((t2 - t1) * 1000)
        w, h = photo.pixels.shape[1], photo.pixels.shape[0]
        found = [{"landmarks": (x.points / [w, h, w]).tolist(), "handedness": x.handedness, "score": x.handedness_score} for x in hands]
        out[path.name] = {"size": list(photo.size), "hands": found}
    return out, cpu


def pixel_box(landmarks: np.ndarray, size: list[int]) -> np.ndarray:
    pts = np.asarray(landmarks)[:, :2] * size
    return np.concatenate([pts.min(axis=0), pts.max(axis=0)])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(ref: list[dict], got: list[dict], size: list[int]) -> list[tuple[dict, dict, float]]:
    """Pairs (reference hand, our hand, mean landmark distance in % of the reference box's
    diagonal), pairing hands so that the total distance is smallest."""
    best: list[tuple[dict, dict, float]] = []
    best_total = float("inf")
    for perm in itertools.permutations(range(len(got)), min(len(ref), len(got))):
        pairs = []
        for r, g in zip(ref, [got[i] for i in perm], strict=False):
            a, b = np.asarray(r["landmarks"])[:, :2] * size, np.asarray(g["landmarks"])[:, :2] * size
            box = pixel_box(r["landmarks"], size)
            diagonal = float(np.hypot(box[2] - box[0], box[3] - box[1]))
            pairs.append((r, g, float(np.linalg.norm(a - b, axis=1).mean()) / diagonal * 100))
        total = sum(p[2] for p in pairs)
        if total < best_total:
            best, best_total = pairs, total
    return best


def agreement(ref: dict, got: dict) -> dict:
    same, distances, handed, worst = 0, [], [], []
    for name, r in ref.items():
        g = got[name]
        same += len(r["hands"]) == len(g["hands"])
        for a, b, d in match(r["hands"], g["hands"], r["size"]):
            distances.append(d)
            handed.append(a["handedness"] == b["handedness"])
            worst.append((d, name))
    return {
        "photos": len(ref),
        "same_hands_found_pct": round(100 * same / len(ref), 1),
        "hands_compared": len(distances),
        "mean_landmark_distance_pct_of_diagonal": round(float(np.mean(distances)), 3),
        "median_landmark_distance_pct": round(float(np.median(distances)), 3),
        "p95_landmark_distance_pct": round(float(np.percentile(distances, 95)), 3),
        "handedness_agreement_pct": round(100 * float(np.mean(handed)), 1),
        "worst": [f"{n}: {d:.2f}%" for d, n in sorted(worst, reverse=True)[:3]],
    }


def against_labels(labels: list[dict], got: dict) -> dict:
    hands, detected, ious = 0, 0, []
    for row in labels:
        g = got[row["image"]]
        for box in row["boxes"]:
            hands += 1
            best = max((iou(np.asarray(box, float), pixel_box(h["landmarks"], g["size"])) for h in g["hands"]), default=0.0)
            detected += best >= DETECTED_IOU
            if best > 0:
                ious.append(best)
    photos_found = sum(bool(got[row["image"]]["hands"]) for row in labels)
    return {
        "photos": len(labels),
        "photos_with_a_hand_found_pct": round(100 * photos_found / len(labels), 1),
        "labelled_hands": hands,
        f"detected_at_iou_{DETECTED_IOU}_pct": round(100 * detected / hands, 1),
        "mean_iou_of_found": round(float(np.mean(ious)), 3),
        "median_iou_of_found": round(float(np.median(ious)), 3),
    }


def signs(labels: list[dict], found: dict, model: str) -> dict:
    """hand-sign accuracy per class from the first hand's landmarks: as found, and mirrored."""
    from shared.gesture.classifier import Frames, GestureClassifier
    from shared.runtime.bundle import load_as

    clf = load_as(GestureClassifier, model, task="gesture-classification")
    table: dict = {}
    for mirrored in (False, True):
        per: dict[str, list[int]] = {s: [0, 0] for s in SIGNS}
        confusion: dict[str, dict[str, int]] = {s: {} for s in SIGNS}
        for row in labels:
            if row["sign"] not in SIGNS:
                continue
            g = found[row["image"]]
            per[row["sign"]][1] += 1
            if not g["hands"]:
                confusion[row["sign"]]["(no hand)"] = confusion[row["sign"]].get("(no hand)", 0) + 1
                continue
            pts = np.asarray(g["hands"][0]["landmarks"])[None, :, :2]
            if mirrored:
                pts = pts * [-1, 1] + [1, 0]
            label = clf.predict(Frames("landmarks", pts, tuple(g["size"])), 1).label
            per[row["sign"]][0] += label == row["sign"]
            confusion[row["sign"]][label] = confusion[row["sign"]].get(label, 0) + 1
        total = [sum(v[0] for v in per.values()), sum(v[1] for v in per.values())]
        table["mirrored" if mirrored else "as_found"] = {
            **{s: f"{c}/{n} ({100 * c / n:.0f}%)" for s, (c, n) in per.items()},
            "all": f"{total[0]}/{total[1]} ({100 * total[0] / total[1]:.0f}%)",
            "answers": confusion,
        }
    return table


def read_labels(folder: Path) -> list[dict]:
    with open(folder / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["boxes"] = [[float(v) for v in b.split()] for b in row["boxes"].split(";") if b.strip()]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=Path(__file__).resolve().parents[2].parent / "shared/data/hands/subhih")
    parser.add_argument(
        "--reference-python",
        help="a Python with mediapipe==0.10.21 (default: .venvs/mediapipe/bin/python when present, from make venv-mediapipe; '' skips)",
    )
    parser.add_argument("--variant", choices=("full", "lite"), default="full")
    parser.add_argument("--bundles-root", type=Path, default=Path(__file__).resolve().parents[2], help="repo root holding models/")
    parser.add_argument("--model", default=str(Path(__file__).resolve().parents[2] / "models/hand-sign"), help="gesture bundle")
    parser.add_argument("--max-side", type=int, default=1280, help="longest side photos are scaled to (MAX_IMAGE_SIDE)")
    parser.add_argument("--out", type=Path, help="write the full report as JSON here")
    parser.add_argument("--reference-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--complexity", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.reference_python = python_option(args.reference_python, "mediapipe")
    labels = read_labels(args.photos)
    paths = [args.photos / row["image"] for row in labels]
    if args.reference_only:
        json.dump(reference([str(p) for p in paths], args.complexity), sys.stdout)
        return 0
    got, cpu = ours(paths, args.bundles_root, args.variant, args.max_side)
    report: dict = {
        "variant": args.variant,
        "max_side": args.max_side,
        "cpu_ms_per_photo": {k: round(float(np.mean(v)), 2) for k, v in cpu.items()},
        "labels": against_labels(labels, got),
        "signs": signs(labels, got, args.model),
    }
    if args.reference_python:
        complexity = "1" if args.variant == "full" else "0"
        cmd = [args.reference_python, __file__, "--reference-only", "--photos", str(args.photos), "--complexity", complexity]
        ref = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1800).stdout)
        report["agreement"] = agreement(ref, got)
        report["reference_labels"] = against_labels(labels, ref)
        report["reference_signs"] = signs(labels, ref, args.model)
    print_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
