#!/usr/bin/env python3
"""The burst's one-person check (shared/liveness/burst.same_person), measured on lfw-dev photos.

Each photo of every person of lfw-dev with 2+ photos is read once as a burst's frame is (face,
SFace embedding, face mesh measures; cached in build/) and the check is run on bursts made of
those readings, by its own function: the frames' distances to the best frame and to the frame
before, and their yaw and pitch. The rule of 0.5.0 (`today`: every frame within the verifier's
threshold of the best frame's) and the chain rule (`chain`, the shipped one) side by side; and `strict` (not shipped), the chain rule
with every step between frames within CHAIN_STEP.

- genuine: each person's frontal photo (|yaw| < 6, eyes open) with each of their photos turned
  25+ degrees from it (or raised 14+ with under 10 of yaw between them) as one burst: two
  frontal frames, two action frames, two frontal frames; and `bridged`: the same with the
  person's photo turned halfway (8-20 degrees, the same side, chosen by pose alone) before and
  after, as a head passes through on its way. Different photos of one person are different
  occasions: the steps between them are jumps, not a head moving (a real burst's are
  0.03-0.33 apart: docs/liveness.md), so these say what the rule does on far poses, not how
  often a real burst needs the chain.
- spliced: every ordered pair of different people (A, B): A's frontal photo and B's photos in
  the bursts an attacker would make (SPLICES); each pair is counted in the half both people
  belong to (`tune`, `held_out`) or `mixed`.

    .venv/bin/python tools/measure/liveness_identity.py [--photos ../shared/data/faces/lfw-dev] \
        [--out build/liveness-identity.json]
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np

from tools import ROOT, print_report
from tools.measure.liveness_eval import split_of

FRONTAL_DEG, TURN_DEG, UP_DEG, MID = 6.0, 25.0, 14.0, (8.0, 20.0)
SPLICE_TURN_DEG = 20.0  # a B photo counts as an action in a splice (liveness_eval.TURN_DEG)
# Bursts an attacker would splice from two people: f = frontal, a = action (turned or raised),
# m = turned halfway (the same side as a); A's or B's.
SPLICES = {
    "frontal_A_action_B": ["Af", "Af", "Ba", "Ba", "Af", "Af"],
    "frontal_A_action_B_bridged": ["Af", "Af", "Bm", "Ba", "Ba", "Bm", "Af", "Af"],
    "frontal_A_B_inside": ["Af", "Af", "Bf", "Bm", "Ba", "Bm", "Bf", "Af", "Af"],
    "handover_in_the_action": ["Af", "Af", "Aa", "Ba", "Ba"],
    "alternating_frontal": ["Af", "Bf", "Af", "Bf", "Af", "Bf"],
    "alternating_in_the_action": ["Af", "Af", "Aa", "Ba", "Aa", "Ba", "Af", "Af"],
}


def readings(photos: Path, cache: Path) -> dict:
    """names, rows (yaw, pitch, ear) and unit embeddings of every readable photo; cached."""
    if cache.exists():
        z = np.load(cache)
        return {k: z[k] for k in z.files}
    from tools.measure.liveness_eval import load, photo_reading

    verifier, mesh, _ = load()
    names, rows, embeddings = [], [], []
    for person in sorted(d for d in photos.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) >= 2):
        for path in sorted(person.glob("*.jpg")):
            read = photo_reading(verifier, mesh, path.read_bytes())
            if read is not None:
                names.append(f"{person.name}/{path.name}")
                rows.append((read[0].yaw, read[0].pitch, read[0].ear))
                embeddings.append(np.asarray(read[1], np.float64).ravel())
    e = np.array(embeddings)
    out = {"names": np.array(names), "rows": np.array(rows), "embeddings": e / np.linalg.norm(e, axis=1, keepdims=True)}
    out["threshold"] = np.array(verifier.threshold)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def photos_of(data: dict) -> dict[str, dict]:
    """Per person with a frontal photo: f (that photo), a (action photos: (index, kind)), m (halfway ones)."""
    rows, by_person = data["rows"], collections.defaultdict(list)
    for i, name in enumerate(data["names"]):
        by_person[str(name).split("/")[0]].append(i)
    out = {}
    for person, index in by_person.items():
        fronts = sorted((i for i in index if abs(rows[i, 0]) < FRONTAL_DEG and rows[i, 2] > 0.2), key=lambda i: abs(rows[i, 0]))
        if not fronts:
            continue
        f = fronts[0]
        dyaw = {i: rows[i, 0] - rows[f, 0] for i in index}
        turned = [(i, "turn") for i in index if abs(dyaw[i]) >= TURN_DEG]
        raised = [(i, "look_up") for i in index if rows[i, 1] - rows[f, 1] >= UP_DEG and abs(dyaw[i]) < 10]
        splice = [i for i in index if abs(dyaw[i]) >= SPLICE_TURN_DEG]
        splice_a = max(splice, key=lambda i: abs(dyaw[i])) if splice else None
        mids = [i for i in index if MID[0] <= abs(dyaw[i]) < MID[1]]
        out[person] = {"f": f, "a": turned + raised, "splice_a": splice_a, "m": mids, "dyaw": dyaw}
    return out


def halfway(person: dict, action: int) -> int | None:
    """The person's photo turned nearest half as far as `action`, the same side (pose alone)."""
    side = np.sign(person["dyaw"][action])
    mids = [i for i in person["m"] if np.sign(person["dyaw"][i]) == side]
    return min(mids, key=lambda i: abs(person["dyaw"][i] - person["dyaw"][action] / 2), default=None)


