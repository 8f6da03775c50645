#!/usr/bin/env python3
"""Where a clip's memory and CPU go through Holistic, stage by stage, in one process set up
as a served worker is (glibc tuned as the edge tunes it, the models loaded lazily by
GestureService): video_bench.py's 29-frame 720p clip to a Holistic-recipe bundle.

Memory rows (RSS and PSS, MiB): after the imports, after each model's bundle loads, after
the first clip (peak and what stays), and the peak of later clips; the clip's decoding
alone (PyAV's libraries and decoder). CPU rows (process CPU per frame, median of the
requests after the first): decoding and colour conversion (PyAV), and each model's crop,
invocation and post-processing, the page faults per frame beside them.

    .venv/bin/python tools/measure/holistic_profile.py --bundle DIR [--requests 5] [--out build/holistic-profile.json]
DIR: a gesture bundle with a Holistic recipe (the converted lsvtest: tools/measure/lsvtest_agreement.py).
The clip is made first in a separate process (its encoder's memory is not counted).
"""

from __future__ import annotations

import argparse
import collections
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

from tools import print_report

FRAMES = 29


def _status(key: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(key + ":"))


def _pss() -> float:
    with open("/proc/self/smaps_rollup") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("Pss:"))


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # VmHWM starts again from VmRSS
        f.write("5")


def _row(what: str) -> dict:
    return {"stage": what, "rss_mb": round(_status("VmRSS"), 1), "peak_rss_mb": round(_status("VmHWM"), 1), "pss_mb": round(_pss(), 1)}


def profile(clip: Path, bundle: Path, requests: int) -> dict:
    from shared.settings import get_settings
    from shared.state.memory import tune_malloc

    settings = get_settings()
    tune_malloc(settings.malloc_arenas, settings.malloc_mmap_threshold_kb * 1024)
    memory = [_row("python started")]
    video = clip.read_bytes()
    from dataclasses import replace

    import numpy as np

    from shared.gesture.options import GestureOptions
    from shared.gesture.service import GestureService
    from shared.runtime import bundle as bundles

    memory.append(_row("numpy, the service imported"))
    service = GestureService.load(replace(GestureOptions.from_settings(settings), models=(str(bundle),)))
    memory.append(_row(f"gesture bundle {bundle.name} loaded"))
    import shared.holistic.tracker  # noqa: F401  (the pipeline's modules, before its models)

    memory.append(_row("Holistic's modules imported"))
    load = bundles._load

    def logged(source, options, task):
        made = load(source, options, task)
        memory.append(_row(f"+ {made.name} ({made.task}) loaded"))
        return made

    bundles._load = logged
    assert service.holistic is not None
    holistic = service.holistic.get()
    bundles._load = load
    from shared.video.clip import stream_clip

    _reset_peak()
    for _ in stream_clip(video, "video", service.options.video, FRAMES)[1]:
        pass
    memory.append(_row("the clip decoded once (PyAV imported)"))
    _reset_peak()
    service.predict({"video": video})
    memory.append(_row("first clip through Holistic (peak_rss_mb: its peak)"))
    cpu, faults = _stages(holistic)
    totals, peaks = [], []
    for _ in range(requests):
        cpu.clear()
        faults.clear()
        _reset_peak()
        started, flt = time.process_time(), _faults()
        service.predict({"video": video})
        totals.append(((time.process_time() - started) * 1000 / FRAMES, (_faults() - flt) / FRAMES, dict(cpu), dict(faults)))
        peaks.append(_status("VmHWM"))
    memory.append(_row(f"after {requests} more clips") | {"peak_rss_mb": round(max(peaks), 1)})
    median = sorted(totals, key=lambda t: t[0])[len(totals) // 2]
    stages = {
        k: {"cpu_ms_per_frame": round(v * 1000 / FRAMES, 2), "faults_per_frame": round(median[3][k] / FRAMES, 1)}
        for k, v in median[2].items()
    }
    return {
        "memory": memory,
        "cpu_ms_per_frame": round(median[0], 1),
        "cpu_ms_per_frame_all": [round(t[0], 1) for t in totals],
        "page_faults_per_frame": round(median[1], 1),
        "stages": dict(sorted(stages.items())),
        "numpy": np.__version__,
    }


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _stages(holistic) -> tuple[collections.Counter, collections.Counter]:
    """Wrap each stage so its CPU and page faults add up per name (nested stages count in both)."""
    import shared.gesture.person as person
    import shared.hands.landmarks as hand_landmarks
    import shared.holistic.pose as pose
    import shared.holistic.recrop as recrop

    cpu: collections.Counter = collections.Counter()
    faults: collections.Counter = collections.Counter()

    def wrap(owner, attr: str, name: str) -> None:
        inner = getattr(owner, attr)

        def timed(*args, **kwargs):
            started, flt = time.process_time(), _faults()
            try:
                return inner(*args, **kwargs)
            finally:
                cpu[name] += time.process_time() - started
                faults[name] += _faults() - flt

        setattr(owner, attr, timed)

    parts = {"pose detector": holistic.detector, "pose landmarks": holistic.pose, "hand re-crop": holistic.recrop}
    parts |= {"hand landmarks": holistic.hands}
    if holistic.face is not None:
        parts |= {"face detector": holistic.face.detector, "face mesh": holistic.face.mesh.landmarker}
    for name, part in parts.items():
        wrap(part.bundle.model, "run", f"{name}: model")
    wrap(holistic.detector, "detect", "pose detector")
    wrap(holistic.pose, "landmarks", "pose landmarks")
    wrap(pose, "warp_point", "pose landmarks: crop")
    wrap(pose, "refine_from_heatmap", "pose landmarks: heatmap refinement")
    wrap(holistic.recrop, "rect", "hand re-crop")
    wrap(recrop, "warp", "hand re-crop: crop")
    wrap(holistic.hands, "landmarks", "hand landmarks")
    wrap(hand_landmarks, "warp", "hand landmarks: crop")
    if holistic.face is not None:
        wrap(holistic.face, "face", "face (detector and mesh)")
    stream = person.stream_clip

    def decoding(*args, **kwargs):
        cost, frames = stream(*args, **kwargs)

        def each():
            while True:
                started, flt = time.process_time(), _faults()
                frame = next(frames, None)
                cpu["decode and colour conversion (PyAV)"] += time.process_time() - started
                faults["decode and colour conversion (PyAV)"] += _faults() - flt
                if frame is None:
                    return
                yield frame

        return cost, each()

    person.stream_clip = decoding
    return cpu, faults


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--clip", type=Path, help=argparse.SUPPRESS)  # the child: profile this clip
    args = parser.parse_args(argv)
    if args.clip:
        print(json.dumps(profile(args.clip, args.bundle.resolve(), args.requests)))
        return 0
    from tools.measure.video_bench import clip_720p

    with tempfile.TemporaryDirectory(prefix="holistic-profile-") as tmp:
        clip = Path(tmp) / "clip.mp4"
        clip.write_bytes(clip_720p())
        child = [sys.executable, __file__, "--bundle", str(args.bundle), "--requests", str(args.requests), "--clip", str(clip)]
        done = subprocess.run(child, check=True, capture_output=True, text=True, timeout=1800)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
