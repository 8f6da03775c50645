#!/usr/bin/env python3
"""A quality signal from the embedder itself, measured on the capture variants (issue 24).

The quality gate (`quality_policy: reject`, shared/face/quality.py) judges pixels: size,
sharpness, brightness, pose. The errors it leaves on the hardest variants (face-filling
crops, heavy JPEG, photos upside down) come from chips that look fine but embed badly. This
tool measures three signals of the embedder's own, per photo:

    norm   the L2 norm of the embedding before normalisation (SFace's vectors are not
           normalised; for a tight face the stored vector is the mean direction of the chip's
           and its mirror image's, as long as their mean length: embed._mean_direction);
    flip   the cosine distance between the chip's embedding and its mirror image's
           (SER-FIQ-like stability); not in the scores: `flip` computes it (one detection
           and two inferences a photo) into build/embed-quality/<label>/<variant>.json;
    det    the detector's score of the face.

`sweep` replays the gate with a limit on one signal added (a photo under it is rejected
too; over it, for flip), per variant: pairs passed, error rate of all pairs, error rate of
the passed pairs (wrong answers at the label's condition-aware thresholds, variant_table.py's
definitions; None when no pair passes, which never counts as halved), and the share of clean
photos rejected. A tight face (the aligned face past the photo's edge) may take its own limit
(`--tight`): its norm is the mirror-averaged one, and no clean photo is tight. `fit` chooses
the limits by one rule on lfw-dev folds 1-2 and deepface (the fit part) and prints them
against lfw-dev folds 3-4 (the check part) and all pairs: all of it development data.
`fit --write <bundle.json>` writes them into the embedder bundle's `quality` block, which
shared/face/contract.py reads (quality.judge_embedding gives `unreliable_face` under them).

Needs the development photos beside the repo and the scores of
tools/calibrate/capture_variants.py (`make`, then `score --label <label>`):

    .venv/bin/python tools/measure/embed_quality.py fit --write models/face-embedder-sface/bundle.json
    .venv/bin/python tools/measure/embed_quality.py sweep --signal norm --limits 9 9.5 10 --tight 10 10.5
    nice .venv/bin/python tools/measure/embed_quality.py flip --variants clean jpeg rot180 crop0 crop0-gray
    .venv/bin/python tools/measure/embed_quality.py fit --signal flip --limits 0.04 0.1 0.005 --tight 0.04 0.1 0.005
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools.calibrate import variant_table as vt  # noqa: E402
from tools.calibrate.capture_variants import DATA, PAIR_VARIANTS, VARIANTS, photos_of, score_each, source_sets  # noqa: E402

FLIP_OUT = ROOT / "build" / "embed-quality"
HARDEST = ("crop0", "crop0-gray", "selfie-id", "jpeg", "rot180", "blur", "small", "dark")
# A photo is rejected when its signal is under the limit ("min") or over it ("max").
DIRECTION = {"norm": "min", "det": "min", "flip": "max"}
PARTS = {"fit": ((1, 2), True), "check": ((3, 4), False), "all": ((1, 2, 3, 4), True)}  # lfw-dev folds, with deepface


# ---- the signals ---------------------------------------------------------------------------


def flip_path(label: str, variant: str) -> Path:
    return FLIP_OUT / label / f"{variant}.json"


def flip(label: str, variants: list[str], deadline_s: float) -> None:
    """The chip's and its mirror image's embeddings for every photo of `variants`, through
    this tree's detection and alignment (the served path's), cached per photo: the cosine
    distance between them and each one's norm."""
    from dataclasses import replace

    from shared.errors import ServiceError
    from shared.face.embed import cosine_distance
    from shared.face.verify import FaceVerifier, Stopwatch, VerifyOptions
    from shared.settings import get_settings

    verifier = FaceVerifier.load(replace(VerifyOptions.from_settings(get_settings()), cache_size=0))
    embedder, started = verifier.embedder, time.monotonic()

    def flips(data: bytes, image: str) -> dict[str, float] | None:
        try:
            photo, faces, _, _ = verifier.find_faces(data, image, Stopwatch())
        except ServiceError:
            return None
        chip = embedder.chip(photo.pixels, faces[0])
        a, b = embedder.embed(chip), embedder.embed(np.ascontiguousarray(chip[:, ::-1]))
        return {"flip": round(cosine_distance(a, b), 6), "norm": round(float(np.linalg.norm(a)), 4)}

    for variant in variants:
        records = score_each(flip_path(label, variant), variant, PARTS["all"][0], flips, started, deadline_s)
        if records is None:
            return
        print(f"{label} {variant}: {len(records)} photos", flush=True)


