#!/usr/bin/env python3
"""Calibrate the face embedder's decision threshold on real, labelled photos.

Runs the served pipeline (decode -> detect -> align -> embed) on every photo of a labelled
folder (default ../shared/data/faces/deepface: 61 photos, 13 people), scores all pairs,
and prints ROC AUC, EER, accuracy at the threshold, and TAR at FAR 1%.

Operating point: when every same-person distance is below every different-person distance,
the midpoint of that gap (the largest margin either way); otherwise the threshold with the
best accuracy, ties going to the lower false-accept rate.

    python tools/calibrate/calibrate_face_threshold.py               # print the table
    python tools/calibrate/calibrate_face_threshold.py --write       # also store it in bundle.json
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

from shared.errors import ServiceError
from shared.face.verify import FaceVerifier, VerifyOptions
from shared.runtime.bundle import sha256_hex
from shared.settings import DEFAULT_FACE_EMBEDDER, get_settings
from tools.testdata import SHARED_DATA

DEFAULT_PHOTOS = SHARED_DATA / "faces" / "deepface"


def roc_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """P(a random same-person distance < a random different-person distance); ties count half."""
    g = genuine[:, None]
    return float(((g < impostor[None, :]).sum() + 0.5 * (g == impostor[None, :]).sum()) / (len(genuine) * len(impostor)))


def rates(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> tuple[float, float]:
    """(true-accept rate, false-accept rate) when distance <= threshold means "same"."""
    return float((genuine <= threshold).mean()), float((impostor <= threshold).mean())


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> float:
    best = (2.0, 1.0)
    for t in np.unique(np.concatenate([genuine, impostor])):
        tar, far = rates(genuine, impostor, t)
        gap = abs((1 - tar) - far)
        if gap < best[0]:
            best = (gap, ((1 - tar) + far) / 2)
    return best[1]


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far_max: float) -> float:
    allowed = [t for t in np.unique(np.concatenate([genuine, impostor])) if rates(genuine, impostor, t)[1] <= far_max]
    return max((rates(genuine, impostor, t)[0] for t in allowed), default=0.0)


def pick_threshold(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, str]:
    if genuine.max() < impostor.min():
        return float((genuine.max() + impostor.min()) / 2), "midpoint of the gap between same- and different-person distances"
    candidates = np.unique(np.concatenate([genuine, impostor]))
    n = len(genuine) + len(impostor)

    def score(t):
        tar, far = rates(genuine, impostor, t)
        return (tar * len(genuine) + (1 - far) * len(impostor)) / n, -far

    return float(max(candidates, key=score)), "best accuracy over all pairs (ties: lower false-accept rate)"


def load_labels(folder: Path) -> dict[str, str]:
    with open(folder / "labels.csv", newline="") as f:
        return {row["image"]: row["identity"] for row in csv.DictReader(f)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="folder with labels.csv (image,identity)")
    parser.add_argument("--embedder", default=DEFAULT_FACE_EMBEDDER, help="embedder bundle folder")
    parser.add_argument("--write", action="store_true", help="store threshold and metrics in the bundle's bundle.json")
    args = parser.parse_args()

    # The served pipeline as configured (detectors, decode limits, runtime), this embedder, no cache.
    options = dataclasses.replace(VerifyOptions.from_settings(get_settings()), embedder=args.embedder, cache_size=0)
    verifier = FaceVerifier.load(options)
    labels = load_labels(args.photos)
    embeddings, failed = {}, []
    for image in sorted(labels):
        try:
            embeddings[image] = verifier.embed_photo((args.photos / image).read_bytes(), image).embedding
        except ServiceError as exc:
            failed.append(f"{image}: {exc.message}")
    genuine, impostor = [], []
    for a, b in itertools.combinations(sorted(embeddings), 2):
        (genuine if labels[a] == labels[b] else impostor).append(verifier.distance(embeddings[a], embeddings[b]))
    genuine, impostor = np.array(genuine), np.array(impostor)
    threshold, rule = pick_threshold(genuine, impostor)
    tar, far = rates(genuine, impostor, threshold)
    accuracy = (tar * len(genuine) + (1 - far) * len(impostor)) / (len(genuine) + len(impostor))
    metrics = {
        "dataset": f"{args.photos.name}: {len(labels)} photos, {len(set(labels.values()))} people ({len(embeddings)} with a face)",
        "pairs": {"same": len(genuine), "different": len(impostor)},
        "metric": verifier.metric,
        "roc_auc": round(roc_auc(genuine, impostor), 6),
        "eer": round(equal_error_rate(genuine, impostor), 6),
        "threshold": round(threshold, 4),
        "accuracy_at_threshold": round(accuracy, 6),
        "tar_at_threshold": round(tar, 6),
        "far_at_threshold": round(far, 6),
        "tar_at_far_1pct": round(tar_at_far(genuine, impostor, 0.01), 6),
        "same_distance_max": round(float(genuine.max()), 4),
        "different_distance_min": round(float(impostor.min()), 4),
        "no_face": failed,
    }
    print_table(metrics, rule)
    if args.write:
        write_bundle(Path(args.embedder), metrics, rule)
    return 0


def print_table(m: dict, rule: str) -> None:
    print(f"\nCalibration on {m['dataset']}; metric {m['metric']}")
    print("| measure | value |\n|---|---|")
    for key in (
        "pairs",
        "roc_auc",
        "eer",
        "threshold",
        "accuracy_at_threshold",
        "tar_at_threshold",
        "far_at_threshold",
        "tar_at_far_1pct",
        "same_distance_max",
        "different_distance_min",
    ):
        print(f"| {key} | {m[key]} |")
    print(f"\nthreshold rule: {rule}")
    for line in m["no_face"]:
        print(f"no face: {line}")


def write_bundle(folder: Path, metrics: dict, rule: str) -> None:
    path = folder / "bundle.json"
    meta = json.loads(path.read_text())
    assert meta["sha256"] == sha256_hex((folder / "model.tflite").read_bytes()), "bundle.json does not match model.tflite"
    meta["threshold"] = {
        "metric": metrics["metric"],
        "value": metrics["threshold"],
        "operating_point": rule,
        "calibrated_by": "tools/calibrate/calibrate_face_threshold.py",
    }
    meta.setdefault("metrics", {})["calibration"] = metrics
    path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote threshold {metrics['threshold']} to {path}")


if __name__ == "__main__":
    sys.exit(main())
