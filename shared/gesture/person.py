"""Pixels -> a person (Holistic) -> the features of a Holistic recipe, and clips -> frames.

`clip_frames` samples a clip (shared/video/: priced from its container first) to the
bundle's frame count; `photo_frames` (gesture/pixels.py) decodes photos one at a time.
`track_person` runs Holistic through the frames (tracking from frame to frame);
`track_both` runs the hand tracker and Holistic side by side over the same frames, one
frame in memory at a time (a hand bundle asked for `return_landmarks: "holistic"`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.errors import Unprocessable
from shared.gesture.classifier import Prediction
from shared.gesture.pixels import Decoded, PhotoHands, hand_dict, track_hands
from shared.gesture.recipes import holistic_features, holistic_parts
from shared.hands.finder import HandFinder
from shared.holistic.tracker import Holistic, HolisticFrame
from shared.video.clip import stream_clip, working_size
from shared.video.limits import VideoLimits

LANDMARK_MODES = ("hands", "holistic")


def landmarks_mode(value: Any) -> str | None:
    """`return_landmarks`: true (the hands), "holistic" (pose, face and hands) or false, as
    JSON values (a form's field is JSON text: true, false or "holistic" with its quotes);
    nothing coerced. None: no landmarks in the answer."""
    if value is True:
        return "hands"
    if value is False:
        return None
    if value == "holistic":
        return "holistic"
    from shared.errors import BadRequest

    raise BadRequest(f'return_landmarks must be true, false or "holistic", got {str(value)[:40]!r}')


def clip_frames(data: bytes, limits: VideoLimits, count: int) -> Decoded:
    """`count` frames of a clip, evenly spaced in time (the bundle's frame count), decoded as
    the tracker takes them (the clip is priced before this returns)."""
    clock = {"decode": 0.0}
    cost, frames = stream_clip(data, "video", limits, count)
    size = working_size(cost.width, cost.height, limits.working_side)
    scale = max(cost.width, cost.height) / max(size)
    sizes = [((cost.width, cost.height), scale)] * count

    def timed() -> Iterator[np.ndarray]:
        while True:
            started = time.perf_counter()
            frame = next(frames, None)
            clock["decode"] += time.perf_counter() - started
            if frame is None:
                return
            yield frame

    return Decoded(timed(), sizes, clock, "video")


@dataclass(frozen=True)
class PersonFrames:
    """Per frame the person Holistic found. Attributes: frames; time_ms ({"decode", "holistic"})."""

    frames: list[HolisticFrame]
    time_ms: dict

    @property
    def without_person(self) -> list[int]:
        return [i for i, f in enumerate(self.frames) if f.pose is None]

    def features(self, recipe: str) -> np.ndarray:
        """(N, F) features of a Holistic recipe (gesture/recipes.py)."""
        return np.stack([holistic_features(holistic_parts(f), recipe) for f in self.frames])

    def to_wire(self) -> dict[str, list]:
        """Per frame: pose 33 x [x, y, z, visibility], face 468 x [x, y, z] (null when not
        found), hands as `hands` shows them with their side (the subject's left or right)."""
        pose, face, hands = [], [], []
        for f in self.frames:
            parts = holistic_parts(f)
            pose.append(_rounded(parts["pose"]))
            face.append(_rounded(parts["face"]))
            found = [(s, h) for s, h in f.hands.items() if h is not None]
            hands.append([{"side": s, **hand_dict(h, f.size, (f.size, 1.0))} for s, h in found])
        return {"pose": pose, "face": face, "hands": hands}


def _rounded(points: np.ndarray | None) -> list | None:
    return None if points is None else [[round(float(v), 6) for v in p] for p in points]


def track_person(holistic: Holistic, source: Decoded) -> PersonFrames:
    """Holistic through the frames; 422 `no_person` when no frame holds a pose."""
    started = time.perf_counter()
    frames = list(holistic.track(source.frames))
    total = time.perf_counter() - started
    decode = source.clock["decode"]
    found = PersonFrames(frames, {"decode": round(decode * 1000, 2), "holistic": round((total - decode) * 1000, 2)})
    if len(found.without_person) == len(frames):
        where = "image" if source.field == "image" else f"any of the {len(frames)} frames"
        raise Unprocessable(f"no person (pose) found in {where}", code="no_person")
    return found


def track_both(finder: HandFinder, holistic: Holistic, source: Decoded, max_hands: int) -> tuple[PhotoHands, PersonFrames]:
    """The hand tracker and Holistic over the same frames, in step (one frame held at a time)."""
    for_hands, for_person = itertools.tee(source.frames, 2)
    people: list[HolisticFrame] = []
    person_iter = holistic.track(for_person)

    clock = {"holistic": 0.0}

    def frames_for_hands() -> Iterator[np.ndarray]:
        for frame in for_hands:
            yield frame
            started = time.perf_counter()
            people.append(next(person_iter))
            clock["holistic"] += time.perf_counter() - started

    hands = track_hands(finder, Decoded(frames_for_hands(), source.sizes, source.clock, source.field), max_hands)
    person_ms = round(clock["holistic"] * 1000, 2)
    hands.time_ms["hands"] = round(hands.time_ms["hands"] - person_ms, 2)
    return hands, PersonFrames(people, {"holistic": person_ms})


@dataclass(frozen=True)
class PhotoPrediction:
    """A prediction from photos. Attributes: prediction; hands (the frames' hands, found
    by the hand models); return_landmarks (whether the answer lists them); missing
    (how the bundle's missing-value policy filled frames without a hand)."""

    prediction: Prediction
    hands: PhotoHands
    return_landmarks: bool
    missing: str
    person: PersonFrames | None = None  # return_landmarks "holistic": pose and face beside the hands

    def to_dict(self) -> dict[str, Any]:
        out = self.prediction.to_dict()
        out["frames_without_hand"] = self.hands.without_hand
        out["missing_policy"] = self.missing
        if self.return_landmarks:
            out["hands"] = self.hands.to_wire()
        extra = {}
        if self.person is not None:
            out |= {k: v for k, v in self.person.to_wire().items() if k != "hands"}
            extra = self.person.time_ms
        out["time_ms"] = {**self.hands.time_ms, **extra, **out["time_ms"]}
        out["time_ms"]["total"] = round(sum(self.hands.time_ms.values()) + sum(extra.values()) + out["time_ms"]["total"], 3)
        return out


@dataclass(frozen=True)
class PersonPrediction:
    """A prediction from a Holistic recipe. Attributes: prediction; person (per frame,
    from Holistic); return_landmarks (pose, face and hands in the answer)."""

    prediction: Prediction
    person: PersonFrames
    return_landmarks: bool

    def to_dict(self) -> dict[str, Any]:
        out = self.prediction.to_dict()
        out["frames_without_person"] = self.person.without_person
        if self.return_landmarks:
            out |= self.person.to_wire()
        out["time_ms"] = {**self.person.time_ms, **out["time_ms"]}
        out["time_ms"]["total"] = round(sum(self.person.time_ms.values()) + out["time_ms"]["total"], 3)
        return out