def photo_signal(record: dict[str, Any] | None, flips: dict[str, Any] | None, key: str, signal: str) -> float:
    """One photo's signal; NaN without a face (the gate rejects it already)."""
    if record is None or record.get("embedding") is None:
        return float("nan")
    if signal == "norm":
        return float(np.linalg.norm(record["embedding"]))
    if signal == "det":
        return float(record["score"])
    if flips is None or flips.get(key) is None:
        return float("nan")
    return float(flips[key]["flip"])


# ---- replaying the gate --------------------------------------------------------------------


@dataclass
class Pairs:
    """A variant's pairs in one part: right at the label's thresholds, passed by today's
    gate, each side's signal and tightness."""

    right: np.ndarray
    gate: np.ndarray
    signal: np.ndarray  # (N, 2)
    tight: np.ndarray  # (N, 2) bool


def pairs(label: str, variant: str, part: str, signal: str) -> Pairs | None:
    folds, with_deepface = PARTS[part]
    sides = PAIR_VARIANTS.get(variant, (variant, variant))
    records = [vt.load(label, side) for side in sides]
    if records[0] is None or records[1] is None:
        return None
    flips = [_flips(label, side) if signal == "flip" else None for side in sides]
    rows: list[tuple[Any, Any, str, str, bool]] = []
    for set_name, listed in source_sets(folds).items():
        if set_name == "deepface" and not with_deepface:
            continue
        for a, b, same in listed:
            ka, kb = f"{set_name}/{a}", f"{set_name}/{b}"
            if ka in records[0] and kb in records[1]:
                rows.append((records[0][ka], records[1][kb], ka, kb, same))
    metric = vt.meta(label)["metric"]
    p = {
        "d": np.array([vt.distance(vt.vector(ra), vt.vector(rb), metric) for ra, rb, *_ in rows]),
        "same": np.array([same for *_, same in rows]),
        "q1": [vt.requalify(ra.get("quality")) for ra, *_ in rows],
        "q2": [vt.requalify(rb.get("quality")) for _, rb, *_ in rows],
    }
    right = (p["d"] <= vt.thresholds_for(label, p)) == p["same"]
    values = np.array([[photo_signal(ra, flips[0], ka, signal), photo_signal(rb, flips[1], kb, signal)] for ra, rb, ka, kb, _ in rows])
    tight = np.array([[bool(q and q["tight"]) for q in (q1, q2)] for q1, q2 in zip(p["q1"], p["q2"], strict=True)])
    return Pairs(right, vt.gate(p), values, tight)


def _flips(label: str, variant: str) -> dict[str, Any] | None:
    path = flip_path(label, variant)
    return json.loads(path.read_text()) if path.exists() else None


def rejected(values: np.ndarray, tight: np.ndarray, signal: str, limit: float, tight_limit: float) -> np.ndarray:
    """Photos the signal rejects at these limits (a photo without the signal: not by it)."""
    limits = np.where(tight, tight_limit, limit)
    with np.errstate(invalid="ignore"):
        out = values < limits if DIRECTION[signal] == "min" else values > limits
    return out & ~np.isnan(values)


def judge(p: Pairs, signal: str, limit: float, tight_limit: float) -> dict[str, Any]:
    """Pairs passed, error rates of all pairs and of the passed pairs (None: none passed)."""
    keep = p.gate & ~rejected(p.signal, p.tight, signal, limit, tight_limit).any(axis=1)
    all_error = float(1 - p.right.mean())
    passed = float(1 - p.right[keep].mean()) if keep.any() else None
    halved = passed is not None and passed <= all_error / 2
    return {"pairs": len(p.right), "passed": float(keep.mean()), "error_all": all_error, "error_passed": passed, "halved": halved}


