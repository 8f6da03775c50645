#!/usr/bin/env python3
"""CPU per disjoint varied pair, this tree against another, interleaved (issue 25).

Both trees are served at once, as the benchmark serves them (functions/serve.py, one
worker, THREADS=1, embedding cache off), and every disjoint pair of the deepface photos
(each photo once, multipart: the benchmark's workload) goes to one server, then the
same pair to the other, for `--passes` passes (the order of the two swapped every pair):
load from other work hits both alike. Each request's CPU is the server's process-tree
CPU time across it (threads' schedstat). Reported: mean and median per tree and their
ratios, each tree's memory peak and its memory at the end (sampled every 20 ms, as the
benchmark samples it; both servers share the venv's library pages, so read the container
columns); and whether every answer was the same JSON apart from its timings.

    .venv/bin/python tools/measure/ab_pairs.py --before-root build/before [--passes 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools.measure.bench.inputs import disjoint_pairs, face_photo_pairs, varied_photos, verify_request  # noqa: E402
from tools.measure.bench.monitor import Monitor  # noqa: E402
from tools.measure.harness import Server, send  # noqa: E402

TIMINGS = ("time_ms",)


def _answer(body: bytes) -> object:
    """The answer without its timings (they differ between any two runs)."""
    data = json.loads(body)
    return {k: v for k, v in data.items() if k not in TIMINGS} if isinstance(data, dict) else data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before-root", type=Path, required=True)
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree called 'this tree' (default: the one holding this tool)")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    photos = varied_photos()
    if not photos:
        raise SystemExit("../shared/data/faces/deepface is not beside the repo")
    pairs = disjoint_pairs(photos)
    env = {"THREADS": "1", "EMBEDDING_CACHE_SIZE": "0"}
    trees = {"this tree": args.root.resolve(), "before": args.before_root.resolve()}
    servers = {
        name: Server("verify_face", root / "functions/verify_face/main.py", args.python, env).start() for name, root in trees.items()
    }
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    answers: dict[str, list[object]] = {name: [] for name in trees}
    try:
        monitors = {}
        for name, server in servers.items():
            server.wait_first_answer(verify_request(face_photo_pairs()["1mp"], "1mp"), 120.0)
            monitors[name] = Monitor(server)
        conns = {
            name: http.client.HTTPConnection(urlsplit(s.url).hostname, urlsplit(s.url).port, timeout=120) for name, s in servers.items()
        }
        order = list(trees)
        for _ in range(args.passes):
            for request in pairs:
                order.reverse()
                for name in order:
                    before = monitors[name].cpu_s()
                    status, body = send(conns[name], request)
                    cpu[name].append((monitors[name].cpu_s() - before) * 1000)
                    answers[name].append(_answer(body) if status == 200 else status)
        memory = {name: (m.peak(), m.memory()) for name, m in monitors.items()}
        for monitor in monitors.values():
            monitor.stop()
    finally:
        for server in servers.values():
            server.stop()
    same = sum(a == b for a, b in zip(answers["this tree"], answers["before"], strict=True))
    print(f"{len(pairs)} disjoint pairs x {args.passes} passes, interleaved; load average {os.getloadavg()[0]:.1f}")
    print(f"answers equal apart from timings: {same} of {len(answers['before'])}")
    print("| tree | CPU ms per pair, mean | median | peak PSS MB | peak container MB | container MB at the end |")
    print("|---|---|---|---|---|---|")
    for name in trees:
        peak, end = memory[name]
        cells = f"{peak.pss_mb:.1f} | {peak.container_mb:.1f}" if peak else "- | -"
        print(f"| {name} | {statistics.mean(cpu[name]):.1f} | {statistics.median(cpu[name]):.1f} | {cells} | {end.container_mb:.1f} |")
    ratio_mean = statistics.mean(cpu["this tree"]) / statistics.mean(cpu["before"])
    ratio_median = statistics.median(cpu["this tree"]) / statistics.median(cpu["before"])
    print(f"| this tree / before | {ratio_mean:.3f} | {ratio_median:.3f} | | | |")


if __name__ == "__main__":
    main()
