#!/usr/bin/env python3
"""Clean FAR <= 0.1% with clean lfw-dev >= 99.3% at one threshold: the levers (issue 24).

At the shipped default (SFace, balanced 0.6566) the clean capture variant falsely accepts
0.31% of its impostor pairs (9 of deepface's 1,690; none of lfw-dev's 1,200), and with SFace
alone FAR 0.1% on the clean pairs takes clean lfw-dev to 98.9% (docs/accuracy.md). This tool
measures, on the clean variant of lfw-dev folds 1-4 and deepface (development data), whether a
lever meets both at one threshold, and what it costs:

    flip     SFace's embedding of every face as the mean direction of the chip's and its mirror
             image's (today only tight faces: align.is_tight)
    fusion   a z-normalised weighted sum of SFace's and dlib's (or dlib-int8's) cosine
             distances, z by the fit pairs' impostor distances, the weight fitted
    int8     face-embedder-sface-int8, as served and flip-averaged
    as-norm  adaptive score normalisation of SFace's similarity against a cohort of other
             people's faces (each side's mean and spread of its top-k cohort similarities;
             the cohort never holds the pair's own people: as_norm)

Steps (outputs under build/far-levers/, git-ignored):

    score    every photo of a capture variant (`capture_variants.py make` writes them; default
             clean) through the served detection (FaceVerifier.find_faces) once, then each
             embedder's chip, its embedding and its mirror image's; raw vectors and CPU per
             inference, one JSON per variant; resumable
    table    the tables: (1) in-sample, every dev pair: the best each lever can do (weight and
             threshold chosen on the pairs measured); (2) held out: fitted on lfw-dev folds 1-2
             + deepface's even pairs, measured on folds 3-4 + its odd pairs, and the other way
             round; then the shipped SFace's false accepts and their deepface identities
    cost     CPU per face of each lever's embedding work, interleaved in one process (process
             CPU time, medians), and resident memory of each configuration in a fresh process

    .venv/bin/python tools/calibrate/capture_variants.py make     # the variants, once
    nice .venv/bin/python tools/measure/far_levers.py score       # clean: 3,135 photos, a few minutes
    .venv/bin/python tools/measure/far_levers.py table
    .venv/bin/python tools/measure/far_levers.py cost --faces 150 --rounds 3

Every number is on development data (lfw-dev folds 1-4, deepface): nothing here is a
held-out figure except table (2)'s test halves, and deepface's halves share photos.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools import ROOT
from tools.calibrate.capture_variants import DEV_FOLDS, photos_of, score_each, source_sets, variant_path

OUT = ROOT / "build" / "far-levers"
EMBEDDERS = {
    "sface": "models/face-embedder-sface",
    "sface-int8": "models/face-embedder-sface-int8",
    "dlib": "models/face-embedder-dlib",
    "dlib-int8": "models/face-embedder-dlib-int8",
}
FAR = 0.001  # the clean target
BAR = 0.993  # clean lfw-dev accuracy


# ---- score ----------------------------------------------------------------------------------


def load_all() -> tuple[Any, dict[str, Any]]:
    from shared.face.contract import EMBEDDING_TASK
    from shared.face.embed import FaceEmbedder
    from shared.face.verify import FaceVerifier, VerifyOptions
    from shared.runtime.bundle import load_as
    from shared.settings import get_settings

    options = dataclasses.replace(VerifyOptions.from_settings(get_settings()), cache_size=0)
    verifier = FaceVerifier.load(options)
    embedders = {"sface": verifier.embedder}
    for name, folder in EMBEDDERS.items():
        if name != "sface":
            embedders[name] = load_as(FaceEmbedder, str(ROOT / folder), options.load, task=EMBEDDING_TASK)
    return verifier, embedders


def score_photo(verifier: Any, embedders: dict[str, Any], data: bytes, name: str) -> dict[str, Any] | None:
    """One photo: the served detection once, then each embedder's plain and mirrored vectors."""
    from shared.errors import ServiceError
    from shared.face import quality
    from shared.face.verify import Stopwatch

    try:
        photo, faces, _, found_by = verifier.find_faces(data, name, Stopwatch())
    except ServiceError:
        return None
    face = faces[0]
    chip = verifier.embedder.chip(photo.pixels, face)
    verdict = quality.measure(chip, face.keypoints, photo.scale, found_by, photo.pixels.shape)
    record: dict[str, Any] = {"tight": bool(verdict.tight), "quality": verdict.to_dict()}
    for key, embedder in embedders.items():
        chip = embedder.chip(photo.pixels, face)
        vectors, cpu = [], []
        for c in (chip, chip[:, ::-1]):
            t0 = time.process_time()
            (out,) = embedder.bundle.model.run(c[None].astype(np.float32))
            cpu.append(round((time.process_time() - t0) * 1000, 3))
            vectors.append([round(float(v), 7) for v in out.reshape(-1)])
        record[key] = {"v": vectors[0], "f": vectors[1], "cpu_ms": cpu}
    return record


