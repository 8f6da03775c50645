"""The per-variant table of tools/calibrate/capture_variants.py's scores.

Per (label, variant): photos without a face (no-face rate, over the variant's photos), ROC
AUC, accuracy, FAR and FRR at the operating point the label ships (a pair with a photo
without a face is rejected), TAR at FAR 0.1%, over lfw-dev's and deepface's pairs together
(the union of the development sets). A label whose scores carry `quality` (this tree) is
also judged with its condition-aware threshold (`shared.face.operating`), and with --gate
on the pairs whose photos both pass the quality gate. The stored scores do not hold a
photo's JPEG quantisation tables: `over_compressed` is judged from the variant's file itself
(its header read by Pillow, as the served path reads it; `jpeg_quality`).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tools.calibrate import calibrate_face_threshold as cal
from tools.calibrate.capture_variants import OUT, PAIR_VARIANTS, ROOT, VARIANTS, photos_of, source_sets, variant_path


def load(label: str, variant: str) -> dict[str, Any] | None:
    path = OUT / "scores" / label / f"{variant}.json"
    return json.loads(path.read_text()) if path.exists() else None


def meta(label: str) -> dict[str, Any]:
    return json.loads((OUT / "scores" / label / "meta.json").read_text())


def vector(record: dict[str, Any] | None) -> np.ndarray | None:
    if record is None or record.get("embedding") is None:
        return None
    return np.asarray(record["embedding"], np.float64)


def distance(a: np.ndarray | None, b: np.ndarray | None, metric: str) -> float:
    if a is None or b is None:
        return float("inf")
    if metric == "euclidean":
        return float(np.linalg.norm(a - b))
    return float(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@functools.cache
def jpeg_quality(variant: str, key: str) -> int | None:
    """The IJG quality of the variant's photo `key` ("<set>/<image>") from its luminance table
    (shared.images.jpeg.quality_of: Pillow opens the header only, no pixels are decoded);
    None when the file is missing or not a JPEG."""
    from PIL import Image

    from shared.images import jpeg

    set_name, image = key.split("/", 1)
    path = variant_path(variant, set_name, image)
    if not path.exists():
        return None
    with Image.open(path) as opened:
        return jpeg.quality_of(opened)


def requalify(
    record: dict[str, Any] | None,
    embedding: np.ndarray | None = None,
    min_norm: tuple[float, float] | None = None,
    jpeg_quality: int | None = None,
) -> dict[str, Any] | None:
    """A recorded quality with its reasons recomputed by this tree's limits (quality.py), so
    the limits can be set on recorded scores; with the photo's `embedding` and the embedder's
    `min_norm` (min_norm_for), `unreliable_face` too (quality.judge_embedding: the stored
    embedding is the one the served path judges), and with its file's `jpeg_quality`,
    `over_compressed`. None for a photo without a face."""
    if record is None:
        return None
    from shared.face import quality

    pose = record["pose"]
    measures = (record["eye_px"], record["sharpness"], record["brightness"], pose["yaw"], pose["pitch"])
    reasons = quality.reasons_for(*measures, jpeg_quality)
    tight = record.get("outside", 0.0) > quality.TIGHT_OUTSIDE
    if embedding is not None and min_norm is not None and float(np.linalg.norm(embedding)) < min_norm[1 if tight else 0]:
        reasons = (*reasons, "unreliable_face")
    return {**record, "reasons": list(reasons), "tight": tight}


@functools.cache
def min_norm_for(label: str) -> tuple[float, float] | None:
    """This tree's quality limits (bundle.json `quality`) of the embedder the label was
    scored with (by its folder's name), as the pixel limits are this tree's; None for a
    label without quality or an embedder without them."""
    m = meta(label)
    if "quality" not in m or "embedder" not in m:
        return None
    from shared.face.contract import EmbedderContract

    path = ROOT / "models" / Path(m["embedder"]).name / "bundle.json"
    return EmbedderContract.from_meta(json.loads(path.read_text())).min_norm if path.exists() else None


def pairs_of(label: str, variant: str, folds: tuple[int, ...]) -> dict[str, Any] | None:
    """Every pair of the variant: distances, same, each side's record (quality), no-face count."""
    first, second = PAIR_VARIANTS.get(variant, (variant, variant))
    left, right = load(label, first), load(label, second)
    if left is None or right is None:
        return None
    metric = meta(label)["metric"]
    d, same, q1, q2, photos, missing, skipped = [], [], [], [], 0, 0, 0
    for set_name, pairs in source_sets(folds).items():
        for side in {first, second}:
            records = left if side == first else right
            for image in photos_of(pairs):
                if f"{set_name}/{image}" not in records:
                    continue
                photos += 1
                if vector(records.get(f"{set_name}/{image}")) is None:
                    missing += 1
        for a, b, s in pairs:
            ra, rb = left.get(f"{set_name}/{a}"), right.get(f"{set_name}/{b}")
            if ra is None or rb is None:
                skipped += 1  # not scored (yet, or on fewer folds): left out, and said so
                continue
            d.append(distance(vector(ra), vector(rb), metric))
            same.append(s)
            ka, kb = f"{set_name}/{a}", f"{set_name}/{b}"
            q1.append(requalify(ra.get("quality"), vector(ra), min_norm_for(label), jpeg_quality(first, ka) if ra.get("quality") else None))
            q2.append(
                requalify(rb.get("quality"), vector(rb), min_norm_for(label), jpeg_quality(second, kb) if rb.get("quality") else None)
            )
    if not d:
        return None
    if skipped:
        print(f"{label} {variant}: {skipped} pairs not scored, left out ({len(d)} pairs)", file=sys.stderr)
    return {"d": np.array(d), "same": np.array(same), "q1": q1, "q2": q2, "no_face": missing / max(photos, 1), "skipped": skipped}


def row(p: dict[str, Any], thresholds: np.ndarray, keep: np.ndarray | None = None) -> dict[str, float]:
    d, same = p["d"], p["same"]
    if keep is not None:
        d, same, thresholds = d[keep], same[keep], thresholds[keep]
    if not len(d):
        return {
            "pairs": 0,
            "no_face": round(p["no_face"], 6),
            "auc": None,
            "accuracy": None,
            "far": None,
            "frr": None,
            "tar_at_far_0.1pct": None,
        }
    genuine, impostor = d[same], d[~same]
    accepted = d <= thresholds
    far = float(accepted[~same].mean()) if (~same).any() else 0.0
    frr = float((~accepted[same]).mean()) if same.any() else 0.0
    return {
        "pairs": len(d),
        "no_face": round(p["no_face"], 6),
        "auc": round(cal.roc_auc(genuine, impostor), 5),
        "accuracy": round(float((accepted == same).mean()), 6),
        "far": round(far, 6),
        "frr": round(frr, 6),
        "tar_at_far_0.1pct": round(cal.tar_at_far(genuine, impostor, 0.001), 6),
    }


_NOTED: set[str] = set()  # labels whose missing embedder was noted once


def embedder_of(label: str, m: dict[str, Any]) -> Path:
    """The embedder folder a label was scored with; this tree's default (with a printed note)
    when it is not recorded or no longer exists (a worktree removed since)."""
    from shared.settings import DEFAULT_FACE_EMBEDDER

    recorded = m.get("embedder")
    if recorded and (Path(recorded) / "bundle.json").is_file():
        return Path(recorded)
    if recorded and label not in _NOTED:
        _NOTED.add(label)
        print(f"note: {label}'s embedder {recorded} is gone; its far points are this tree's bundle's", file=sys.stderr)
    return Path(DEFAULT_FACE_EMBEDDER)


def thresholds_for(label: str, p: dict[str, Any], far: float | None = None) -> np.ndarray:
    """Each pair's threshold: the label's one value, or this tree's condition-aware rule (the
    far points of the embedder the label was scored with; the default's when not recorded)."""
    m = meta(label)
    if "quality" not in m:  # another tree, or the peer: its one threshold
        return np.full(len(p["d"]), m["threshold"])
    from shared.face.contract import EmbedderContract

    contract = EmbedderContract.from_meta(json.loads((embedder_of(label, m) / "bundle.json").read_text()))
    if contract.far_points is None:
        return np.full(len(p["d"]), m["threshold"])
    point = contract.far_points.choose(far)
    return np.array([point.threshold_for(a, b) for a, b in zip(p["q1"], p["q2"], strict=True)])


def gate(p: dict[str, Any]) -> np.ndarray:
    """Pairs whose photos both have a face and no quality reason (what `reject` passes)."""
    return np.array([bool(a and b and not a["reasons"] and not b["reasons"]) for a, b in zip(p["q1"], p["q2"], strict=True)])


def clean_rejected(label: str) -> float | None:
    """The share of the clean variant's photos with a face that the gate rejects."""
    records = load(label, "clean")
    if records is None or "quality" not in meta(label):
        return None
    shown = [
        requalify(r.get("quality"), vector(r), min_norm_for(label), jpeg_quality("clean", key))
        for key, r in records.items()
        if r.get("embedding") is not None
    ]
    return sum(bool(q and q["reasons"]) for q in shown) / max(len(shown), 1)


def print_tables(
    labels: list[str], folds: tuple[int, ...], json_path: Path | None, with_gate: bool = True, far: float | None = None
) -> None:
    variants = [*VARIANTS, *PAIR_VARIANTS]
    out: dict[str, Any] = {}
    print("| variant | pipeline | no face | AUC | accuracy | FAR | FRR | TAR at FAR 0.1% |")
    print("|---|---|---|---|---|---|---|---|")
    for variant in variants:
        for label in labels:
            p = pairs_of(label, variant, folds)
            if p is None:
                continue
            r = row(p, thresholds_for(label, p, far))
            out.setdefault(variant, {})[label] = r
            print(
                f"| {variant} | {label} | {r['no_face']:.2%} | {r['auc']:.5f} | {r['accuracy']:.2%} | "
                f"{r['far']:.2%} | {r['frr']:.2%} | {r['tar_at_far_0.1pct']:.2%} |"
            )
            if with_gate and "quality" in meta(label):
                keep = gate(p)
                g = row(p, thresholds_for(label, p, far), keep)
                out[variant][f"{label} gated"] = g | {"passed": round(float(keep.mean()), 6)}
    if with_gate:
        for label in labels:
            share = clean_rejected(label)
            if share is not None:
                print(f"\n{label}: the quality gate rejects {share:.2%} of the clean photos with a face")
                out.setdefault("clean_rejected", {})[label] = round(share, 6)
        print("\n| variant | pipeline | pairs passed | error rate, all pairs | error rate, passed pairs |")
        print("|---|---|---|---|---|")
        for variant, rows in out.items():
            if variant == "clean_rejected":
                continue
            for label, g in rows.items():
                if label.endswith(" gated"):
                    base = rows[label.removesuffix(" gated")]
                    passed = "n/a" if g["accuracy"] is None else f"{1 - g['accuracy']:.2%}"
                    errors = f"{1 - base['accuracy']:.2%} | {passed}"
                    print(f"| {variant} | {label.removesuffix(' gated')} | {g['passed']:.1%} | {errors} |")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(out, indent=1) + "\n")
    sys.stdout.flush()