@dataclass
class Clean:
    """The clean variant's photos with a face (in one part): rejected by today's gate, and
    each one's signal and tightness."""

    poor: np.ndarray
    signal: np.ndarray
    tight: np.ndarray

    def rejected(self, signal: str, limit: float, tight_limit: float) -> float:
        """The share of them the gate and the signal reject."""
        return float((self.poor | rejected(self.signal, self.tight, signal, limit, tight_limit)).mean())


def clean_photos(label: str, part: str, signal: str) -> Clean:
    folds, with_deepface = PARTS[part]
    records, flips = vt.load(label, "clean") or {}, _flips(label, "clean") if signal == "flip" else None
    keys = sorted(
        {f"{s}/{img}" for s, listed in source_sets(folds).items() if s != "deepface" or with_deepface for img in photos_of(listed)}
    )
    shown = [(k, records[k]) for k in keys if k in records and records[k].get("embedding") is not None]
    q = [vt.requalify(r["quality"]) for _, r in shown]
    return Clean(
        np.array([bool(x and x["reasons"]) for x in q]),
        np.array([photo_signal(r, flips, k, signal) for k, r in shown]),
        np.array([bool(x and x["tight"]) for x in q]),
    )


def off(signal: str) -> float:
    return -np.inf if DIRECTION[signal] == "min" else np.inf


def sweep(
    label: str, signal: str, limits: list[float], tight_limits: list[float] | None, variants: list[str], as_json: Path | None
) -> None:
    """Each (limit, tight limit) on the fit part and the check part, and today's gate first."""
    settings = [(off(signal), off(signal))] + [(x, t) for x in limits for t in (tight_limits or [x])]
    data = {part: {v: pairs(label, v, part, signal) for v in variants} for part in PARTS}
    clean = {part: clean_photos(label, part, signal) for part in PARTS}
    out = [entry(data, clean, signal, limit, tight_limit) for limit, tight_limit in settings]
    for e in out:
        print_entry(e)
    if as_json is not None:
        as_json.parent.mkdir(parents=True, exist_ok=True)
        as_json.write_text(json.dumps(out, indent=1) + "\n")


def _finite(value: float) -> float | None:
    return None if np.isinf(value) else value


def entry(data: dict[str, dict[str, Pairs | None]], clean: dict[str, Clean], signal: str, limit: float, tight: float) -> dict[str, Any]:
    """Today's gate and a limit on `signal` (`tight`: tight faces' limit) on every part."""
    sign = "<" if DIRECTION[signal] == "min" else ">"
    name = "today's gate" if np.isinf(limit) else f"{signal} {sign} {limit:g} (tight faces: {tight:g})"
    e: dict[str, Any] = {"setting": name, "limit": _finite(limit), "tight_limit": _finite(tight)}
    for part in data:
        rows = {v: judge(p, signal, limit, tight) for v, p in data[part].items() if p is not None}
        e[part] = {"clean_rejected": clean[part].rejected(signal, limit, tight), "variants": rows}
    return e


def fit(label: str, signal: str, limits: list[float], tight_limits: list[float], min_passed: float, write: Path | None) -> dict[str, Any]:
    """The limits of the rule, on the fit part (lfw-dev folds 1-2 and deepface): the most of
    HARDEST's variants whose error the gate halves, with at most 5% of the clean photos
    rejected and every hardest variant that today's gate passes (90% of its pairs or more)
    keeping `min_passed` of its pairs; ties to the fewest clean photos rejected, then the
    most pairs passed. Printed with the check part (lfw-dev folds 3-4) and all pairs."""
    data = {part: {v: pairs(label, v, part, signal) for v in HARDEST} for part in PARTS}
    clean = {part: clean_photos(label, part, signal) for part in PARTS}
    today = entry(data, clean, signal, off(signal), off(signal))
    kept = [v for v, r in today["fit"]["variants"].items() if r["passed"] >= 0.9]
    best, key = today, (-1, 0.0, 0.0)
    for limit in limits:
        for tight_limit in tight_limits:
            e = entry(data, clean, signal, limit, tight_limit)
            rows = e["fit"]["variants"]
            if e["fit"]["clean_rejected"] > 0.05 or any(rows[v]["passed"] < min_passed for v in kept):
                continue
            k = (sum(r["halved"] for r in rows.values()), -e["fit"]["clean_rejected"], float(np.mean([r["passed"] for r in rows.values()])))
            if k > key:
                best, key = e, k
    print_entry(today)
    print_entry(best)
    if write is not None and best is not today:
        meta = json.loads(write.read_text())
        meta["quality"] = {
            "min_norm": best["limit"],
            "min_norm_tight": best["tight_limit"],
            "calibrated_by": (
                f"tools/measure/embed_quality.py fit on the {label} scores of tools/calibrate/capture_variants.py: lfw-dev folds 1-2"
                " and deepface (development sets); checked on lfw-dev folds 3-4"
            ),
        }
        write.write_text(json.dumps(meta, indent=2) + "\n")
        print(f"wrote quality.min_norm {best['limit']:g}, min_norm_tight {best['tight_limit']:g} into {write}")
    return best