def score(variants: list[str], folds: tuple[int, ...], deadline_s: float) -> None:
    verifier, embedders = load_all()
    started = time.monotonic()
    OUT.mkdir(parents=True, exist_ok=True)
    for variant in variants:
        path = OUT / f"{variant}.json"
        records = score_each(path, variant, folds, lambda data, image: score_photo(verifier, embedders, data, image), started, deadline_s)
        if records is None:
            return
        print(f"{variant}: {len(records)} photos in {path.relative_to(ROOT)}", flush=True)


# ---- the pairs and the levers ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pairs:
    """One variant's pairs, lfw-dev's (the folds asked for) then deepface's. Attributes:
    a, b (photo keys), same, lfw (an lfw-dev pair), fold (lfw-dev's; 0 for deepface), half
    (0: folds 1-2 and deepface's even pairs, 1: folds 3-4 and its odd pairs)."""

    a: list[str]
    b: list[str]
    same: np.ndarray
    lfw: np.ndarray
    fold: np.ndarray
    half: np.ndarray

    @classmethod
    def of(cls, folds: tuple[int, ...]) -> Pairs:
        import csv

        from tools.calibrate.capture_variants import DATA

        with open(DATA / "lfw-dev" / "pairs.csv", newline="") as f:
            fold_of = {(r["img1"], r["img2"]): int(r["fold"]) for r in csv.DictReader(f)}
        a, b, same, lfw, fold, half = [], [], [], [], [], []
        for set_name, pairs in source_sets(folds).items():
            for i, (x, y, s) in enumerate(pairs):
                k = fold_of.get((x, y), 0) if set_name == "lfw-dev" else 0
                a.append(f"{set_name}/{x}")
                b.append(f"{set_name}/{y}")
                same.append(s)
                lfw.append(set_name == "lfw-dev")
                fold.append(k)
                half.append(int(k > 2) if k else i % 2)
        return cls(a, b, np.array(same), np.array(lfw), np.array(fold), np.array(half))


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 0, n, 1.0)


def vectors(records: dict[str, Any], embedder: str, mode: str) -> dict[str, np.ndarray | None]:
    """Photo -> unit vector: mode "served" (mirror-averaged when tight, as embed_face does),
    "flip" (always), "plain" (never)."""
    out: dict[str, np.ndarray | None] = {}
    for key, r in records.items():
        if r is None:
            out[key] = None
            continue
        v, f = _unit(np.asarray(r[embedder]["v"])), _unit(np.asarray(r[embedder]["f"]))
        use_flip = mode == "flip" or (mode == "served" and r["tight"])
        out[key] = _unit(v + f) if use_flip else v  # the mean direction (cosine ignores length)
    return out


def cosine(p: Pairs, vec: dict[str, np.ndarray | None]) -> np.ndarray:
    out = np.full(len(p.a), np.inf)
    for i, (x, y) in enumerate(zip(p.a, p.b, strict=True)):
        if vec.get(x) is not None and vec.get(y) is not None:
            out[i] = 1.0 - float(vec[x] @ vec[y])  # type: ignore[operator]
    return out


SAME_PERSON = 0.5643  # SFace's shipped strict point: a cohort person this near a deepface person may be them


def deepface_labels() -> dict[str, str]:
    import csv

    from tools.calibrate.capture_variants import DATA

    with open(DATA / "deepface" / "labels.csv", newline="") as f:
        return {f"deepface/{r['image']}": r["identity"] for r in csv.DictReader(f)}


