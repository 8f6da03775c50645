#!/usr/bin/env python3
"""Cold starts by CPU time, interleaved: each function against the hello-world floor and
against another tree (issue 25, item 4), on a machine whose other load makes wall times
swing.

Each round serves every variant once, in turn, as the benchmark does (gunicorn through
functions-framework, THREADS=1, the benchmark's cold requests: the 1 MP pair, the first
gesture row): process spawn -> first answer. Recorded: the wall time (the benchmark's cold
start) and the CPU time the server's process tree had used by its first answer (threads'
schedstat: what other work on the machine inflates least). Reported: medians, and each
variant's ratio to the floor from the medians and as the median of each round's own ratio.

    .venv/bin/python tools/measure/cold_cpu.py [--before-root build/before] [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools.measure.bench.cases import Variant, hello_variant  # noqa: E402
from tools.measure.bench.gesture import gesture_requests, served_env  # noqa: E402
from tools.measure.bench.inputs import face_photo_pairs, verify_request  # noqa: E402
from tools.measure.bench.runner import _served  # noqa: E402


def variants(python: str, before: Path | None) -> list[Variant]:
    verify = verify_request(face_photo_pairs()["1mp"], "1mp")
    gesture = next(iter(gesture_requests().values()))[0]
    trees = {"": ROOT} | ({" [before]": before} if before else {})
    out = [hello_variant(python)]
    for suffix, root in trees.items():
        source = root / "functions/verify_face/main.py"
        out.append(Variant(f"verify_face{suffix}", "ai-edge-litert", python, source, "verify_face", {}, verify))
    for suffix, root in trees.items():
        source = root / "functions/predict_gesture/main.py"
        out.append(Variant(f"predict_gesture{suffix}", "ai-edge-litert", python, source, "predict_gesture", served_env(), gesture))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before-root", type=Path, help="another tree served the same way (e.g. git archive of main)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--log-dir", type=Path, default=ROOT / "build" / "cold-cpu")
    args = parser.parse_args()
    served = variants(args.python, args.before_root.resolve() if args.before_root else None)
    wall: dict[str, list[float]] = {v.name: [] for v in served}
    cpu: dict[str, list[float]] = {v.name: [] for v in served}
    for r in range(args.rounds):
        for v in served:
            with _served(v, f"cold{r}", {"THREADS": "1", **v.env}, args.log_dir, 120.0) as watch:
                wall[v.name].append(watch.marks[0][0])
                cpu[v.name].append(watch.cpu_s())
        print(f"round {r + 1}/{args.rounds}: load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    floor = served[0].name
    print(f"{args.rounds} rounds; load average at the end {' / '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| function | cold start wall, median s | x floor | CPU to first answer, median s | x floor | x floor, rounds' own (median) |")
    print("|---|---|---|---|---|---|")
    for v in served:
        w, c = statistics.median(wall[v.name]), statistics.median(cpu[v.name])
        own = statistics.median(a / b for a, b in zip(cpu[v.name], cpu[floor], strict=True))
        fw, fc = statistics.median(wall[floor]), statistics.median(cpu[floor])
        print(f"| {v.name} | {w:.3f} | {w / fw:.2f} | {c:.3f} | {c / fc:.2f} | {own:.2f} |")


if __name__ == "__main__":
    main()
