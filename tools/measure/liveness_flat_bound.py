#!/usr/bin/env python3
"""The flat-picture bound of liveness (LivenessOptions.max_planar_residual), measured.

A print or a screen turned in front of the camera moves its face's landmarks as a plane: a
homography maps the first frame's 468 mesh points onto the turned frame's almost exactly
(shared/liveness/measures.planar_residual, as a fraction of the face's size). A head turning
in 3D does not. This tool measures both sides of the bound on lfw-dev photos:

- flat: each person's most frontal photo (|yaw| < 6 degrees) as a print turned in perspective
  (liveness_bursts.perspective) by 25-35 degrees about the vertical axis (`turn`) or 15-30
  degrees about the horizontal one (`tilt`, a print tilted back to fake looking up), moved and
  re-encoded as a still attack's frames are; the residual from the untouched photo's mesh;
- 3d: pairs of different photos of one person, one turned 15 degrees or more of yaw from the
  other (`turn`), or looking up 10 degrees or more with under 10 degrees of yaw between them
  (`look_up`): the residual from the first photo's mesh to the second's (different photos
  also differ in expression, which adds to the residual: see docs/liveness.md);
and says how many of each fall on the wrong side of the bound in force (a turn's for `turn`,
looking up's for `tilt` and `look_up`).

    .venv/bin/python tools/measure/liveness_flat_bound.py [--photos ../shared/data/faces/lfw-dev] \
        [--people 400] [--out build/liveness-flat-bound.json]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np
from PIL import Image

from tools import ROOT, print_report
from tools.measure import liveness_bursts as bursts

FRONTAL_DEG = 6.0


def summary(values: list[float], bound: float, flat: bool) -> dict:
    """Percentiles (in % of the face's size) and how many fall on the wrong side of `bound`."""
    v = np.array(values) * 100
    if not len(v):
        return {"count": 0}
    wrong = int((v >= bound * 100).sum()) if flat else int((v < bound * 100).sum())
    q = {f"p{p}": round(float(np.percentile(v, p)), 3) for p in (1, 5, 50, 95, 99)}
    return {"count": len(v), **q, "min": round(float(v.min()), 3), "max": round(float(v.max()), 3), "wrong_side_of_bound": wrong}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared/data/faces/lfw-dev")
    parser.add_argument("--people", type=int, default=400, help="people with at least 2 photos, in name order")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--split", choices=("tune", "held_out", "all"), default="all", help="people of one half (liveness_eval.split_of)")
    parser.add_argument("--yaw-deg", type=float, help="the turn bound to measure at (default: LivenessOptions.yaw_deg)")
    parser.add_argument("--out", type=Path, default=ROOT / "build/liveness-flat-bound.json")
    args = parser.parse_args(argv)
    from shared.liveness.measures import planar_residual
    from tools.measure.liveness_eval import load, photo_measure, split_of, spread

    verifier, mesh, options = load(args.yaw_deg)
    rng = np.random.default_rng(args.seed)
    people = [d for d in sorted(args.photos.iterdir()) if d.is_dir() and len(list(d.glob("*.jpg"))) >= 2][: args.people]
    people = [d for d in people if args.split in ("all", split_of(d.name))]
    flat: dict[str, list[float]] = {"turn": [], "tilt": [], "turn_seen_as_an_action": [], "tilt_seen_as_an_action": []}
    solid: dict[str, list[float]] = {"turn": [], "look_up": []}
    turned: list[float] = []  # how far each print turned 25-35 degrees measures as a turn
    for person in people:
        measured = [(p.read_bytes(), photo_measure(verifier, mesh, p.read_bytes())) for p in sorted(person.glob("*.jpg"))]
        measured = [(d, m) for d, m in measured if m is not None]
        for (_, a), (_, b) in ((x, y) for i, x in enumerate(measured) for y in measured[i + 1 :]):
            for first, second in ((a, b), (b, a)):
                dyaw, dpitch = second.yaw - first.yaw, second.pitch - first.pitch
                if abs(dyaw) >= 15 and abs(first.yaw) < FRONTAL_DEG:
                    solid["turn"].append(planar_residual(first.points, second.points))
                elif dpitch >= 10 and abs(dyaw) < 10:
                    solid["look_up"].append(planar_residual(first.points, second.points))
        fronts = sorted(((abs(m.yaw), d, m) for d, m in measured if abs(m.yaw) < FRONTAL_DEG), key=lambda t: t[0])
        if not fronts:
            continue
        _, data, ref = fronts[0]
        base = bursts.fit(Image.open(io.BytesIO(data)))
        ref = photo_measure(verifier, mesh, bursts.encode(base))  # the print's own first frame
        if ref is None:
            continue
        for kind, yaw, pitch in (
            ("turn", rng.choice([-1, 1]) * rng.uniform(25, 35), rng.uniform(-5, 5)),
            ("tilt", rng.uniform(-5, 5), rng.choice([-1, 1]) * rng.uniform(15, 30)),
        ):
            shown = bursts.moved(bursts.perspective(base, yaw, pitch, rng), rng, 0.02, 0.02, 3.0)
            m = photo_measure(verifier, mesh, bursts.encode(shown, int(rng.integers(75, 95))))
            if m is not None:
                residual = planar_residual(ref.points, m.points)
                if kind == "turn":
                    turned.append(abs(m.yaw - ref.yaw))
                flat[kind].append(residual)
                if (kind == "turn" and abs(m.yaw - ref.yaw) >= options.yaw_deg) or (
                    kind == "tilt" and m.pitch - ref.pitch >= options.pitch_deg
                ):
                    flat[f"{kind}_seen_as_an_action"].append(residual)  # the ones only the flat test refuses
    bound, up = options.max_planar_residual, options.max_planar_residual_up  # a turn's; looking up's (and a tilt's)
    report = {
        "photos": str(args.photos.name),
        "split": args.split,
        "people": len(people),
        "bound_pct": {"turn": round(bound * 100, 3), "look_up": round(up * 100, 3)},
        "flat_print_pct": {k: summary(v, up if k.startswith("tilt") else bound, True) for k, v in flat.items()},
        "head_in_3d_pct": {k: summary(v, up if k == "look_up" else bound, False) for k, v in solid.items()},
        "yaw_deg": options.yaw_deg,
        "flat_print_turned_deg": spread(turned),
    }
    print_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
