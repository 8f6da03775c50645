#!/usr/bin/env python3
"""Capture-condition variants of the development photos, scored per variant (issue 24).

Three steps, each deterministic and resumable:

    make   every photo of lfw-dev (the folds asked for) and deepface, written once per variant
           under build/variants/<variant>/ (the source photos never move into the repo);
    score  each variant's photos through one pipeline: this tree's served path, another
           tree's (`--tree build/main-b359b17`, a `git archive` of the main before the issue)
           or the face_recognition peer (`--peer`, run in .venvs/face-recognition); one
           JSON per (label, variant) under build/variants/scores/;
    table  the per-variant table: no-face rate, ROC AUC, accuracy, FAR and FRR at the
           operating point the label ships, TAR at FAR 0.1%; with --gate, the same on the
           pairs that the quality gate passes.

Variants (VARIANTS): face-filling crops (the face box + 0% and + 10%, resized to 112-160 px,
colour and grayscale), grayscale whole photos, low resolution (face ~40 px wide), heavy JPEG
(quality 10-15), dark and overexposed (gamma), blur, a 40 px face in a 1920x1080 frame,
rotated 90/180/270 degrees (no EXIF), and selfie-vs-ID pairs (one side as taken, the other a
face-filling grayscale crop). Sizes and JPEG qualities that vary are drawn from the photo's
name (sha256), so the same photo always becomes the same bytes. The face box a crop is cut
from is the served detector's on the original photo (as the calibration's pre-cropped set),
recorded in build/variants/boxes.json so every pipeline scores the same crops.

    .venv/bin/python tools/calibrate/capture_variants.py make
    .venv/bin/python tools/calibrate/capture_variants.py score --label shipped
    git archive b359b17 | (mkdir -p build/main-b359b17 && tar -x -C build/main-b359b17)
    .venv/bin/python tools/calibrate/capture_variants.py score --label b359b17 --tree build/main-b359b17
    .venvs/face-recognition/bin/python tools/calibrate/capture_variants.py score --label face_recognition --peer
    .venv/bin/python tools/calibrate/capture_variants.py table shipped b359b17 face_recognition
    .venv/bin/python tools/calibrate/capture_variants.py cpu build/main-b359b17 .     # CPU per photo, taking turns
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "faces"
OUT = ROOT / "build" / "variants"
DEV_FOLDS = (1, 2, 3, 4)  # lfw-dev folds scored by default: all 2,400 pairs

# name -> (kind, parameters); "pairs" variants are pairs of two other variants' photos.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "clean": ("clean", {}),
    "crop0": ("crop", {"margin": 0.0, "gray": False}),
    "crop10": ("crop", {"margin": 0.10, "gray": False}),
    "crop0-gray": ("crop", {"margin": 0.0, "gray": True}),
    "crop10-gray": ("crop", {"margin": 0.10, "gray": True}),
    "gray": ("gray", {}),
    "lowres": ("lowres", {"face": 40}),
    "jpeg": ("jpeg", {"low": 10, "high": 15}),
    "dark": ("gamma", {"gamma": 2.5}),
    "bright": ("gamma", {"gamma": 0.35}),
    "blur": ("blur", {"fraction": 0.04}),
    "small": ("small", {"face": 40, "frame": (1920, 1080)}),
    "rot90": ("rotate", {"angle": 90}),
    "rot180": ("rotate", {"angle": 180}),
    "rot270": ("rotate", {"angle": 270}),
}
# selfie-vs-ID: img1 as taken, img2 the face-filling grayscale crop (+0%)
PAIR_VARIANTS = {"selfie-id": ("clean", "crop0-gray")}
CROP_SIDES = (112, 160)


# ---- making the variants ------------------------------------------------------------------


def draw(name: str, low: int, high: int, salt: str) -> int:
    """A whole number in [low, high] fixed by the photo's name: the same photo, the same draw."""
    value = int.from_bytes(hashlib.sha256(f"{salt}:{name}".encode()).digest()[:4], "big")
    return low + value % (high - low + 1)


