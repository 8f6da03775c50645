#!/usr/bin/env python3
"""Benchmark rows for clips: a 29-frame 720p H.264 clip (1280 x 720, 10 fps) sent to
predict_gesture served as deployed (functions/serve.py, one worker), with a Holistic-recipe
bundle (every model loaded: pose detector and landmarks, hand re-crop and landmarks, face
detector and mesh, the sequence model). Rows: peak PSS over master + worker
(tools/measure/bench/monitor.py), server CPU per request and per frame, latency.

The clip is made from 29 consecutive photos of ../shared/data/hands/subhih when present
(else the shipped tests/data/hands photos, repeated), scaled to 1280 x 720.

    .venv/bin/python tools/measure/video_bench.py --bundle DIR [--requests 5] [--out build/video-bench.json]
        [--before-root TREE --rounds 2]   (TREE: `git archive main | tar -x -C build/before`; served in
                                           turn with this tree, one server at a time)
DIR: a gesture bundle with a Holistic recipe (the converted lsvtest: tools/measure/lsvtest_agreement.py).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np
from PIL import Image

from tools import ROOT, print_report, testdata
from tools.measure import harness, hostile_video
from tools.measure.bench.monitor import Monitor

FRAMES = 29
SIZE = (1280, 720)


def clip_720p() -> bytes:
    folder = ROOT.parent / "shared/data/hands/subhih"
    if folder.exists():
        paths = sorted(folder.glob("2_pic*.jpg"))[:FRAMES]
    else:
        paths = sorted(testdata.hand_photos().glob("*.jpg")) * 8
    images = [Image.open(p).convert("RGB").resize(SIZE, Image.Resampling.BILINEAR) for p in paths[:FRAMES]]
    return hostile_video.clip(images, fps=10, size=SIZE)


def measure(video: bytes, bundle: Path, requests: int, root: Path | None = None) -> dict:
    """One served tree (this one, or `root`): idle and peak PSS, CPU per request and frame."""
    request = harness.multipart_request("clip-720p", {"video": video})
    env = {"GESTURE_MODEL": str(bundle.resolve()), "RATE_LIMITS": ""}
    if root is None:
        server = harness.start("predict_gesture", env=env)
    else:
        source = root / "functions/predict_gesture/main.py"
        server = harness.Server("predict_gesture", source, env=env, cwd=root).start().wait_ready()
    monitor = Monitor(server)
    try:
        idle = monitor.memory()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
        cpu, latency = [], []
        for _ in range(requests + 1):  # the first loads the models
            before, started = monitor.cpu_s(), time.perf_counter()
            status, body = harness.send(conn, request)
            latency.append(time.perf_counter() - started)
            cpu.append(monitor.cpu_s() - before)
            assert status == 200, body[:300]
        answer = json.loads(body)
        peak = monitor.peak()
        return {
            "idle_pss_mb": round(idle.pss_mb, 1),
            "peak_pss_mb_all_models_loaded": round(peak.pss_mb, 1) if peak else None,
            "peak_container_mb": round(peak.container_mb, 1) if peak else None,
            "first_request_cpu_s_with_model_loads": round(cpu[0], 3),
            "cpu_ms_per_request": round(float(np.median(cpu[1:])) * 1000, 1),
            "cpu_ms_per_frame": round(float(np.median(cpu[1:])) * 1000 / FRAMES, 1),
            "latency_ms_median": round(float(np.median(latency[1:])) * 1000, 1),
            "server_time_ms": answer["time_ms"],
            "label": answer["label"],
        }
    finally:
        monitor.stop()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--before-root", type=Path, help="another tree (git archive of main) served in turn with this one")
    parser.add_argument("--rounds", type=int, default=1, help="with --before-root: before, this tree, before, ... this many times")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    video = clip_720p()
    report: dict = {"clip": f"{FRAMES} frames, {SIZE[0]} x {SIZE[1]} H.264, 10 fps, {len(video)} bytes", "bundle": args.bundle.name}
    if args.before_root is None:
        report |= measure(video, args.bundle, args.requests)
    else:
        runs: dict[str, list[dict]] = {"before": [], "now": []}
        for _ in range(args.rounds):
            runs["before"].append(measure(video, args.bundle, args.requests, args.before_root.resolve()))
            runs["now"].append(measure(video, args.bundle, args.requests))
        report["load_average"] = [round(x, 2) for x in os.getloadavg()]
        for name, rows in runs.items():
            report[name] = {"runs": rows} | {
                key: [row[key] for row in rows] for key in ("peak_pss_mb_all_models_loaded", "cpu_ms_per_frame", "label")
            }
    print_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
