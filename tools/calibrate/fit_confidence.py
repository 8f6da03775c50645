#!/usr/bin/env python3
"""Fit the map from a face distance to a confidence in 0..1, and store it in bundle.json.

The served pipeline embeds every photo of a labelled pair list (lfw-dev by default: 1,200
same-person and 1,200 different-person pairs) exactly as calibrate_face_threshold.py does
(same embeddings, same on-disk cache); a logistic regression of "same person" on the
distance is then fitted by Newton's method (IRLS, a tiny ridge so a separable set still
converges):

    confidence(d) = 1 / (1 + exp(-(intercept + slope * d)))       (slope < 0: nearer = surer)

It is P(same person | distance) on a set with as many same- as different-person pairs, so
a confidence of 0.5 is where the fitted curve crosses, near the calibrated threshold. The
runtime reads only `confidence.intercept` and `confidence.slope` from bundle.json.

    python tools/calibrate/fit_confidence.py --pairs ../shared/data/faces/lfw-dev/pairs.csv          # print
    python tools/calibrate/fit_confidence.py --pairs ... --embedder models/face-embedder-dlib --write  # store
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the repo root, also when run as a file

from shared.face.verify import FaceVerifier, VerifyOptions  # noqa: E402
from shared.settings import DEFAULT_FACE_EMBEDDER, get_settings  # noqa: E402
from tools.calibrate.calibrate_face_threshold import Embeddings, PairSet, distances  # noqa: E402
from tools.testdata import SHARED_DATA  # noqa: E402

DEFAULT_PAIRS = SHARED_DATA / "faces" / "lfw-dev" / "pairs.csv"
RIDGE = 1e-6


def fit_logistic(d: np.ndarray, same: np.ndarray, iterations: int = 100) -> tuple[float, float]:
    """(intercept, slope) of P(same | d) = sigmoid(intercept + slope * d), by IRLS."""
    x = np.stack([np.ones_like(d), d], axis=1)
    y = same.astype(np.float64)
    w = np.zeros(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (p - y) + RIDGE * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + RIDGE * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(w[0]), float(w[1])


def confidence(d: np.ndarray, intercept: float, slope: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(intercept + slope * d)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS, help="pair list (fold,img1,img2,same)")
    parser.add_argument("--embedder", default=DEFAULT_FACE_EMBEDDER, help="embedder bundle folder")
    parser.add_argument("--write", action="store_true", help="store the fit in the bundle's bundle.json")
    args = parser.parse_args(argv)
    if not args.pairs.exists():
        parser.error(f"{args.pairs} does not exist (the lfw-dev set lives in ../shared/data/faces)")

    options = dataclasses.replace(VerifyOptions.from_settings(get_settings()), embedder=args.embedder, cache_size=0)
    verifier = FaceVerifier.load(options)
    pair_set = PairSet.from_pairs(args.pairs)
    d, same, no_face = distances(pair_set, Embeddings(verifier, "edge"), cropped=False)
    keep = np.isfinite(d)  # a photo without a face is answered 422, never given a confidence
    intercept, slope = fit_logistic(d[keep], same[keep])
    threshold = verifier.threshold
    p = confidence(d[keep], intercept, slope)
    loss = float(-np.mean(np.where(same[keep], np.log(p + 1e-12), np.log(1 - p + 1e-12))))
    print(f"{verifier.embedder.bundle.name}: {int(keep.sum())} pairs ({len(no_face)} photos without a face left out)")
    print(f"intercept {intercept:.4f} slope {slope:.4f}; log loss {loss:.4f}; 0.5 at distance {-intercept / slope:.4f}")
    print(f"confidence at the threshold {threshold}: {float(confidence(np.array(threshold), intercept, slope)):.4f}")
    if args.write:
        path = Path(args.embedder) / "bundle.json"
        meta = json.loads(path.read_text())
        meta["confidence"] = {
            "kind": "logistic",
            "intercept": round(intercept, 6),
            "slope": round(slope, 6),
            "formula": "1 / (1 + exp(-(intercept + slope * distance)))",
            "meaning": "P(same person | distance) on a set with as many same- as different-person pairs",
            "set": pair_set.name,
            "pairs": int(keep.sum()),
            "log_loss": round(loss, 4),
            "fitted_by": "tools/calibrate/fit_confidence.py",
        }
        path.write_text(json.dumps(meta, indent=2) + "\n")
        print(f"wrote confidence to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
