#!/usr/bin/env python3
"""Cold starts by CPU time, interleaved: each function against the hello-world floor and
against another tree (issue 25, item 4), on a machine whose other load makes wall times
swing.

Each round serves every variant once, in turn, as the benchmark does (gunicorn through
functions-framework, THREADS=1, the benchmark's cold requests: the 1 MP pair, the first
gesture row): process spawn -> first answer. Recorded: the wall time (the benchmark's cold
start) and the CPU time the server's process tree had used by its first answer (threads'
schedstat: what other work on the machine inflates least). Reported: medians, and each
variant's ratio to the floor from the medians and as the median of each round's own ratio,
and each variant's difference from the first tree's as the median of the rounds' own.
`--warm N` then sends each server N more of its cold request and records the median CPU
of one (a warm request; verify_face is then served with its embedding cache off, as the
benchmark's warm workloads are, so the same pair is computed again). `--root` serves
another tree as "this tree", `--also NAME=TREE` adds trees (e.g. one variant per lever). A
tree holding functions/hello/main.py (a copy of bench/hello_function.py) also has the floor
served by its own functions/serve.py: "hello [NAME]", for a lever that changes how every
function is served (the floor above is always served by this tool's tree).

    .venv/bin/python tools/measure/cold_cpu.py [--before-root build/before] [--rounds 15]
    .venv/bin/python tools/measure/cold_cpu.py --root build/r4 --also unsealed=build/r4-unsealed \
        --before-root build/main-626dcb8 --rounds 15 --warm 10
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools.measure.bench.cases import Variant, hello_variant  # noqa: E402
from tools.measure.bench.gesture import gesture_requests, served_env  # noqa: E402
from tools.measure.bench.inputs import face_photo_pairs, hello_request, verify_request  # noqa: E402
from tools.measure.bench.runner import _served  # noqa: E402
from tools.measure.harness import Request, send  # noqa: E402


def variants(python: str, trees: dict[str, Path]) -> list[Variant]:
    """The floor, then verify_face and predict_gesture of each tree ({name suffix: root});
    each tree serves its own gesture bundles."""
    verify = verify_request(face_photo_pairs()["1mp"], "1mp")
    gesture = next(iter(gesture_requests().values()))[0]
    out = [hello_variant(python)]
    for suffix, root in trees.items():
        source = root / "functions/verify_face/main.py"
        out.append(Variant(f"verify_face{suffix}", "ai-edge-litert", python, source, "verify_face", {}, verify))
    for suffix, root in trees.items():
        source = root / "functions/predict_gesture/main.py"
        models = served_env()["GESTURE_MODEL"].replace(str(ROOT / "models"), str(root / "models"))
        env = {"GESTURE_MODEL": models}
        out.append(Variant(f"predict_gesture{suffix}", "ai-edge-litert", python, source, "predict_gesture", env, gesture))
    for suffix, root in trees.items():  # the floor served by that tree's own functions/serve.py
        source = root / "functions/hello/main.py"
        if source.exists():
            out.append(Variant(f"hello{suffix}", "-", python, source, "hello", {}, hello_request()))
    return out


def warm_cpu(watch, url: str, request: Request, count: int) -> float:
    """Median CPU seconds of one of `count` more requests like the cold one."""
    split = url.split("//", 1)[1].rstrip("/")
    host, port = split.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    spent = []
    try:
        for _ in range(count):
            before = watch.cpu_s()
            status, body = send(conn, request)
            spent.append(watch.cpu_s() - before)
            if status != 200:
                raise RuntimeError(f"warm request answered {status}: {body[:200]!r}")
    finally:
        conn.close()
    return statistics.median(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before-root", type=Path, help="another tree served the same way (e.g. git archive of main)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree called 'this tree' (default: the one holding this tool)")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=TREE", help="one more tree, named NAME in the table")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warm", type=int, default=0, help="then N more requests each: the median CPU of a warm one")
    parser.add_argument("--raw", type=Path, help="also write every round's figures here (JSON), for paired comparisons")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--log-dir", type=Path, default=ROOT / "build" / "cold-cpu")
    args = parser.parse_args()
    trees = {"": args.root.resolve()}
    for item in args.also:
        name, _, tree = item.partition("=")
        trees[f" [{name}]"] = Path(tree).resolve()
    if args.before_root:
        trees[" [before]"] = args.before_root.resolve()
    served = variants(args.python, trees)
    extra = {"EMBEDDING_CACHE_SIZE": "0"} if args.warm else {}
    wall: dict[str, list[float]] = {v.name: [] for v in served}
    cpu: dict[str, list[float]] = {v.name: [] for v in served}
    warm: dict[str, list[float]] = {v.name: [] for v in served}
    for r in range(args.rounds):
        for v in served:
            with _served(v, f"cold{r}", {"THREADS": "1", **extra, **v.env}, args.log_dir, 120.0) as watch:
                wall[v.name].append(watch.marks[0][0])
                cpu[v.name].append(watch.cpu_s())
                if args.warm:
                    warm[v.name].append(warm_cpu(watch, watch.server.url, v.cold_request, args.warm))
        print(f"round {r + 1}/{args.rounds}: load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    floor = served[0].name
    if args.raw:
        args.raw.write_text(json.dumps({"wall_s": wall, "cpu_s": cpu, "warm_cpu_s": warm, "load": os.getloadavg()}, indent=1))
    print(f"{args.rounds} rounds; load average at the end {' / '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    warm_head = (" warm request CPU, median of medians ms |", "---|") if args.warm else ("", "")
    head = "| function | cold start wall, median s | x floor | CPU to first answer, median s | x floor | x floor, rounds' own (median) |"
    print(head + warm_head[0])
    print("|---|---|---|---|---|---|" + warm_head[1])
    for v in served:
        w, c = statistics.median(wall[v.name]), statistics.median(cpu[v.name])
        own = statistics.median(a / b for a, b in zip(cpu[v.name], cpu[floor], strict=True))
        fw, fc = statistics.median(wall[floor]), statistics.median(cpu[floor])
        warm_cell = f" {statistics.median(warm[v.name]) * 1000:.2f} |" if args.warm else ""
        print(f"| {v.name} | {w:.3f} | {w / fw:.2f} | {c:.3f} | {c / fc:.2f} | {own:.2f} |{warm_cell}")
    print("\nPaired, against this tree's own function in the same round (median of the rounds' differences, ms):\n")
    print("| function | CPU to first answer | warm request CPU |" if args.warm else "| function | CPU to first answer |")
    print("|---|---|---|" if args.warm else "|---|---|")
    for v in served[1:]:
        base = next(b.name for b in served if b.target == v.target)
        if base == v.name:
            continue
        cold_d = statistics.median(a - b for a, b in zip(cpu[v.name], cpu[base], strict=True)) * 1000
        warm_d = statistics.median(a - b for a, b in zip(warm[v.name], warm[base], strict=True)) * 1000 if args.warm else None
        print(f"| {v.name} - {base} | {cold_d:+.1f} |" + (f" {warm_d:+.2f} |" if warm_d is not None else ""))


if __name__ == "__main__":
    main()
