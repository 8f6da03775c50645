"""Did a burst perform its challenge? Pure logic over the frames' measures (measures.py).

The first two frames set the baseline (median yaw and pitch); the eyes' open level is the
burst's 75th percentile eye aspect ratio. A frame turned `yaw_deg` or more from the
baseline is in a turn, one pitched `pitch_deg` or more up is looking up; consecutive such
frames make one head event. A blink is a dip to (1 - blink_drop) of the open level followed
by a recovery above (1 - blink_drop / 2) of it.

Passed when the head events are exactly the challenge's head actions in its order (an
unrequested turn refuses: a recording of every action cannot pass every challenge), each
requested blink falls between its neighbours in the challenge, and each head event's
landmarks did not move as a flat picture would (measures.planar_residual; a lower bound for
looking up, which moves the landmarks less out of plane than a turn).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shared.liveness.measures import FrameMeasure, planar_residual
from shared.liveness.options import LivenessOptions

BASELINE_FRAMES = 2
HEAD_ACTIONS = ("turn_left", "turn_right", "look_up")


@dataclass(frozen=True)
class ActionDone:
    """Attributes: action; frame (index in the burst where it peaked); measure (what was
    measured there: degrees from the baseline, or the eye aspect ratio's dip)."""

    action: str
    frame: int
    measure: dict

    def to_dict(self) -> dict:
        return {"action": self.action, "frame": self.frame, "measure": self.measure}


@dataclass(frozen=True)
class Liveness:
    """The liveness verdict. Attributes: passed; reason (`ok` or what failed, in words
    after a stable code: `action_missing: blink`); actions (those found, in order);
    best_frame (the most frontal frame with open eyes, the one matched against img2)."""

    passed: bool
    reason: str
    actions: list[ActionDone] = field(default_factory=list)
    best_frame: int | None = None

    def to_dict(self) -> dict:
        return {"passed": self.passed, "reason": self.reason, "actions": [a.to_dict() for a in self.actions], "best_frame": self.best_frame}


def head_label(yaw: float, pitch: float, options: LivenessOptions) -> str:
    if yaw >= options.yaw_deg:
        return "turn_left"
    if yaw <= -options.yaw_deg:
        return "turn_right"
    return "look_up" if pitch >= options.pitch_deg else ""


def head_events(frames: list[FrameMeasure], options: LivenessOptions) -> list[ActionDone]:
    """Runs of frames in one head action, each as its peak frame."""
    base_yaw = float(np.median([f.yaw for f in frames[:BASELINE_FRAMES]]))
    base_pitch = float(np.median([f.pitch for f in frames[:BASELINE_FRAMES]]))
    events: list[ActionDone] = []
    previous = ""
    for i, f in enumerate(frames):
        yaw, pitch = f.yaw - base_yaw, f.pitch - base_pitch
        label = head_label(yaw, pitch, options)
        strength = abs(yaw) if label.startswith("turn") else pitch
        if label and label != previous:
            events.append(ActionDone(label, i, {"yaw_deg": round(yaw, 1), "pitch_deg": round(pitch, 1)}))
        elif label and strength > abs(events[-1].measure["pitch_deg" if label == "look_up" else "yaw_deg"]):
            events[-1] = ActionDone(label, i, {"yaw_deg": round(yaw, 1), "pitch_deg": round(pitch, 1)})
        previous = label
    return events


def blink_events(frames: list[FrameMeasure], options: LivenessOptions) -> list[ActionDone]:
    """Dips of the eye aspect ratio that recover, each at its lowest frame."""
    ears = np.array([f.ear for f in frames])
    open_level = float(np.percentile(ears, 75))
    low, back = open_level * (1 - options.blink_drop), open_level * (1 - options.blink_drop / 2)
    events, i = [], 0
    while i < len(ears):
        if ears[i] <= low:
            j = i
            while j < len(ears) and ears[j] < back:
                j += 1
            if j < len(ears):  # recovered: a blink, not eyes closed to the end
                k = i + int(np.argmin(ears[i:j]))
                events.append(ActionDone("blink", k, {"ear": round(float(ears[k]), 3), "open_ear": round(open_level, 3)}))
            i = j
        i += 1
    return events


def best_frame(frames: list[FrameMeasure]) -> int:
    """The most frontal frame (smallest |yaw| + |pitch - median pitch|) among those with open eyes."""
    ears = np.array([f.ear for f in frames])
    pitch = float(np.median([f.pitch for f in frames]))
    open_eyes = ears >= np.percentile(ears, 50) * 0.9
    score = [abs(f.yaw) + abs(f.pitch - pitch) + (0 if open_eyes[i] else 1e3) for i, f in enumerate(frames)]
    return int(np.argmin(score))


def judge(actions: tuple[str, ...], frames: list[FrameMeasure], options: LivenessOptions) -> Liveness:
    """Whether `frames` (one face's measures, in order) performed `actions` in order."""
    best = best_frame(frames)
    heads = head_events(frames, options)
    wanted = [a for a in actions if a in HEAD_ACTIONS]
    done = [e.action for e in heads]
    if done != wanted:
        missing = [a for a in wanted if a not in done]
        extra = [a for a in done if a not in wanted]
        if missing:
            return Liveness(False, f"action_missing: {missing[0]} was not seen", heads, best)
        reason = f"unexpected_action: {extra[0]} was not asked for" if extra else f"out_of_order: seen {done}, asked {wanted}"
        return Liveness(False, reason, heads, best)
    baseline = frames[0]
    for event in heads:
        residual = planar_residual(baseline.points, frames[event.frame].points)
        event.measure["planar_residual"] = round(residual, 4)
        if residual < (options.max_planar_residual_up if event.action == "look_up" else options.max_planar_residual):
            return Liveness(False, f"flat_motion: {event.action} moved like a flat picture", heads, best)
    blinks = blink_events(frames, options)
    found: list[ActionDone] = []
    next_head, after = 0, -1
    for action in actions:
        if action != "blink":
            found.append(heads[next_head])
            after = heads[next_head].frame
            next_head += 1
            continue
        before = heads[next_head].frame if next_head < len(heads) else len(frames)
        blink = next((b for b in blinks if after < b.frame < before), None)
        if blink is None:
            where = " between the actions around it" if blinks else ""
            return Liveness(False, f"action_missing: blink was not seen{where}", found, best)
        found.append(blink)
        after = blink.frame
    return Liveness(True, "ok", found, best)