def as_norm(p: Pairs, vec: dict[str, np.ndarray | None], k: int, clean: dict[str, np.ndarray | None], exclude: bool = True) -> np.ndarray:
    """Adaptive s-norm (a distance: minus the normalised similarity, SFace as served). The
    cohort is clean lfw-dev photos (`clean`: the clean variant's vectors), never the pair's
    own people: an lfw-dev pair's cohort is the other half's folds (LFW's folds share no
    person); a deepface pair's is every lfw-dev photo but those of any lfw-dev person with a
    photo within SAME_PERSON of a photo of either deepface person of the pair (lfw-dev holds
    some of deepface's people, the two look-alike actors among them). Each side's mean and spread of
    its top-k cohort similarities normalise the pair's similarity. exclude=False keeps the
    deepface pairs' own people in their cohort (a leak, to show what it does)."""
    keys = [key for key, v in clean.items() if v is not None and key.startswith("lfw-dev/")]
    person = np.array([key.split("/")[1] for key in keys])
    matrix = np.stack([clean[key] for key in keys])  # type: ignore[misc]
    fold_of: dict[str, int] = {}
    for x, y, f in zip(p.a, p.b, p.fold, strict=True):
        if f:
            fold_of[x], fold_of[y] = int(f), int(f)
    in_second = np.array([fold_of.get(key, 0) > 2 for key in keys])
    cohorts: dict[Any, np.ndarray] = {0: matrix[in_second], 1: matrix[~in_second]}  # folds 1-2's pairs: 3-4's photos
    labels = deepface_labels()
    near = {}
    for identity in sorted(set(labels.values())):
        own = np.stack([clean[key] for key in labels if labels[key] == identity and clean.get(key) is not None])  # type: ignore[misc]
        near[identity] = set(person[(1.0 - own @ matrix.T).min(axis=0) <= SAME_PERSON]) if exclude else set()
    for a, b in itertools.combinations_with_replacement(sorted(near), 2):
        cohorts[(a, b)] = matrix[~np.isin(person, sorted(near[a] | near[b]))]
    as_norm.excluded = near  # type: ignore[attr-defined]
    stats: dict[tuple[str, Any], tuple[float, float]] = {}

    def side(key: str, cohort: Any) -> tuple[float, float]:
        if (key, cohort) not in stats:
            top = np.sort(cohorts[cohort] @ vec[key])[-k:]
            stats[(key, cohort)] = (float(top.mean()), float(top.std()) or 1.0)
        return stats[(key, cohort)]

    d = cosine(p, vec)
    out = np.full(len(d), np.inf)
    for i, (x, y, f) in enumerate(zip(p.a, p.b, p.fold, strict=True)):
        if np.isfinite(d[i]):
            s = 1.0 - d[i]
            c = int(f > 2) if f else tuple(sorted((labels[x], labels[y])))
            (m1, s1), (m2, s2) = side(x, c), side(y, c)
            out[i] = -0.5 * ((s - m1) / s1 + (s - m2) / s2)
    return out


def fused(parts: list[np.ndarray], weight: float, fit: np.ndarray, same: np.ndarray) -> np.ndarray:
    """z(parts[0]) + weight * z(parts[1]), z by the fit pairs' impostor distances."""
    out = np.zeros(len(parts[0]))
    for w, d in zip((1.0, weight), parts, strict=True):
        imp = d[fit & ~same & np.isfinite(d)]
        out = out + w * (d - imp.mean()) / imp.std()
    return out


# ---- fitting and measuring ------------------------------------------------------------------


def fit_threshold(d: np.ndarray, same: np.ndarray, fit: np.ndarray) -> float:
    """The highest measured distance of the fit pairs whose FAR over them is <= FAR."""
    imp = np.sort(d[fit & ~same])
    allowed = int(np.floor(FAR * len(imp) + 1e-9))
    if allowed >= len(imp):
        return float(np.nanmax(d[fit & np.isfinite(d)]))
    values = d[fit & np.isfinite(d) & (d < imp[allowed])]
    return float(values.max()) if len(values) else float(imp[0]) - 1e-6


def measure(d: np.ndarray, p: Pairs, mask: np.ndarray, t: float) -> dict[str, Any]:
    acc = d <= t
    lfw, imp = mask & p.lfw, mask & ~p.same
    return {
        "union_fa": int((acc & imp).sum()),
        "union_impostors": int(imp.sum()),
        "union_far": float((acc & imp).sum() / max(imp.sum(), 1)),
        "deepface_far": float((acc & imp & ~p.lfw).sum() / max((imp & ~p.lfw).sum(), 1)),
        "lfw_far": float((acc & imp & p.lfw).sum() / max((imp & p.lfw).sum(), 1)),
        "lfw_accuracy": float((acc[lfw] == p.same[lfw]).mean()),
    }


