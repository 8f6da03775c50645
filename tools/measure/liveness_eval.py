#!/usr/bin/env python3
"""Liveness error rates on bursts assembled from real photos (tools/measure/liveness_bursts.py).

No real recordings of the challenge actions were found, so (and every number says so):
- genuine: for each person of lfw-dev with enough photos, a random challenge acted out by
  their own photos (frontal ones between actions; a turned, a raised or a closed-eye photo
  per action; a mirrored photo stands in for a turn to the other side when needed);
- replay: that burst sent against another random challenge (a recording made for another challenge);
- still: one frontal photo held up as a print, moved, scaled, rolled and turned in
  perspective by up to 20 degrees each way, against a random challenge.
Each burst goes through shared/liveness/burst.check_burst as a request's would.

    .venv/bin/python tools/measure/liveness_eval.py [--photos ../shared/data/faces/lfw-dev] \
        [--people 120] [--out build/liveness-eval.json]
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np

from tools import ROOT
from tools.measure import liveness_bursts as bursts

# ---- settings -------------------------------------------------------------------------
TURN_DEG = 20.0  # a photo counts as turned this far from the person's frontal photo (the check needs 15)
UP_DEG = 14.0  # looking up this far (the check needs 10)
CLOSED = 0.55  # eyes closed: aspect ratio under this fraction of the frontal photo's
FRONTAL_DEG = 6.0
FRAMES_STILL = 12
CHALLENGES = [c for n in (2, 3) for c in itertools.permutations(("turn_left", "turn_right", "look_up", "blink"), n)]


def load() -> tuple:
    from shared.face.options import VerifyOptions
    from shared.face.verify import FaceVerifier
    from shared.facemesh.mesh import FaceMesh, FaceMeshOptions
    from shared.liveness.options import LivenessOptions

    models = ROOT / "models"
    verifier = FaceVerifier.load(
        VerifyOptions(
            str(models / "face-detector-short"), str(models / "face-embedder-sface"), fallback_detector=str(models / "face-detector-full")
        )
    )
    return verifier, FaceMesh.load(FaceMeshOptions(str(models / "face-landmarks"))), LivenessOptions(secret=b"x" * 32)


def photo_measure(verifier, mesh, data: bytes):
    from shared.face.verify import Stopwatch
    from shared.liveness.measures import measure

    try:
        photo, faces, _, _ = verifier.find_faces(data, "photo", Stopwatch())
    except Exception:  # no face: not usable for assembling
        return None
    face = faces[0]
    found = mesh.find(photo.pixels, mesh.roi_from_detection(face.box, np.array(face.keypoints)), irises=False)
    return None if found is None else measure(found.points)


def kinds(verifier, mesh, paths: list[Path]) -> dict | None:
    """A person's photos sorted into frontal and action photos (bytes), or None when they have no frontal one."""
    measured = [(p.read_bytes(), photo_measure(verifier, mesh, p.read_bytes())) for p in paths]
    measured = [(d, m) for d, m in measured if m is not None]
    fronts = sorted([(abs(m.yaw), d, m) for d, m in measured if abs(m.yaw) < FRONTAL_DEG and m.ear > 0.2], key=lambda t: t[0])
    if not fronts:
        return None
    ref = fronts[0][2]
    out: dict = {"frontal": [d for _, d, _ in fronts[:2]], "actions": {}, "mirrored": []}
    for data, m in measured:
        dyaw, dpitch = m.yaw - ref.yaw, m.pitch - ref.pitch
        if dyaw >= TURN_DEG:
            out["actions"].setdefault("turn_left", data)
        elif dyaw <= -TURN_DEG:
            out["actions"].setdefault("turn_right", data)
        elif dpitch >= UP_DEG and abs(dyaw) < 10:
            out["actions"].setdefault("look_up", data)
        elif m.ear < CLOSED * ref.ear and abs(dyaw) < 10:
            out["actions"].setdefault("blink", data)
    for side, other, sign in (("turn_left", "turn_right", -1), ("turn_right", "turn_left", 1)):
        if side in out["actions"] and other not in out["actions"]:
            flipped = bursts.mirrored(out["actions"][side])
            m = photo_measure(verifier, mesh, flipped)
            if m is not None and sign * (m.yaw - ref.yaw) >= TURN_DEG:  # the mirror turns as far from this frontal photo
                out["actions"][other] = flipped
                out["mirrored"].append(other)
    return out


def rates(results: list[dict], passed_is_good: bool) -> dict:
    ok = sum(r["passed"] == passed_is_good for r in results)
    reasons = collections.Counter(r["reason"].split(":")[0] for r in results)
    return {"bursts": len(results), "correct": ok, "correct_pct": round(100 * ok / max(len(results), 1), 1), "reasons": dict(reasons)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared/data/faces/lfw-dev")
    parser.add_argument("--people", type=int, default=120, help="people with at least 3 photos, in name order")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--alternate-frontal", action="store_true", help="frontal frames of the person's frontal photos in turn (harder)")
    parser.add_argument("--out", type=Path, default=ROOT / "build/liveness-eval.json")
    args = parser.parse_args(argv)
    from shared.liveness.burst import check_burst

    verifier, mesh, options = load()
    rng = random.Random(args.seed)
    people = [d for d in sorted(args.photos.iterdir()) if d.is_dir() and len(list(d.glob("*.jpg"))) >= 3][: args.people]
    genuine, replay, still, skipped = [], [], [], 0
    for n, person in enumerate(people):
        sorted_kinds = kinds(verifier, mesh, sorted(person.glob("*.jpg")))
        if sorted_kinds is None:
            skipped += 1
            continue
        front = sorted_kinds["frontal"][0]
        challenge = rng.choice(CHALLENGES)
        frames = bursts.still_attack(front, FRAMES_STILL, seed=n)
        verdict = check_burst(verifier, mesh, frames, challenge, options).liveness
        still.append({"person": person.name, "challenge": challenge, "passed": verdict.passed, "reason": verdict.reason})
        feasible = [c for c in CHALLENGES if all(a in sorted_kinds["actions"] for a in c)]
        if not feasible:
            continue
        challenge = rng.choice(feasible)
        frames = bursts.assembled(sorted_kinds["frontal"], sorted_kinds["actions"], challenge, seed=n, alternate=args.alternate_frontal)
        verdict = check_burst(verifier, mesh, frames, challenge, options).liveness
        mirror = any(a in sorted_kinds["mirrored"] for a in challenge)
        genuine.append(
            {"person": person.name, "challenge": challenge, "mirrored": mirror, "passed": verdict.passed, "reason": verdict.reason}
        )
        other = rng.choice([c for c in CHALLENGES if c != challenge])
        verdict = check_burst(verifier, mesh, frames, other, options).liveness
        replay.append({"person": person.name, "made_for": challenge, "sent_for": other, "passed": verdict.passed, "reason": verdict.reason})
    report = {
        "alternate_frontal": args.alternate_frontal,
        "people": len(people),
        "people_without_a_frontal_photo": skipped,
        "genuine_assembled": rates(genuine, True),
        "genuine_assembled_without_mirrored": rates([g for g in genuine if not g["mirrored"]], True),
        "replayed_for_another_challenge": rates(replay, False),
        "still_photo_attack": rates(still, False),
        "genuine_failures": [g for g in genuine if not g["passed"]],
        "attacks_passed": [r for r in replay + still if r["passed"]],
    }
    text = json.dumps(report, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
