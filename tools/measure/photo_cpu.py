#!/usr/bin/env python3
"""Where a varied pair's CPU goes, photo by photo (issue 25: the mean far above the median).

One process, the served `FaceVerifier.embed_photo` path (settings' defaults, embedding
cache off) on every deepface photo the benchmark sends (../shared/data/faces/deepface, sorted
by name, `bench.inputs.varied_photos`), `--rounds` times; each step's process CPU time
(`time.process_time`: the interpreters' threads included) is read by wrapping the verifier's
own calls, so the path timed is the one served: `inspect_image`, each `decode_photo` (the
first at `first_side`, the second, sharper one when the face is too small for the chip),
each `FaceFinder.locate`, the chip, the embedding. Medians over the rounds.

Printed: a Markdown table, one row per photo, the costliest first: format (JPEG baseline or
progressive, PNG, WebP...), pixel size, the size libjpeg's draft scale reached on each decode
(1/1 when it does not apply), whether it was decoded twice, decode CPU (each decode), detect
(each locate), align + quality, embed, total; then what share of the mean pair's CPU the top
photos carry (the mean pair = the summed photos' CPU / the disjoint pairs the benchmark
makes of them; HTTP parsing and JSON are not in it).

    .venv/bin/python tools/measure/photo_cpu.py [--rounds 5] [--root TREE] [--json build/photo-cpu.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("inspect", "decode1", "detect1", "decode2", "detect2", "align", "embed")


class Recorder:
    """Wraps the verifier's calls; `steps` gets each call's CPU ms under its stage name."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self.decodes: list[dict[str, Any]] = []

    def timed(self, stage: str, func: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                name = stage
                if stage in ("decode", "detect"):
                    name = f"{stage}{1 + sum(k.startswith(stage) for k in self.steps)}"
                self.steps[name] = self.steps.get(name, 0.0) + (time.process_time() - started) * 1000

        return wrapper


def measure(root: Path, rounds: int) -> list[dict[str, Any]]:
    """One row per varied photo: what it is, and each stage's median CPU ms over `rounds`."""
    folder = ROOT.parent / "shared" / "data" / "faces" / "deepface"  # beside this tool's tree, whatever --root
    if not folder.is_dir():
        raise SystemExit(f"the deepface photos are not beside the repo ({folder})")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    sys.path.insert(0, str(root))
    import shared.face.verify as verify
    import shared.images.decode as decoding
    from shared.images import inspect_image
    from shared.images.jpeg import draft_size
    from shared.settings import get_settings

    options = dataclasses.replace(verify.VerifyOptions.from_settings(get_settings()), cache_size=0)
    verifier = verify.FaceVerifier.load(options)
    limits = options.decode
    recorder = Recorder()
    sides: list[str] = []
    decode, again = decoding.decode_photo, getattr(verify, "decode_again", None)  # main before round five: no decode_again

    def decode_photo(data: bytes, **kwargs: Any) -> Any:
        sides.append(str(kwargs.get("side", 0)))
        return decode(data, **kwargs)

    def decode_again(data: bytes, photo: Any, **kwargs: Any) -> Any:
        opened = len(sides)
        result = again(data, photo, **kwargs)  # type: ignore[misc]
        if len(sides) == opened:  # no new decode
            sides.append("same pixels: none" if result is None else "kept image shrunk")
        return result

    verify.decode_photo = recorder.timed("decode", decode_photo)
    decoding.decode_photo = decode_photo  # decode_again's own call (its time is the wrapper's)
    if again is not None:
        verify.decode_again = recorder.timed("decode", decode_again)
    verify.inspect_image = recorder.timed("inspect", verify.inspect_image)
    verifier.finder.locate = recorder.timed("detect", verifier.finder.locate)  # type: ignore[method-assign]
    verifier.embedder.chip = recorder.timed("align", verifier.embedder.chip)  # type: ignore[method-assign]
    verifier.embedder.embed = recorder.timed("embed", verifier.embedder.embed)  # type: ignore[method-assign]
    times: dict[str, list[dict[str, float]]] = {p.name: [] for p in paths}
    info: dict[str, dict[str, Any]] = {}
    for _ in range(rounds):
        for path in paths:
            data = path.read_bytes()
            recorder.steps, sides[:] = {}, []
            started = time.process_time()
            try:
                result = verifier.embed_photo(data, "img1")
                answer = f"{result.faces_found} face(s)"
            except verify.ServiceError as exc:
                answer = exc.code
            steps = dict(recorder.steps, total=(time.process_time() - started) * 1000)
            times[path.name].append(steps)
            cost = inspect_image(data, path.name, limits)
            kind = cost.format + (" progressive" if cost.progressive else " baseline" if cost.format == "JPEG" else "")
            reached = []
            for side in sides:
                if not side.isdigit():
                    reached.append(side)
                    continue
                target = min(int(side) or limits.max_side, limits.max_side)
                w, h = draft_size(cost.width, cost.height, target) if cost.format == "JPEG" else (cost.width, cost.height)
                reached.append(f"{w}x{h} ({round(cost.width / w)}:1)")
            info[path.name] = {"format": kind, "size": f"{cost.width}x{cost.height}", "draft": reached, "answer": answer}
    rows = []
    for name, runs in times.items():
        medians = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in (*STAGES, "total")}
        rows.append({"photo": name, **info[name], "twice": len(info[name]["draft"]) > 1, **medians})
    return sorted(rows, key=lambda r: -r["total"])


def report(rows: list[dict[str, Any]]) -> str:
    pairs = len(rows) // 2
    total = sum(r["total"] for r in rows)
    out = [
        "| photo | format | size | draft decode(s) | twice | decode 1 | decode 2 | detect 1 | detect 2 | align | embed | total |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["photo"], r["format"], r["size"], " then ".join(r["draft"]), "yes" if r["twice"] else ""]
        cells += [f"{r[k]:.1f}" if r[k] else "" for k in ("decode1", "decode2", "detect1", "detect2", "align", "embed", "total")]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append(f"{len(rows)} photos, {pairs} disjoint pairs: mean pair {total / pairs:.1f} ms of CPU in embed_photo (HTTP not included)")
    median = statistics.median(r["total"] for r in rows)
    out.append(f"median photo {median:.1f} ms, mean photo {total / len(rows):.1f} ms")
    for k in (1, 3, 5, 10):
        top = sum(r["total"] for r in rows[:k])
        rest = (total - top + k * median) / pairs
        out.append(
            f"top {k}: {top:.1f} ms = {100 * top / total:.0f}% of the summed CPU; mean pair {rest:.1f} ms if they cost the median photo"
        )
    twice = [r for r in rows if r["twice"]]
    spent = sum(r["total"] for r in twice)
    out.append(f"decoded twice: {len(twice)} photos, {spent:.1f} ms ({100 * spent / total:.0f}%)")
    for stage in STAGES:
        out.append(f"stage {stage}: {sum(r[stage] for r in rows) / pairs:.1f} ms per mean pair")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree whose library is measured (default: this one)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    rows = measure(args.root.resolve(), args.rounds)
    print(report(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