def both_reachable(d: np.ndarray, p: Pairs, mask: np.ndarray) -> tuple[bool, float, float]:
    """(some threshold meets both; the best lfw-dev accuracy with union FAR <= FAR; the lowest
    union FAR with lfw-dev accuracy >= BAR, 2.0 when none reaches it), over every measured
    distance of the mask."""
    grid = np.unique(d[mask & np.isfinite(d)])
    lfw, imp = mask & p.lfw, mask & ~p.same
    g, i = np.sort(d[lfw & p.same]), np.sort(d[lfw & ~p.same])
    right = np.searchsorted(g, grid, side="right") + (len(i) - np.searchsorted(i, grid, side="right"))
    lfw_acc = right / (len(g) + len(i))
    union_far = np.searchsorted(np.sort(d[imp]), grid, side="right") / imp.sum()
    ok_far, ok_acc = union_far <= FAR + 1e-12, lfw_acc >= BAR
    best_acc = float(lfw_acc[ok_far].max()) if ok_far.any() else 0.0
    low_far = float(union_far[ok_acc].min()) if ok_acc.any() else 2.0  # 2: lfw-dev never reaches BAR
    return bool((ok_far & ok_acc).any()), best_acc, low_far


def levers(records: dict[str, Any], p: Pairs, k: int, exclude: bool = True) -> dict[str, tuple[list[np.ndarray], bool]]:
    """name -> (distance arrays, fused): one array, or two to fuse (SFace's first)."""
    d = {
        (e, mode): cosine(p, vectors(records, e, mode))
        for e in EMBEDDERS
        for mode in ("served", "flip")
        if mode == "served" or e.startswith("sface")
    }
    served, flip = vectors(records, "sface", "served"), vectors(records, "sface", "flip")
    cohort = "an lfw-dev cohort" if exclude else "a cohort holding deepface's own people: LEAKY"
    return {
        "SFace as served (tight faces flip-averaged)": ([d["sface", "served"]], False),
        "SFace, every face flip-averaged": ([d["sface", "flip"]], False),
        "SFace-int8 as served": ([d["sface-int8", "served"]], False),
        "SFace-int8, every face flip-averaged": ([d["sface-int8", "flip"]], False),
        "dlib alone": ([d["dlib", "served"]], False),
        "dlib-int8 alone": ([d["dlib-int8", "served"]], False),
        "SFace + dlib, z-sum": ([d["sface", "served"], d["dlib", "served"]], True),
        "SFace + dlib-int8, z-sum": ([d["sface", "served"], d["dlib-int8", "served"]], True),
        "SFace flip-averaged + dlib, z-sum": ([d["sface", "flip"], d["dlib", "served"]], True),
        f"SFace, AS-norm (top {k} of {cohort})": ([as_norm(p, served, k, served, exclude)], False),
        f"SFace flip-averaged, AS-norm (top {k} of {cohort})": ([as_norm(p, flip, k, flip, exclude)], False),
    }


WEIGHTS = np.round(np.arange(0.0, 2.001, 0.1), 2)