def jpeg(image: Image.Image, quality: int = 95) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def scaled(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


def make_variant(kind: str, params: dict[str, Any], image: Image.Image, box: tuple[float, float, float, float], name: str) -> bytes:
    """One photo (upright RGB) as the variant's JPEG bytes; `box` is its face (x, y, w, h)."""
    x, y, w, h = box
    face = max(w, h, 1.0)
    if kind == "clean":
        return jpeg(image)
    if kind == "crop":
        m = params["margin"]
        x0, y0 = max(0, round(x - m * w)), max(0, round(y - m * h))
        x1, y1 = min(image.width, round(x + (1 + m) * w)), min(image.height, round(y + (1 + m) * h))
        cut = image.crop((x0, y0, x1, y1))
        cut = scaled(cut, draw(name, *CROP_SIDES, "crop-side") / max(cut.size))
        return jpeg(cut.convert("L") if params["gray"] else cut)
    if kind == "gray":
        return jpeg(image.convert("L"))
    if kind == "lowres":
        return jpeg(scaled(image, min(1.0, params["face"] / face)))
    if kind == "jpeg":
        return jpeg(image, draw(name, params["low"], params["high"], "jpeg-quality"))
    if kind == "gamma":
        table = [round(255 * (v / 255) ** params["gamma"]) for v in range(256)] * 3
        return jpeg(image.point(table))
    if kind == "blur":
        return jpeg(image.filter(ImageFilter.GaussianBlur(max(1.0, params["fraction"] * face))))
    if kind == "small":
        small = scaled(image, params["face"] / face)
        frame = Image.new("RGB", params["frame"], (118, 118, 118))
        fw, fh = params["frame"]
        left = draw(name, 0, max(0, fw - small.width), "small-x")
        top = draw(name, 0, max(0, fh - small.height), "small-y")
        frame.paste(small, (left, top))
        return jpeg(frame)
    if kind == "rotate":
        return jpeg(image.rotate(params["angle"], expand=True))  # counter-clockwise, no EXIF
    raise ValueError(f"unknown variant kind {kind!r}")


def source_sets(folds: tuple[int, ...]) -> dict[str, list[tuple[str, str, bool]]]:
    """{"lfw-dev": pairs of the folds, "deepface": all pairs}: (img1, img2, same), paths
    relative to the set's folder."""
    with open(DATA / "lfw-dev" / "pairs.csv", newline="") as f:
        lfw = [(r["img1"], r["img2"], r["same"].strip() == "1") for r in csv.DictReader(f) if int(r["fold"]) in folds]
    with open(DATA / "deepface" / "labels.csv", newline="") as f:
        labels = {r["image"]: r["identity"] for r in csv.DictReader(f)}
    deepface = [(a, b, labels[a] == labels[b]) for a, b in itertools.combinations(sorted(labels), 2)]
    return {"lfw-dev": lfw, "deepface": deepface}


def photos_of(pairs: list[tuple[str, str, bool]]) -> list[str]:
    return sorted({p for a, b, _ in pairs for p in (a, b)})


def variant_path(variant: str, set_name: str, image: str) -> Path:
    return OUT / variant / set_name / (image.replace("/", "__").rsplit(".", 1)[0] + ".jpg")


def make(folds: tuple[int, ...]) -> None:
    sys.path.insert(0, str(ROOT))
    from dataclasses import replace

    from shared.face.verify import FaceVerifier, VerifyOptions
    from shared.images import decode_photo
    from shared.settings import get_settings

    verifier = FaceVerifier.load(replace(VerifyOptions.from_settings(get_settings()), cache_size=0))
    boxes_path = OUT / "boxes.json"
    boxes: dict[str, list[float]] = json.loads(boxes_path.read_text()) if boxes_path.exists() else {}
    for set_name, pairs in source_sets(folds).items():
        for image in photos_of(pairs):
            data = (DATA / set_name / image).read_bytes()
            photo = decode_photo(data, name=image, limits=verifier.options.decode)
            key = f"{set_name}/{image}"
            if key not in boxes:
                faces, _ = verifier.finder.find(photo.pixels)
                hgt, wid = photo.pixels.shape[:2]
                # No face on the original (none in lfw-dev): the middle half stands in.
                boxes[key] = [float(v) for v in faces[0].box] if faces else [wid / 4, hgt / 4, wid / 2, hgt / 2]
            upright = Image.fromarray(photo.pixels)
            for variant, (kind, params) in VARIANTS.items():
                path = variant_path(variant, set_name, image)
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    box = tuple(boxes[key])
                    path.write_bytes(make_variant(kind, params, upright, box, key))  # type: ignore[arg-type]
        boxes_path.write_text(json.dumps(boxes))
        print(f"{set_name}: {len(photos_of(pairs))} photos x {len(VARIANTS)} variants in {OUT}")


# ---- scoring -------------------------------------------------------------------------------


def served_scorer(tree: Path | None) -> tuple[Any, str]:
    """embed(data, name) -> record for one photo through a tree's served path."""
    sys.path.insert(0, str((tree or ROOT).resolve()))
    from dataclasses import replace

    from shared.errors import ServiceError
    from shared.face.verify import FaceEmbedding, FaceVerifier, VerifyOptions
    from shared.settings import get_settings

    options = replace(VerifyOptions.from_settings(get_settings()), cache_size=0)
    verifier = FaceVerifier.load(options)

    def embed(data: bytes, name: str) -> dict[str, Any]:
        try:
            face = verifier.embed_photo(data, name)
        except ServiceError as exc:
            return {"embedding": None, "error": exc.code}
        quality = getattr(face, "quality", None)
        return {
            "embedding": [round(float(v), 7) for v in face.embedding],
            "detector": face.detector,
            "score": round(face.face.score, 4),
            "box": [round(v, 1) for v in face.face.box],
            "quality": quality.to_dict() if quality is not None else None,
        }

    has_quality = "quality" in {f.name for f in __import__("dataclasses").fields(FaceEmbedding)}
    what = {"metric": verifier.metric, "threshold": verifier.threshold, "embedder": str(options.embedder)}
    return embed, what | ({"quality": True} if has_quality else {})


def peer_scorer() -> tuple[Any, str]:
    sys.path.insert(0, str(ROOT))
    from tools.calibrate.face_recognition_peer import encode

    def embed(data: bytes, name: str) -> dict[str, Any]:
        vector = encode(data)
        return {"embedding": vector, "detector": "hog"}

    return embed, {"metric": "euclidean", "threshold": 0.6, "peer": "face_recognition 1.3.0"}


def score(
    label: str, tree: Path | None, peer: bool, variants: list[str], folds: tuple[int, ...], deadline_s: float, redo_missing: bool = False
) -> None:
    embed, what = peer_scorer() if peer else served_scorer(tree)
    started = time.monotonic()
    folder = OUT / "scores" / label
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").write_text(json.dumps(what) + "\n")
    spent: list[float] = []

    def timed(data: bytes, image: str) -> dict[str, Any]:
        t0 = time.process_time()
        record = embed(data, image) | {"cpu_ms": 0.0}
        record["cpu_ms"] = round((time.process_time() - t0) * 1000, 2)
        spent.append(record["cpu_ms"])
        return record

    redo = (lambda record: record.get("embedding") is None) if redo_missing else None
    for variant in variants:
        spent.clear()
        records = score_each(folder / f"{variant}.json", variant, folds, timed, started, deadline_s, redo)
        if records is None:
            return
        print(f"{label} ({what}) {variant}: {len(records)} photos, {sum(spent) / 1000:.0f} s CPU this run", flush=True)


def score_each(
    path: Path,
    variant: str,
    folds: tuple[int, ...],
    score_one: Callable[[bytes, str], Any],
    started: float,
    deadline_s: float,
    redo: Callable[[Any], bool] | None = None,
) -> dict[str, Any] | None:
    """Every photo of `variant` (lfw-dev's `folds` and deepface) not yet in `path`'s records
    (a JSON object by "set/photo"; or one `redo` says to score again) scored by
    `score_one(bytes, photo name)`, and the records written back. None when `deadline_s`
    (counted from `started`, monotonic) ran out first: what was scored is written, and a
    rerun resumes from there. The resumable loop of `score` and of the tools that score the
    variants their own way (tools/measure/embed_quality.py, far_levers.py)."""
    records: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    for set_name, pairs in source_sets(folds).items():
        for image in photos_of(pairs):
            key = f"{set_name}/{image}"
            if key in records and not (redo is not None and redo(records[key])):
                continue
            if time.monotonic() - started > deadline_s:
                path.write_text(json.dumps(records))
                print(f"deadline reached in {variant}; rerun to resume", flush=True)
                return None
            records[key] = score_one(variant_path(variant, set_name, image).read_bytes(), image)
    path.write_text(json.dumps(records))
    return records


def cpu(trees: list[Path], variants: list[str], photos: int, rounds: int) -> None:
    """CPU per photo (median, ms) of each tree's served path on the first `photos` photos of
    lfw-dev fold 1 in each variant, the trees taking turns for `rounds` rounds (ABAB), each
    tree in its own process so both meet the same machine at the same time."""
    import subprocess

    results: dict[str, dict[str, list[float]]] = {}
    for _ in range(rounds):
        for tree in trees:
            cmd = [sys.executable, __file__, "cpu-one", "--tree", str(tree), "--photos", str(photos), "--variants", *variants]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1800).stdout
            for variant, value in json.loads(out.strip().splitlines()[-1]).items():
                results.setdefault(str(tree), {}).setdefault(variant, []).append(value)
    print("| variant | " + " | ".join(str(t) for t in trees) + " |")
    print("|---|" + "---|" * len(trees))
    for variant in variants:
        cells = [f"{min(results[str(t)][variant]):.2f} ms" for t in trees]
        print(f"| {variant} | " + " | ".join(cells) + " |")