def _pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}%}"


def print_entry(entry: dict[str, Any]) -> None:
    print(f"\n**{entry['setting']}**: clean photos rejected " + ", ".join(f"{part} {entry[part]['clean_rejected']:.2%}" for part in PARTS))
    print("\n| variant | " + " | ".join(f"{part}: passed / error all / error passed" for part in PARTS) + " |")
    print("|---|" + "---|" * len(PARTS))
    for variant in entry["all"]["variants"]:
        cells = []
        for part in PARTS:
            r = entry[part]["variants"][variant]
            mark = " (halved)" if r["halved"] else ""
            cells.append(f"{r['passed']:.1%} / {_pct(r['error_all'])} / {_pct(r['error_passed'])}{mark}")
        print(f"| {variant} | " + " | ".join(cells) + " |")
    print("\nhalved on " + ", ".join(f"{part} {sum(r['halved'] for r in entry[part]['variants'].values())}" for part in PARTS), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    f = sub.add_parser("flip", help="the chip's and its mirror image's embeddings, per photo (cached)")
    f.add_argument("--variants", nargs="+", default=["clean", "jpeg", "rot180", "crop0", "crop0-gray"], choices=list(VARIANTS))
    f.add_argument("--deadline-s", type=float, default=3600.0, help="stop (resumably) after this long")
    t = sub.add_parser("fit", help="the limits of the rule (fit part), with the check; --write into a bundle.json")
    t.add_argument("--signal", choices=list(DIRECTION), default="norm")
    t.add_argument("--limits", type=float, nargs=3, default=[5.0, 10.0, 0.25], metavar=("FROM", "TO", "STEP"))
    t.add_argument("--tight", type=float, nargs=3, default=[8.0, 12.0, 0.25], metavar=("FROM", "TO", "STEP"))
    t.add_argument("--min-passed", type=float, default=0.8, help="share of pairs each hardest variant keeps")
    t.add_argument("--write", type=Path, help="the embedder's bundle.json to write the limits into (quality)")
    s = sub.add_parser("sweep", help="the gate with a limit on one signal, per variant, fit and check")
    s.add_argument("--signal", choices=list(DIRECTION), default="norm")
    s.add_argument("--limits", type=float, nargs="+", required=True, help="limits for faces inside the photo")
    s.add_argument("--tight", type=float, nargs="*", help="limits for tight faces (default: the same as --limits)")
    s.add_argument("--variants", nargs="+", default=[*HARDEST, "clean"], choices=[*VARIANTS, *PAIR_VARIANTS])
    s.add_argument("--json", type=Path, help="also write the sweep as JSON here")
    for p in (f, t, s):
        p.add_argument("--label", default="c4-flat", help="the capture_variants.py scores (build/variants/scores/<label>/)")
    args = parser.parse_args(argv)
    if not DATA.exists():
        parser.error(f"the development photos are not beside the repo ({DATA.relative_to(ROOT.parent)})")
    if args.step == "flip":
        flip(args.label, args.variants, args.deadline_s)
    elif args.step == "fit":
        grid = [list(np.round(np.arange(a, b + c / 2, c), 4)) for a, b, c in (args.limits, args.tight)]
        fit(args.label, args.signal, [float(x) for x in grid[0]], [float(x) for x in grid[1]], args.min_passed, args.write)
    else:
        sweep(args.label, args.signal, args.limits, args.tight, args.variants, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
