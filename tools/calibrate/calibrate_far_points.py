#!/usr/bin/env python3
"""Operating points by false-accept rate, condition-aware, from the development variants.

Reads the scores of tools/calibrate/capture_variants.py (`score --label shipped`: this
tree's served path over every variant of lfw-dev and deepface) and, for each target FAR,
fits one threshold per condition (shared/face/operating.py: good, grayscale, tight, one_tight, poor;
a pair takes the strictest of its photos' conditions; the photos' from shared/face/quality.py's
limits as they are now, recomputed from the recorded measures):

1. each condition's threshold is the highest whose FAR over the pairs in that condition
   (good: in no other), in the union of the variants, is <= the target (4 decimals, down);
2. none looser than good's;
3. at the default point, never looser than the shipped balanced threshold (bundle.json
   `threshold.value`: 0.6566 since 0.5.0's third round, the flat-filled tight chips and
   the balanced rule that keeps lfw-dev's 99.3% bar; 0.6394 in its second round, 0.6395 in
   0.4.0), as in 0.4.0: in an identity check a false accept is the costly error, so clean
   photos keep the single threshold's verdicts rather than the most accurate cap (the
   script prints that cap and its clean FAR as a diagnostic: 0.66 gave clean lfw-dev
   99.62% but a clean FAR of 0.42%, deepface 0.65%);
4. then, while a variant's FAR is over the target, the condition other than good with the
   most false accepts in that variant (the one deciding them) is lowered to just under its
   nearest accepted impostor; good's own false accepts are left (and reported): lowering
   good for one variant would move every clean pair.

Issue 24 also asked for FAR <= 0.1% on clean photos at the default: lfw-dev's 1,200
impostor pairs have none under 0.6589, but deepface pairs two actors who look alike
(id04 and id08: five impostor pairs at 0.56-0.62), so 0.1% on clean photos takes the one
clean threshold to ~0.61 and lfw-dev's accuracy to ~98.8% (docs/accuracy.md has the
table: FAR 0.1% and 99.3% on clean lfw-dev cannot hold together). The default keeps the
shipped threshold (0.6566: clean FAR 0.31% on lfw-dev and deepface, lfw-dev 99.58%; at
0.6394, 0.5.0's second round: 0.17% and 99.29%); `far=0.001` is the point for 0.1%.

Every set here is a development set (lfw-dev folds 1-4 and deepface): the points are fitted
and measured on the same pairs, so the measured FARs are not held-out figures.

    .venv/bin/python tools/calibrate/calibrate_far_points.py            # print the points
    .venv/bin/python tools/calibrate/calibrate_far_points.py --write    # store them in bundle.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from shared.face.operating import CONDITIONS, conditions_of  # noqa: E402
from shared.settings import DEFAULT_FACE_EMBEDDER  # noqa: E402
from tools.calibrate import calibrate_face_threshold as cal  # noqa: E402
from tools.calibrate.capture_variants import DEV_FOLDS, PAIR_VARIANTS, VARIANTS, source_sets  # noqa: E402
from tools.calibrate.variant_table import pairs_of, requalify  # noqa: E402

TARGETS = (0.001, 0.005, 0.01)
DEFAULT_FAR = 0.005


def scored(label: str, folds: tuple[int, ...]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """variant -> (distances, same, flags): flags (pairs, len(CONDITIONS)) bool, whether
    either photo of the pair is in each condition (good: always)."""
    out = {}
    for variant in [*VARIANTS, *PAIR_VARIANTS]:
        p = pairs_of(label, variant, folds)
        if p is None:
            print(f"{variant}: not scored yet, left out", file=sys.stderr)
            continue
        sets = [conditions_of(requalify(a), requalify(b)) for a, b in zip(p["q1"], p["q2"], strict=True)]
        out[variant] = (p["d"], p["same"], np.array([[c in flags for c in CONDITIONS] for flags in sets]))
    return out


def pair_thresholds(flags: np.ndarray, thresholds: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """(each pair's threshold: the strictest of its conditions; the index of that condition)."""
    table = np.where(flags, np.array([thresholds[c] for c in CONDITIONS]), np.inf)
    # Ties go to the later condition, as operating.OperatingPoint.condition names them.
    return table.min(axis=1), len(CONDITIONS) - 1 - table[:, ::-1].argmin(axis=1)


def fit(data: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], target: float, cap: float = 2.0) -> dict[str, float]:
    d = np.concatenate([v[0] for v in data.values()])
    same = np.concatenate([v[1] for v in data.values()])
    flags = np.concatenate([v[2] for v in data.values()])
    thresholds = {}
    for i, c in enumerate(CONDITIONS):
        # good: the pairs in no other condition
        keep = ~flags[:, 1:].any(axis=1) if c == "good" else flags[:, i]
        t = cal.threshold_at_far(d[keep & same], d[keep & ~same], target) if (keep & ~same).any() else 2.0
        thresholds[c] = min(cap, float(np.floor(t * 1e4) / 1e4))
    for c in CONDITIONS[1:]:
        thresholds[c] = min(thresholds[c], thresholds["good"])
    for _ in range(500):
        over = []
        for vd, vs, vf in data.values():
            t, decided = pair_thresholds(vf, thresholds)
            # good's false accepts stay: good is fitted on the pairs in no other condition
            # (lowering it for one variant would take every clean pair's verdicts with it).
            accepted = (vd <= t) & ~vs & (decided != 0)
            if ((vd <= t) & ~vs).sum() / max((~vs).sum(), 1) > target and accepted.any():
                over.append((accepted.sum() / (~vs).sum(), accepted, vd, decided))
        if not over:
            break
        _, accepted, vd, decided = max(over, key=lambda o: o[0])
        c = int(np.argmax(np.bincount(decided[accepted], minlength=len(CONDITIONS))))
        nearest = vd[accepted & (decided == c)].max()
        thresholds[CONDITIONS[c]] = min(thresholds[CONDITIONS[c]], float(np.floor((nearest - 1e-4) * 1e4) / 1e4))
    return thresholds