def cpu_one(tree: Path, variants: list[str], photos: int) -> None:
    embed, _ = served_scorer(tree)
    images = photos_of(source_sets((1,))["lfw-dev"])[:photos]
    out = {}
    for variant in variants:
        data = [variant_path(variant, "lfw-dev", image).read_bytes() for image in images]
        embed(data[0], "warm-up")
        times = []
        for blob, image in zip(data, images, strict=True):
            t0 = time.process_time()
            embed(blob, image)
            times.append((time.process_time() - t0) * 1000)
        out[variant] = float(np.median(times))
    print(json.dumps(out))


# ---- the table -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    m = sub.add_parser("make", help="write the variants under build/variants/")
    s = sub.add_parser("score", help="embed every variant photo through one pipeline")
    s.add_argument("--label", required=True, help="name of the scores (build/variants/scores/<label>/)")
    s.add_argument("--tree", type=Path, help="score another tree's served path (a git archive folder)")
    s.add_argument("--peer", action="store_true", help="score face_recognition 1.3.0 (run in .venvs/face-recognition)")
    s.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    s.add_argument("--deadline-s", type=float, default=3600.0, help="stop (resumably) after this long")
    s.add_argument("--redo-missing", action="store_true", help="score again the photos recorded without a face")
    c = sub.add_parser("cpu", help="CPU per photo of trees, taking turns (the benchmark against the previous main)")
    c.add_argument("trees", type=Path, nargs="+")
    c.add_argument("--variants", nargs="+", default=["clean", "crop0", "crop0-gray", "gray", "rot90", "small"])
    c.add_argument("--photos", type=int, default=100)
    c.add_argument("--rounds", type=int, default=2)
    one = sub.add_parser("cpu-one")
    one.add_argument("--tree", type=Path, required=True)
    one.add_argument("--variants", nargs="+", required=True)
    one.add_argument("--photos", type=int, required=True)
    t = sub.add_parser("table", help="print the per-variant table of scored labels")
    t.add_argument("labels", nargs="+")
    t.add_argument("--json", type=Path, help="also write the table as JSON here")
    t.add_argument("--far", type=float, help="this tree's operating point for this FAR (default: the bundle's)")
    for p in (m, s, t):
        p.add_argument("--folds", type=int, nargs="*", default=list(DEV_FOLDS), help="lfw-dev folds (default all; none: deepface only)")
    args = parser.parse_args(argv)
    folds = tuple(getattr(args, "folds", DEV_FOLDS))
    if not DATA.exists():
        parser.error(f"the development photos are not beside the repo ({DATA.relative_to(ROOT.parent)})")
    if args.step == "make":
        make(folds)
    elif args.step == "cpu":
        cpu(args.trees, args.variants, args.photos, args.rounds)
    elif args.step == "cpu-one":
        cpu_one(args.tree, args.variants, args.photos)
    elif args.step == "score":
        score(args.label, args.tree, args.peer, args.variants, folds, args.deadline_s, args.redo_missing)
    else:
        sys.path.insert(0, str(ROOT))
        from tools.calibrate.variant_table import print_tables

        print_tables(args.labels, folds, args.json, far=args.far)
    return 0


if __name__ == "__main__":
    sys.exit(main())
