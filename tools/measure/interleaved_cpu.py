#!/usr/bin/env python3
"""Server CPU per clean varied pair, this tree against another, interleaved request by request.

benchmark.py serves a `--before-root` tree after this one, so a busy machine's drift can
land on one of them only. Here both trees serve at once (verify_face, THREADS=1, cache off)
and each pair is sent to both in turn (the order flips every pair: ABBA), so both meet the
same machine at the same moment. CPU is the serving process tree's CPU time for that
request (/proc schedstat, as the benchmark's Monitor reads it). Pairs: the deepface photos
two by two as they are (the benchmark's "disjoint varied pairs"), plus `--lfw N` clean
lfw-dev pairs (the first N of pairs.csv); `--rounds` passes over them.

    .venv/bin/python tools/measure/interleaved_cpu.py --before-root build/main-b359b17 --rounds 5 --lfw 100
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools import ROOT
from tools.measure.bench.inputs import disjoint_pairs, pair_request, varied_photos
from tools.measure.bench.monitor import Monitor
from tools.measure.harness import Server, drive, stop_all

LFW = ROOT.parent / "shared" / "data" / "faces" / "lfw-dev"


def lfw_pairs(n: int) -> list:
    if n <= 0 or not LFW.exists():
        return []
    with open(LFW / "pairs.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:n]
    return [pair_request(f"lfw {i}", (LFW / r["img1"]).read_bytes(), (LFW / r["img2"]).read_bytes(), False) for i, r in enumerate(rows)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before-root", type=Path, required=True, help="the other tree (e.g. a git archive of the previous main)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--lfw", type=int, default=0, help="also this many clean lfw-dev pairs")
    p.add_argument("--log-dir", type=Path, default=ROOT / "build" / "interleaved-logs")
    args = p.parse_args(argv)
    photos = varied_photos()
    if photos is None:
        p.error("the deepface photos are not beside the repo (../shared/data/faces/deepface)")
    sets = {"deepface": disjoint_pairs(photos), "lfw-dev": lfw_pairs(args.lfw)}
    args.log_dir.mkdir(parents=True, exist_ok=True)
    env = {"THREADS": "1", "EMBEDDING_CACHE_SIZE": "0"}
    trees = {"this tree": ROOT, "before": args.before_root.resolve()}
    monitors = {}
    try:
        for name, tree in trees.items():
            server = Server("verify_face", tree / "functions/verify_face/main.py", env=env, cwd=tree, log=args.log_dir / f"{name}.log")
            server.start()
            server.wait_first_answer(sets["deepface"][0], 180)
            monitors[name] = Monitor(server)
        cpu: dict[str, dict[str, list[float]]] = {s: {t: [] for t in trees} for s in sets}
        errors = 0
        for _ in range(args.rounds):
            for set_name, requests in sets.items():
                for i, request in enumerate(requests):
                    for name in list(trees)[:: 1 if i % 2 == 0 else -1]:
                        m = monitors[name]
                        before = m.cpu_s()
                        outcome = drive(m.server.url, [request], 1)[0]
                        cpu[set_name][name].append((m.cpu_s() - before) * 1000)
                        errors += bool(outcome.problem)
        for m in monitors.values():
            m.stop()
    finally:
        stop_all()
    print(f"errors: {errors}")
    print("| pairs | tree | requests | median CPU ms | mean CPU ms |")
    print("|---|---|---|---|---|")
    for set_name, per_tree in cpu.items():
        for name, values in per_tree.items():
            if values:
                print(f"| {set_name} | {name} | {len(values)} | {statistics.median(values):.1f} | {statistics.fmean(values):.1f} |")
        a, b = per_tree["this tree"], per_tree["before"]
        if a and b:
            print(
                f"| {set_name} | ratio this/before | | {statistics.median(a) / statistics.median(b):.3f} | "
                f"{statistics.fmean(a) / statistics.fmean(b):.3f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