def variant_far(data: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], thresholds: dict[str, float]) -> dict[str, float]:
    """Each variant's FAR under the condition-aware thresholds."""
    out = {}
    for variant, (vd, vs, vf) in data.items():
        t, _ = pair_thresholds(vf, thresholds)
        out[variant] = float(((vd <= t) & ~vs).sum() / max((~vs).sum(), 1))
    return out


def clean_scores(
    data: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], thresholds: dict[str, float], lfw_pairs: int
) -> tuple[float, float]:
    """(clean lfw-dev's accuracy: the first `lfw_pairs` pairs of the clean variant; the
    clean variant's FAR over all its pairs)."""
    vd, vs, vf = data["clean"]
    t, _ = pair_thresholds(vf, thresholds)
    accepted = vd <= t
    return float((accepted[:lfw_pairs] == vs[:lfw_pairs]).mean()), float((accepted & ~vs).sum() / max((~vs).sum(), 1))


def choose_cap(data: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], target: float, lfw_pairs: int) -> float:
    """A diagnostic only (not the default's cap): the cap of good whose fit makes clean
    lfw-dev (the first `lfw_pairs` pairs of the clean variant) the most accurate with every
    variant's FAR <= `target`; ties to the stricter cap."""
    best = (-1.0, 0.0)
    for cap in np.round(np.arange(0.60, 0.7001, 0.0025), 4):
        thresholds = fit(data, target, float(cap))
        if max(variant_far(data, thresholds).values()) > target:
            continue
        accuracy, _ = clean_scores(data, thresholds, lfw_pairs)
        if accuracy > best[0] + 1e-12:
            best = (accuracy, float(cap))
    return best[1]


def measured(data: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], thresholds: dict[str, float]) -> dict[str, dict[str, float]]:
    d = np.concatenate([v[0] for v in data.values()])
    same = np.concatenate([v[1] for v in data.values()])
    t, decided = pair_thresholds(np.concatenate([v[2] for v in data.values()]), thresholds)
    out = {}
    for i, c in enumerate(CONDITIONS):
        keep = decided == i
        g, imp, tg, ti = d[keep & same], d[keep & ~same], t[keep & same], t[keep & ~same]
        out[c] = {
            "far": round(float((imp <= ti).mean()) if len(imp) else 0.0, 6),
            "frr": round(float((g > tg).mean()) if len(g) else 0.0, 6),
            "pairs": int(keep.sum()),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="shipped", help="the scores to fit on (build/variants/scores/<label>/)")
    parser.add_argument("--folds", type=int, nargs="+", default=list(DEV_FOLDS))
    parser.add_argument("--embedder", type=Path, default=Path(DEFAULT_FACE_EMBEDDER))
    parser.add_argument("--write", action="store_true", help="store the points in the embedder's bundle.json")
    args = parser.parse_args(argv)
    data = scored(args.label, tuple(args.folds))
    lfw_pairs = len(source_sets(tuple(args.folds))["lfw-dev"])
    shipped = json.loads((args.embedder / "bundle.json").read_text())["threshold"]["value"]
    points = {}
    for target in TARGETS:
        thresholds = fit(data, target, shipped if target == DEFAULT_FAR else 2.0)
        points[f"{target:.0e}"] = {"thresholds": thresholds, "measured": measured(data, thresholds)}
        print(f"FAR {target:g}: {thresholds}  {points[f'{target:.0e}']['measured']}")
        worst = max(variant_far(data, thresholds).items(), key=lambda kv: kv[1])
        accuracy, clean_far = clean_scores(data, thresholds, lfw_pairs)
        print(f"  highest variant FAR: {worst[0]} {worst[1]:.4%}; clean lfw-dev {accuracy:.2%}, clean FAR {clean_far:.2%}")
        if target == DEFAULT_FAR and "clean" in data:
            cap = choose_cap(data, target, lfw_pairs)
            accuracy, clean_far = clean_scores(data, fit(data, target, cap), lfw_pairs)
            print(f"  the cap that would maximise clean lfw-dev accuracy: {cap} ({accuracy:.2%}), clean FAR {clean_far:.2%}")
    if args.write:
        path = args.embedder / "bundle.json"
        meta = json.loads(path.read_text())
        meta["threshold"]["far_default"] = DEFAULT_FAR
        meta["threshold"]["far_points"] = points
        meta["threshold"]["far_points_calibrated_by"] = (
            "tools/calibrate/calibrate_far_points.py on the union of tools/calibrate/capture_variants.py's variants "
            f"of lfw-dev folds {' '.join(map(str, args.folds))} and deepface (development sets: measured where fitted)"
        )
        path.write_text(json.dumps(meta, indent=2) + "\n")
        print(f"wrote {len(points)} points to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