def fit(parts: list[np.ndarray], is_fused: bool, p: Pairs, mask: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(distances, weight, threshold) fitted on the mask's pairs: the weight (fusion) with the
    best lfw-dev accuracy there at the threshold of FAR <= FAR there; ties to the smaller."""
    if not is_fused:
        return parts[0], 0.0, fit_threshold(parts[0], p.same, mask)
    best: tuple[float, float, float, np.ndarray] | None = None
    for w in WEIGHTS:
        d = fused(parts, float(w), mask, p.same)
        t = fit_threshold(d, p.same, mask)
        accuracy = measure(d, p, mask, t)["lfw_accuracy"]
        if best is None or accuracy > best[0] + 1e-12:
            best = (accuracy, float(w), t, d)
    assert best is not None
    return best[3], best[1], best[2]


def pct(x: float, digits: int = 2) -> str:
    return f"{x * 100:.{digits}f}%"


def table(variant: str, folds: tuple[int, ...], k: int, shipped: float, exclude: bool = True) -> list[str]:
    """Prints tables (1) and (2); returns the levers that meet both in both."""
    path = OUT / f"{variant}.json"
    if not path.exists():
        raise SystemExit(f"{path.relative_to(ROOT)} is missing: run `far_levers.py score --variants {variant}` first")
    records = json.loads(path.read_text())
    p = Pairs.of(folds)
    missing = sum(1 for x in (*p.a, *p.b) if x not in records)
    if missing:
        raise SystemExit(f"{variant}: {missing} photos of the pairs not scored yet: rerun score")
    every = np.ones(len(p.a), bool)
    ref = measure(cosine(p, vectors(records, "sface", "served")), p, every, shipped)
    print(f"\n{variant}: {p.lfw.sum()} lfw-dev pairs (folds {' '.join(map(str, folds))}), {(~p.lfw).sum()} deepface pairs;")
    print(
        f"the shipped SFace at {shipped}: union FAR {pct(ref['union_far'])} ({ref['union_fa']} of {ref['union_impostors']}), "
        f"deepface {pct(ref['deepface_far'])}, lfw-dev FAR {pct(ref['lfw_far'])}, lfw-dev accuracy {pct(ref['lfw_accuracy'])}"
    )
    print(
        f"\n(1) in-sample, every pair (weight and threshold fitted on the pairs measured: the best a lever can do). "
        f"Threshold: the highest with union FAR <= {FAR:.1%}\n"
    )
    print(
        "| lever | weight | threshold | union FAR | deepface FAR | lfw-dev FAR | lfw-dev accuracy "
        "| best lfw-dev accuracy at union FAR <= 0.1% | lowest union FAR at lfw-dev >= 99.3% | both at one threshold |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    found = levers(records, p, k, exclude)
    in_sample = {}
    for name, (parts, is_fused) in found.items():
        d, w, t = fit(parts, is_fused, p, every)
        m = measure(d, p, every, t)
        # A fusion's last three columns: the best over every weight of the grid, not only the fitted one.
        reach = (
            [both_reachable(fused(parts, float(v), every, p.same), p, every) for v in WEIGHTS]
            if is_fused
            else [both_reachable(d, p, every)]
        )
        ok, best_acc, low_far = any(r[0] for r in reach), max(r[1] for r in reach), min(r[2] for r in reach)
        in_sample[name] = ok
        print(
            f"| {name} | {w if is_fused else '-'} | {t:.4f} | {pct(m['union_far'])} ({m['union_fa']}) | {pct(m['deepface_far'])} "
            f"| {pct(m['lfw_far'])} | {pct(m['lfw_accuracy'])} | {pct(best_acc)} | {'never' if low_far > 1 else pct(low_far, 3)} "
            f"| {'yes' if ok else 'no'} |"
        )
    print(
        "\n(2) held out: fitted on one half (lfw-dev folds 1-2 + deepface's even pairs, or folds 3-4 + its odd pairs), "
        "measured on the other; deepface's halves share photos\n"
    )
    print("| lever | fit on | weight | threshold | fit: union FAR, lfw-dev accuracy | test: union FAR | test: lfw-dev accuracy | both |")
    print("|---|---|---|---|---|---|---|---|")
    met = []
    for name, (parts, is_fused) in found.items():
        all_ok = in_sample[name]
        for half in (0, 1):
            fit_mask, test_mask = p.half == half, p.half != half
            d, w, t = fit(parts, is_fused, p, fit_mask)
            a, b = measure(d, p, fit_mask, t), measure(d, p, test_mask, t)
            ok = b["union_far"] <= FAR + 1e-12 and b["lfw_accuracy"] >= BAR
            all_ok &= ok
            where = "folds 1-2 + even" if half == 0 else "folds 3-4 + odd"
            test_far = f"{pct(b['union_far'])} ({b['union_fa']} of {b['union_impostors']})"
            print(
                f"| {name} | {where} | {w if is_fused else '-'} | {t:.4f} | {pct(a['union_far'])}, {pct(a['lfw_accuracy'])} "
                f"| {test_far} | {pct(b['lfw_accuracy'])} | {'yes' if ok else 'no'} |"
            )
        if all_ok:
            met.append(name)
    return met


def false_accepts(variant: str, folds: tuple[int, ...], shipped: float) -> None:
    """The shipped SFace's false accepts on the variant: which identities (deepface's
    labels.csv), and what the targets would read without the identity pair that has most."""
    label = deepface_labels()
    records = json.loads((OUT / f"{variant}.json").read_text())
    p = Pairs.of(folds)
    d = cosine(p, vectors(records, "sface", "served"))
    rows = sorted((float(d[i]), p.a[i], p.b[i]) for i in np.flatnonzero(~p.same & (d <= shipped)))
    print(f"\nThe shipped SFace's false accepts on {variant} at {shipped}:\n")
    print("| distance | photo 1 | photo 2 | identities |\n|---|---|---|---|")
    for dist, a, b in rows:
        print(f"| {dist:.4f} | {a} | {b} | {label.get(a, '?')} / {label.get(b, '?')} |")
    pair_of = [tuple(sorted((label.get(a, a), label.get(b, b)))) for a, b in zip(p.a, p.b, strict=True)]
    counts: dict[tuple[str, ...], int] = {}
    for _, a, b in rows:
        key = tuple(sorted((label.get(a, a), label.get(b, b))))
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return
    worst = max(counts, key=lambda key: counts[key])
    keep = np.array([q != worst for q in pair_of])
    m = measure(d, p, keep, shipped)
    t = fit_threshold(d, p.same, keep)
    at = measure(d, p, keep, t)
    print(
        f"\nWithout {'/'.join(worst)}'s {int((~keep).sum())} impostor pairs ({counts[worst]} of the {len(rows)} false accepts), "
        f"a diagnostic, not a lever: at {shipped} union FAR {pct(m['union_far'], 3)} ({m['union_fa']} of {m['union_impostors']}); "
        f"the highest threshold with union FAR <= {FAR:.1%}, {t:.4f}: lfw-dev {pct(at['lfw_accuracy'])}"
    )


# ---- cost -----------------------------------------------------------------------------------


def vm_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


MEMORY = {  # configuration -> embedders loaded beside the detectors (the first is the verifier's)
    "SFace (shipped; flip-averaging adds no memory)": ["sface"],
    "SFace + dlib (fusion)": ["sface", "dlib"],
    "SFace + dlib-int8 (fusion)": ["sface", "dlib-int8"],
    "SFace-int8 instead": ["sface-int8"],
}


def memory_child(config: str, photo: str) -> dict[str, float]:
    """In a fresh process: VmRSS before loading (the served modules and the runtime imported),
    the load's and first photo's peak (VmHWM) and VmRSS after one photo, as MB above before."""
    from shared.face.contract import EMBEDDING_TASK
    from shared.face.embed import FaceEmbedder
    from shared.face.verify import FaceVerifier, VerifyOptions
    from shared.runtime.bundle import load_as
    from shared.settings import get_settings

    names = MEMORY[config]
    options = dataclasses.replace(VerifyOptions.from_settings(get_settings()), cache_size=0, embedder=str(ROOT / EMBEDDERS[names[0]]))
    data = Path(photo).read_bytes()
    before = vm_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    verifier = FaceVerifier.load(options)
    extra = [load_as(FaceEmbedder, str(ROOT / EMBEDDERS[n]), options.load, task=EMBEDDING_TASK) for n in names[1:]]
    face = verifier.embed_photo(data, "photo.jpg")
    for e in extra:
        from shared.face.verify import Stopwatch

        photo_, faces, _, _ = verifier.find_faces(data, "photo.jpg", Stopwatch())
        e.embed_face(photo_.pixels, faces[0])
    assert face.embedding is not None
    return {"peak_mb": round(vm_mb("VmHWM") - before, 1), "rss_mb": round(vm_mb("VmRSS") - before, 1)}


def cost(faces: int, rounds: int) -> None:
    from shared.face.verify import Stopwatch

    verifier, embedders = load_all()
    images = photos_of(source_sets((1,))["lfw-dev"])[:faces]
    blobs = [variant_path("clean", "lfw-dev", image).read_bytes() for image in images]
    found = []
    for blob, image in zip(blobs, images, strict=True):
        photo, faces_, _, _ = verifier.find_faces(blob, image, Stopwatch())
        found.append((photo.pixels, faces_[0]))
    cohort = _unit(np.random.default_rng(0).standard_normal((3074, 128))).astype(np.float32)  # every lfw-dev photo: the largest cohort used

    def run(*steps: tuple[str, bool]) -> Any:
        """One face's embedding work: each (embedder, flip) step aligns its chip and embeds it."""

        def go(i: int) -> None:
            pixels, face = found[i]
            for e, flip in steps:
                embedders[e].embed(embedders[e].chip(pixels, face), mirrored=flip)

        return go

    def as_norm_side(i: int) -> None:
        pixels, face = found[i]
        v = _unit(np.asarray(embedders["sface"].embed(embedders["sface"].chip(pixels, face)), np.float32))
        top = np.partition(cohort @ v, -100)[-100:]
        float(top.mean()), float(top.std())

    jobs = {
        "served photo, SFace (decode, detect, align, quality, embed)": lambda i: verifier.embed_photo(blobs[i], images[i]),
        "SFace as served (chip, one inference)": run(("sface", False)),
        "SFace, flip-averaged (chip, two inferences)": run(("sface", True)),
        "SFace-int8 (chip, one inference)": run(("sface-int8", False)),
        "SFace-int8, flip-averaged (chip, two inferences)": run(("sface-int8", True)),
        "SFace + dlib (two chips, two inferences)": run(("sface", False), ("dlib", False)),
        "SFace + dlib-int8 (two chips, two inferences)": run(("sface", False), ("dlib-int8", False)),
        "SFace + AS-norm (top 100 of a 3,074-face cohort)": as_norm_side,
    }
    for job in jobs.values():
        job(0)  # warm
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(rounds):
        for i in range(len(images)):
            for name, job in jobs.items():  # interleaved: every job on the same chip in turn
                t0 = time.process_time()
                job(i)
                times[name].append((time.process_time() - t0) * 1000)
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"\nCPU per face (process CPU time, one thread, median of {rounds} x {len(images)} calls; load average {' '.join(load)})\n")
    base = float(np.median(times["SFace as served (chip, one inference)"]))
    print("| job | median | mean | added per face against SFace as served | added per pair (two photos) |\n|---|---|---|---|---|")
    for name, values in times.items():
        med = float(np.median(values))
        added = "-" if name.startswith("served") else f"{med - base:+.2f} ms"
        per_pair = "-" if name.startswith("served") else f"{2 * (med - base):+.2f} ms"
        print(f"| {name} | {med:.2f} ms | {float(np.mean(values)):.2f} ms | {added} | {per_pair} |")
    print("\nResident memory, each configuration in a fresh process (MB above the process before loading)\n")
    print("| configuration | peak (load and first photo) | RSS after the first photo |\n|---|---|---|")
    photo = str(variant_path("clean", "lfw-dev", images[0]))
    for config in MEMORY:
        out = subprocess.run([sys.executable, __file__, "memory-child", config, photo], capture_output=True, text=True, check=True)
        m = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {config} | {m['peak_mb']} MB | {m['rss_mb']} MB |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    s = sub.add_parser("score", help="embed a variant's photos with every embedder, plain and mirrored")
    s.add_argument("--variants", nargs="+", default=["clean"])
    s.add_argument("--deadline-s", type=float, default=3600.0, help="stop (resumably) after this long")
    t = sub.add_parser("table", help="the levers' tables")
    t.add_argument("--variant", default="clean")
    t.add_argument("--k", type=int, default=100, help="AS-norm: the top-k cohort similarities")
    t.add_argument("--leaky-cohort", action="store_true", help="AS-norm: keep deepface's own people in its cohort (shows the leak)")
    c = sub.add_parser("cost", help="CPU per face and resident memory of each lever")
    c.add_argument("--faces", type=int, default=150)
    c.add_argument("--rounds", type=int, default=3)
    child = sub.add_parser("memory-child")
    child.add_argument("config")
    child.add_argument("photo")
    for q in (s, t):
        q.add_argument("--folds", type=int, nargs="*", default=list(DEV_FOLDS), help="lfw-dev folds (default 1-4)")
    args = parser.parse_args(argv)
    if args.step == "memory-child":
        print(json.dumps(memory_child(args.config, args.photo)))
    elif args.step == "score":
        score(args.variants, tuple(args.folds), args.deadline_s)
    elif args.step == "cost":
        cost(args.faces, args.rounds)
    else:
        shipped = float(json.loads((ROOT / EMBEDDERS["sface"] / "bundle.json").read_text())["threshold"]["value"])
        met = table(args.variant, tuple(args.folds), args.k, shipped, not args.leaky_cohort)
        excluded = {i: sorted(map(str, v)) for i, v in getattr(as_norm, "excluded", {}).items() if v}
        print(f"\nAS-norm: lfw-dev people left out of deepface's cohorts (within {SAME_PERSON} of the person's photos): {excluded}")
        false_accepts(args.variant, tuple(args.folds), shipped)
        print(f"\nlevers meeting both (in-sample and both held-out halves): {', '.join(met) if met else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
