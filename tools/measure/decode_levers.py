#!/usr/bin/env python3
"""What the decode levers that change pixels could save on the varied photos (issue 25, round five).

On every deepface photo the benchmark sends (../shared/data/faces/deepface), decoded as the
served first decode does (`first_side`, libjpeg's draft scale, the thumbnail resize), in one
process, process CPU (`time.process_time`), the median of `--rounds`:

- the decode's split: Pillow's load (entropy decoding, IDCT, colour) and the thumbnail
  resize of photos the draft scale does not bring to the working size: the resize is the most
  any cheaper resampling could save;
- progressive JPEGs: the load again with the file cut before its trailing refinement scans
  (scans of AC coefficients with Ah > 0: the last bit of each coefficient), EOI appended, as
  libjpeg takes a file whose last scans are missing; its CPU and how far its pixels are from
  the full decode's (max and mean absolute difference, 0-255). Not served: a measurement.

Printed: one row per photo whose decode is over `--over` ms, then the totals per disjoint
pair (the photos two by two, as the benchmark sends them).

    .venv/bin/python tools/measure/decode_levers.py [--rounds 5] [--over 8]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from shared.images import DecodeLimits, inspect_image, jpeg  # noqa: E402
from shared.images.decode import first_side, thumbnail_size  # noqa: E402
from tools import testdata  # noqa: E402
from tools.measure.bench.inputs import DEEPFACE  # noqa: E402

SOS = 0xDA


def refinement_cut(data: bytes) -> bytes | None:
    """The JPEG without its trailing AC refinement scans (Ss >= 1, Ah > 0), EOI appended;
    None when it does not end with one."""
    scans = []
    for code, at, _ in jpeg._segments(data):
        if code == SOS:
            count = data[at + 4]
            ss, approx = data[at + 5 + 2 * count], data[at + 7 + 2 * count]
            scans.append((at, ss, approx >> 4))
    cut = None
    while scans and scans[-1][1] >= 1 and scans[-1][2] > 0:
        cut = scans.pop()[0]
    return None if cut is None else data[:cut] + b"\xff\xd9"


def median_ms(func: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(rounds):
        started = time.process_time()
        out = func()
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times), out


def loader(data: bytes, request: tuple[int, int] | None) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        image = Image.open(io.BytesIO(data))
        if request:
            image.draft("RGB", request)
        image.load()
        return image

    return load


def measure(rounds: int) -> list[dict[str, Any]]:
    folder = testdata.shared_data(*DEEPFACE)
    if folder is None:
        raise SystemExit("the deepface photos are not beside the repo (../shared/data/faces/deepface)")
    limits = DecodeLimits()
    rows = []
    for path in sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")):
        data = path.read_bytes()
        cost = inspect_image(data, path.name, limits)
        side = first_side(cost, limits)
        request = jpeg.draft_request(cost.width, cost.height, side) if cost.format == "JPEG" else None
        load_ms, image = median_ms(loader(data, request), rounds)
        resize_ms = 0.0
        if max(image.size) > side:
            size = thumbnail_size(image.size, side)
            resize_ms, _ = median_ms(lambda image=image, size=size: image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0), rounds)
        row = {
            "photo": path.name,
            "format": cost.format + (" progressive" if cost.progressive else ""),
            "load": load_ms,
            "resize": resize_ms,
        }
        cut = refinement_cut(data) if cost.progressive else None
        if cut is not None:
            cut_ms, partial = median_ms(loader(cut, request), rounds)
            diff = np.abs(np.asarray(partial.convert("RGB"), dtype=np.int16) - np.asarray(image.convert("RGB"), dtype=np.int16))
            row |= {"cut_load": cut_ms, "cut_bytes": 1 - len(cut) / len(data), "max_diff": int(diff.max()), "mean_diff": float(diff.mean())}
        rows.append(row)
    return rows


def report(rows: list[dict[str, Any]], over: float) -> str:
    pairs = len(rows) // 2
    out = [
        "| photo | format | load ms | resize ms | load without the last refinement scans, ms (bytes cut) | pixels' max / mean difference |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: -(r["load"] + r["resize"])):
        if r["load"] + r["resize"] < over:
            continue
        cut = f"{r['cut_load']:.1f} ({100 * r['cut_bytes']:.0f}%)" if "cut_load" in r else ""
        diff = f"{r['max_diff']} / {r['mean_diff']:.2f}" if "cut_load" in r else ""
        resize = f"{r['resize']:.1f}" if r["resize"] else ""
        out.append(f"| {r['photo']} | {r['format']} | {r['load']:.1f} | {resize} | {cut} | {diff} |")
    cut_rows = [r for r in rows if "cut_load" in r]
    out += [
        "",
        f"{len(rows)} photos, {pairs} disjoint pairs; per pair: load {sum(r['load'] for r in rows) / pairs:.1f} ms, "
        f"resize {sum(r['resize'] for r in rows) / pairs:.1f} ms",
        f"progressive JPEGs ending in refinement scans: {len(cut_rows)}; their load {sum(r['load'] for r in cut_rows) / pairs:.1f} ms "
        f"per pair, without those scans {sum(r['cut_load'] for r in cut_rows) / pairs:.1f}",
        f"WebP: load {sum(r['load'] for r in rows if r['format'] == 'WEBP') / pairs:.1f} ms per pair",
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--over", type=float, default=8.0, help="rows for photos whose decode is over this many ms")
    args = parser.parse_args()
    print(report(measure(args.rounds), args.over))


if __name__ == "__main__":
    main()
