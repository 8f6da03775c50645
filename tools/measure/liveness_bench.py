#!/usr/bin/env python3
"""Benchmark rows for liveness: a 20-frame burst request's server CPU, latency and memory.

Serves verify_face as deployed (tools/measure/harness.py: gunicorn, one worker) with
LIVENESS_SECRET and MEMORY_LIMIT_MB=256 (the 256 MiB tier), warms it with a pair request,
then sends `--requests` bursts of 20 frames (640 x 480 JPEGs, ~40 KB, as the web client
sends them: one registry photo moved and tilted per frame) each with a fresh challenge, and
a pair request for comparison. Memory: the worker's peak RSS (VmHWM, since start) and the
PSS of master and worker together after the run (what the platform's limit counts).

    .venv/bin/python tools/measure/liveness_bench.py [--requests 10] [--out build/liveness-bench.json]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np
import psutil
from PIL import Image

from tools import ROOT, print_report, testdata
from tools.measure import harness
from tools.measure import liveness_bursts as bursts

SECRET = "benchmark-secret-" + "0" * 32
FRAMES = 20
TIER_MB = 256


def frames_640(photo: Path, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    image = Image.open(photo).convert("RGB")
    w, h = image.size
    side = min(w, h * 4 // 3)
    base = image.crop(((w - side) // 2, 0, (w - side) // 2 + side, side * 3 // 4)).resize((640, 480), Image.Resampling.BILINEAR)
    out = []
    for _ in range(FRAMES):
        frame = bursts.moved(bursts.perspective(base, rng.uniform(-8, 8), rng.uniform(-5, 5), rng), rng, 0.02, 0.02, 2.0)
        buffer = io.BytesIO()
        frame.save(buffer, "JPEG", quality=80)
        out.append(buffer.getvalue())
    return out


def post(url: str, body: dict) -> tuple[int, dict, float]:
    started = time.perf_counter()
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        answer = json.load(r)
        return r.status, answer, (time.perf_counter() - started) * 1000


def cpu_ms(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return (t.user + t.system) * 1000


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "build/liveness-bench.json")
    args = parser.parse_args(argv)
    photos = testdata.face_photos()
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    pair = {"img1": b64((photos / "obama.jpg").read_bytes()), "img2": b64((photos / "obama2.jpg").read_bytes())}
    server = harness.start("verify_face", env={"LIVENESS_SECRET": SECRET, "MEMORY_LIMIT_MB": str(TIER_MB)})
    try:
        pid = server.serving_pid()
        post(server.url, pair)
        rows: dict[str, list[float]] = {"burst_cpu_ms": [], "burst_ms": [], "pair_cpu_ms": [], "pair_ms": []}
        frame_bytes = []
        for i in range(args.requests):
            frames = frames_640(photos / "obama.jpg", seed=i)
            frame_bytes.append(sum(map(len, frames)))
            _, issued, _ = post(server.url, {"liveness": "challenge"})
            body = {"frames": [b64(f) for f in frames], "challenge": issued["challenge"]["token"], "img2": pair["img2"]}
            before = cpu_ms(pid)
            status, answer, ms = post(server.url, body)
            assert status == 200 and answer["liveness"]["frames"] == FRAMES, answer
            rows["burst_cpu_ms"].append(cpu_ms(pid) - before)
            rows["burst_ms"].append(ms)
            if i == 0:
                rows["first_burst_ms"] = [ms]  # loads the face mesh
            before = cpu_ms(pid)
            _, _, ms = post(server.url, pair)
            rows["pair_cpu_ms"].append(cpu_ms(pid) - before)
            rows["pair_ms"].append(ms)
        master = psutil.Process(server.process.pid)
        pss = sum(p.memory_full_info().pss for p in [master, *master.children()]) / 2**20
        report = {
            "frames_per_burst": FRAMES,
            "frame": "640x480 JPEG q80",
            "mean_burst_kb": round(statistics.mean(frame_bytes) / 1024, 1),
            "requests": args.requests,
            "burst_cpu_ms_median": round(statistics.median(rows["burst_cpu_ms"][1:] or rows["burst_cpu_ms"]), 1),
            "burst_latency_ms_median": round(statistics.median(rows["burst_ms"][1:] or rows["burst_ms"]), 1),
            "first_burst_latency_ms": round(rows["first_burst_ms"][0], 1),
            "pair_cpu_ms_median": round(statistics.median(rows["pair_cpu_ms"]), 1),
            "pair_latency_ms_median": round(statistics.median(rows["pair_ms"]), 1),
            "worker_peak_rss_mb": round(vm_hwm_mb(pid), 1),
            "pss_master_and_worker_mb": round(pss, 1),
            "tier_mb": TIER_MB,
            "cpu_count": psutil.cpu_count(),
            "load_average": [round(v, 2) for v in psutil.getloadavg()],
        }
    finally:
        server.stop()
    print_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