class Rules:
    def __init__(self, data: dict) -> None:
        from shared.liveness.options import LivenessOptions

        self.e, self.rows, self.threshold = data["embeddings"], data["rows"], float(data["threshold"])
        self.options = LivenessOptions()

    def check(self, frames: list[int]) -> dict:
        """The rules' answers on a burst of these photos (in order, one place in the frame)."""
        from shared.liveness.measures import FrameMeasure

        measures = [FrameMeasure(*self.rows[i], points=np.zeros((0, 2)), size=1.0) for i in frames]
        answer = one_person(measures, self.e[frames], self.threshold, self.options)
        return {k: answer[k] for k in ("today", "chain", "strict", "reason")}


def one_person(measures: list, e: np.ndarray, threshold: float, options) -> dict:
    """A burst's frames (their measures and embeddings, in order) under the three rules: today's
    (every frame within the threshold of the best), the shipped chain (burst.same_person) and the
    strict one (not shipped: every step within CHAIN_STEP); with the distances behind them."""
    from shared.liveness.burst import CHAIN_STEP, same_person
    from shared.liveness.judge import best_frame

    best = best_frame(measures)
    to_best = [float(1 - v @ e[best]) for v in e]
    steps = [float(1 - a @ b) for a, b in zip(e[1:], e[:-1], strict=True)]
    ref = measures[best]
    frontal = [
        d
        for m, d in zip(measures, to_best, strict=True)
        if abs(m.yaw - ref.yaw) < options.yaw_deg and abs(m.pitch - ref.pitch) < options.pitch_deg
    ]
    reason = same_person(to_best, steps, measures, best, threshold, options)
    return {
        "today": max(to_best) <= threshold,
        "chain": not reason,
        "strict": not reason and max(steps) <= CHAIN_STEP,  # not shipped (docs/liveness.md)
        "reason": kind_of(reason),
        "max_step": max(steps),
        "max_frontal_from_best": max(frontal),
        "max_from_best": max(to_best),
    }


def kind_of(reason: str) -> str:
    if not reason:
        return "passed"
    return "different_faces (action frame, no chain)" if "no chain" in reason else "different_faces (near-frontal frame)"


def tally(results: list[dict]) -> dict:
    return {
        "bursts": len(results),
        "passed_today": sum(r["today"] for r in results),
        "passed_chain": sum(r["chain"] for r in results),
        "passed_chain_not_today": sum(r["chain"] and not r["today"] for r in results),
        "passed_strict": sum(r["strict"] for r in results),
        "reasons_chain": dict(collections.Counter(r["reason"] for r in results)),
    }


