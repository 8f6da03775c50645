#!/usr/bin/env python3
"""What tracking saves: a sequence of frames with and without MediaPipe-style tracking.

The frames are a real photo (tests/data/hands/open.jpg, or --photo) seen through a window
that drifts and turns a little from frame to frame, as a hand held before a camera does.
With tracking (HandFinder.track) each frame's hand rect comes from the previous landmarks
and the palm detector runs only when a hand is lost; without it, every frame runs the palm
detector (HandFinder.find). Reported: palm detector runs, CPU per frame (process time of
the hand stages; decoding excluded), and how far the two ways' landmarks are apart.

    python tools/measure/hands_tracking.py [--frames 60] [--photo PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np
from PIL import Image

from shared.hands.finder import HandFinder, HandOptions
from shared.settings import MODELS_DIR
from tools import testdata


def drifting_frames(photo: Path, count: int, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """`count` frames of `size` cut from the photo by a window that drifts and turns."""
    image = Image.open(photo).convert("RGB")
    w, h = image.size
    frames = []
    for i in range(count):
        t = i / max(count - 1, 1)
        turned = image.rotate(10 * np.sin(2 * np.pi * t), resample=Image.Resampling.BILINEAR, center=(w / 2, h / 2))
        dx, dy = 0.08 * w * np.sin(2 * np.pi * t), 0.05 * h * np.cos(2 * np.pi * t)
        box = (w * 0.1 + dx, h * 0.1 + dy, w * 0.9 + dx, h * 0.9 + dy)
        frames.append(np.asarray(turned.crop(tuple(round(v) for v in box)).resize(size, Image.Resampling.BILINEAR)))
    return frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--photo", type=Path, default=testdata.hand_photos() / "open.jpg")
    args = parser.parse_args(argv)
    finder = HandFinder.load(HandOptions(str(MODELS_DIR / "hand-detector"), str(MODELS_DIR / "hand-landmarks")))
    frames = drifting_frames(args.photo, args.frames)
    finder.find(frames[0])  # warm both interpreters
    started = time.process_time()
    tracked = list(finder.track(frames))
    tracked_ms = (time.process_time() - started) * 1000 / len(frames)
    started = time.process_time()
    detected = [finder.find(f) for f in frames]
    detected_ms = (time.process_time() - started) * 1000 / len(frames)
    gaps = []
    for a, b in zip(tracked, detected, strict=True):
        if a.hands and b:
            p, q = a.hands[0].points[:, :2], b[0].points[:, :2]
            gaps.append(float(np.linalg.norm(p - q, axis=1).mean() / np.hypot(*np.ptp(q, axis=0)) * 100))
    report = {
        "frames": len(frames),
        "tracking": {"palm_detector_runs": sum(f.palm_detected for f in tracked), "frames_with_hand": sum(bool(f.hands) for f in tracked)},
        "palm_every_frame": {"palm_detector_runs": len(frames), "frames_with_hand": sum(bool(h) for h in detected)},
        "cpu_ms_per_frame": {"tracking": round(tracked_ms, 2), "palm_every_frame": round(detected_ms, 2)},
        "saving_pct": round(100 * (1 - tracked_ms / detected_ms), 1),
        "landmark_gap_pct_of_diagonal": {"mean": round(float(np.mean(gaps)), 3), "max": round(float(np.max(gaps)), 3)} if gaps else None,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