def genuine(rules: Rules, people: dict[str, dict], half: str) -> dict:
    plain: dict[str, list] = {"turn": [], "look_up": []}
    far: dict[str, list] = {"turn": [], "look_up": []}
    bridged, distances = [], []
    for name, p in people.items():
        if split_of(name) != half:
            continue
        for i, kind in p["a"]:
            r = rules.check([p["f"], p["f"], i, i, p["f"], p["f"]])
            plain[kind].append(r)
            distance = float(1 - rules.e[p["f"]] @ rules.e[i])
            distances.append(distance)
            if distance > rules.threshold:
                far[kind].append(r)
            m = halfway(p, i) if kind == "turn" else None
            if m is not None:
                bridged.append(rules.check([p["f"], p["f"], m, i, i, m, p["f"], p["f"]]))
    v = np.array(distances)
    return {
        "turned_25_deg": tally(plain["turn"]),
        "raised_14_deg": tally(plain["look_up"]),
        "beyond_threshold_from_frontal": {k: tally(far[k]) for k in far},
        "bridged_turns": tally(bridged),
        "distance_from_frontal": {"count": len(v), "median": round(float(np.median(v)), 3), "max": round(float(v.max()), 3)},
    }


def spliced(rules: Rules, people: dict[str, dict]) -> dict:
    out: dict = {}
    names = sorted(people)
    for splice, pattern in SPLICES.items():
        by_half: dict[str, list] = collections.defaultdict(list)
        passed = []
        for a in names:
            for b in names:
                if a == b:
                    continue
                frames = photos(pattern, people[a], people[b])
                if frames is None:
                    continue
                r = rules.check(frames)
                half = split_of(a) if split_of(a) == split_of(b) else "mixed"
                by_half[half].append(r)
                if r["chain"] or r["today"]:
                    passed.append({"A": a, "B": b, **r})
        out[splice] = {"pattern": " ".join(pattern), **{h: tally(by_half[h]) for h in ("tune", "held_out", "mixed")}, "passed": passed}
    return out


def photos(pattern: list[str], a: dict, b: dict) -> list[int] | None:
    """The photo indices of a splice pattern for people a and b, or None when one lacks a photo."""
    pick: dict[str, int | None] = {"Af": a["f"], "Bf": b["f"], "Aa": a["splice_a"], "Ba": b["splice_a"]}
    pick["Bm"] = halfway(b, b["splice_a"]) if b["splice_a"] is not None else None
    if "Aa" in pattern and (
        a["splice_a"] is None or b["splice_a"] is None or np.sign(a["dyaw"][a["splice_a"]]) != np.sign(b["dyaw"][b["splice_a"]])
    ):
        return None  # a handover inside a turn needs both turned the same way
    frames = [pick[k] for k in pattern]
    return None if any(f is None for f in frames) else [int(f) for f in frames if f is not None]


def strangers(data: dict, half: str, chain_step: float) -> dict:
    """Every pair of photos of two different people of one half: how close they come (the chain's step is chosen below the tune half's)."""
    index = [i for i, n in enumerate(data["names"]) if split_of(str(n).split("/")[0]) == half]
    owner = np.array([str(data["names"][i]).split("/")[0] for i in index])
    e = data["embeddings"][index]
    upper = np.triu_indices(len(index), 1)
    v = (1 - e @ e.T)[upper][(owner[:, None] != owner[None, :])[upper]]
    q = {f"p{p}": round(float(np.percentile(v, p)), 3) for p in (0.01, 0.1, 1)}
    threshold = float(data["threshold"])
    return {
        "pairs": len(v),
        "min": round(float(v.min()), 3),
        **q,
        "within_chain_step": int((v <= chain_step).sum()),
        "within_threshold": int((v <= threshold).sum()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared/data/faces/lfw-dev")
    parser.add_argument("--cache", type=Path, default=ROOT / "build/liveness-identity-readings.npz")
    parser.add_argument("--out", type=Path, default=ROOT / "build/liveness-identity.json")
    args = parser.parse_args(argv)
    from shared.liveness.burst import CHAIN_STEP

    data = readings(args.photos, args.cache)
    rules, people = Rules(data), photos_of(data)
    report = {
        "threshold": rules.threshold,
        "chain_step": CHAIN_STEP,
        "photos": len(data["names"]),
        "people_with_a_frontal_photo": len(people),
        "different_people": {half: strangers(data, half, CHAIN_STEP) for half in ("tune", "held_out")},
        "genuine": {half: genuine(rules, people, half) for half in ("tune", "held_out")},
        "spliced": spliced(rules, people),
    }
    print_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
