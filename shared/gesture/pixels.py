"""Photos -> hands -> the landmark frames a gesture bundle takes.

`find_hands` decodes the photos one at a time (headers priced first, each decode
reserving its estimated peak from the instance's memory budget), finds the hands in each
with `HandFinder.track` (a sequence is tracked from frame to frame as MediaPipe does) and
keeps, per frame, the hands and the working image's size. `PhotoHands.landmarks()` gives
the classifier MediaPipe's normalised image coordinates of the upright photo (EXIF
applied), so the bundles' landmark recipes take them unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.errors import PayloadTooLarge, Unprocessable
from shared.gesture.contract import Missing
from shared.hands.finder import FrameHands, HandFinder
from shared.hands.landmarks import HandLandmarks
from shared.images import DecodeLimits, Photo, decode_photo, inspect_image
from shared.state.memory import MemoryBudget


@dataclass(frozen=True)
class PhotoOptions:
    """Attributes: max_hands (1 or 2, largest-score palms first), return_landmarks."""

    max_hands: int = 1
    return_landmarks: bool = False


@dataclass(frozen=True)
class PhotoHands:
    """Hands per frame. Attributes: frames (per frame: its hands, working image size, whether
    the palm detector ran); photos (per frame: original upright size and working scale);
    time_ms ({"decode", "hands"} summed over frames)."""

    frames: list[FrameHands]
    photos: list[tuple[tuple[int, int], float]]
    time_ms: dict

    @property
    def without_hand(self) -> list[int]:
        return [i for i, f in enumerate(self.frames) if not f.hands]

    @property
    def palm_detections(self) -> int:
        return sum(f.palm_detected for f in self.frames)

    def landmarks(self) -> np.ndarray:
        """(N, 21, 2) normalised x, y of each frame's first hand; NaN rows where none."""
        out = np.full((len(self.frames), 21, 2), np.nan)
        for i, frame in enumerate(self.frames):
            if frame.hands:
                out[i] = frame.hands[0].points[:, :2] / np.asarray(frame.size, dtype=np.float64)
        return out

    def image_size(self) -> tuple[int, int]:
        """(width, height) of the first photo with a hand (original pixels)."""
        first = next((i for i, f in enumerate(self.frames) if f.hands), 0)
        return self.photos[first][0]

    def to_wire(self) -> list[list[dict[str, Any]]]:
        """Per frame, each hand as the answer's `hands` shows it."""
        return [[hand_dict(h, f.size, p) for h in f.hands] for f, p in zip(self.frames, self.photos, strict=True)]


def hand_dict(hand: HandLandmarks, size: tuple[int, int], photo: tuple[tuple[int, int], float]) -> dict[str, Any]:
    """landmarks: 21 x [x, y, z] normalised to the photo (x right, y down; z at x's scale,
    MediaPipe's); box: the landmarks' extent in original photo pixels, clipped."""
    width, height = size
    (orig_w, orig_h), scale = photo
    norm = hand.points / np.array([width, height, width], dtype=np.float64)
    x0, y0 = np.clip(hand.points[:, :2].min(axis=0) * scale, 0, [orig_w, orig_h])
    x1, y1 = np.clip(hand.points[:, :2].max(axis=0) * scale, 0, [orig_w, orig_h])
    return {
        "landmarks": [[round(float(v), 6) for v in point] for point in norm],
        "handedness": hand.handedness,
        "handedness_score": round(hand.handedness_score, 4),
        "presence": round(hand.presence, 4),
        "box": {"x": round(float(x0)), "y": round(float(y0)), "w": round(float(x1 - x0)), "h": round(float(y1 - y0))},
    }


def missing_note(missing: Missing, frames_without: int) -> str:
    """How the bundle's missing-value policy treats (or treated) frames without a hand."""
    rule = {
        "previous": "a frame without a hand takes the landmarks of the last frame before it with one "
        "(frames before the first hand take the first)",
        "fill": f"a frame without a hand is filled with {missing.fill_value}",
        "refuse": "this model refuses frames without a hand",
    }.get(missing.policy, missing.policy)
    return f"{frames_without} frame(s) without a hand; missing-value policy {missing.policy!r}: {rule}"


def photo_list(data: dict[str, Any], max_photos: int) -> tuple[list[bytes], str]:
    """The request's photos (bytes, from the edge) and the field they came in."""
    if "image" in data:
        return [data["image"]], "image"
    frames = data["frames"]
    if not frames:
        raise Unprocessable("frames has no photos", code="no_frames")
    if len(frames) > max_photos:
        raise PayloadTooLarge(f"frames has {len(frames)} photos; the limit is {max_photos}", code="too_many_frames")
    return frames, "frames"


@dataclass
class Decoded:
    """Frames as they are decoded. Attributes: frames (an iterator of (H, W, 3) uint8 RGB,
    one at a time); sizes (per frame so far: original size and working scale); clock
    ({"decode": seconds}); field (where they came from: image, frames or video)."""

    frames: Iterator[np.ndarray]
    sizes: list[tuple[tuple[int, int], float]]
    clock: dict
    field: str


def photo_frames(photos: list[bytes], field: str, limits: DecodeLimits, budget: MemoryBudget) -> Decoded:
    """The photos decoded one at a time. Every photo is priced from its headers first: 4xx
    before any decoding for one over its budgets, or for all of them over the request's CPU budget."""
    sizes: list[tuple[tuple[int, int], float]] = []
    clock = {"decode": 0.0}
    names = [field if field == "image" else f"frames[{i}]" for i in range(len(photos))]
    costs = [inspect_image(data, name, limits) for data, name in zip(photos, names, strict=True)]
    total_ms = sum(c.cpu_ms for c in costs)
    if total_ms > limits.max_request_ms:
        raise Unprocessable(
            f"decoding the {len(photos)} photos of {field} takes ~{total_ms:.0f} ms of CPU; the limit for one request is "
            f"{limits.max_request_ms} ms (MAX_REQUEST_DECODE_MS): send fewer or smaller frames (a 1280 x 720 JPEG takes ~11 ms)",
            code="frames_too_complex",
        )

    def decoded() -> Iterator[np.ndarray]:
        for i, data in enumerate(photos):
            name, cost = names[i], costs[i]
            started = time.perf_counter()
            with budget.reserve(cost.peak_bytes, name):
                photo: Photo = decode_photo(data, name=name, limits=limits, cost=cost)
            sizes.append((photo.size, photo.scale))
            clock["decode"] += time.perf_counter() - started
            yield photo.pixels

    return Decoded(decoded(), sizes, clock, field)


def find_hands(
    finder: HandFinder, photos: list[bytes], field: str, limits: DecodeLimits, budget: MemoryBudget, max_hands: int
) -> PhotoHands:
    """Decode each photo in turn and track the hands through them (photo_frames, track_hands)."""
    return track_hands(finder, photo_frames(photos, field, limits, budget), max_hands)


def track_hands(finder: HandFinder, source: Decoded, max_hands: int) -> PhotoHands:
    """The hands of each decoded frame, tracked; 422 `no_hand` when no frame holds a hand."""
    frames = []
    started = time.perf_counter()
    for frame in finder.track(source.frames, max_hands):
        frames.append(frame)
    total = time.perf_counter() - started
    decode = source.clock["decode"]
    time_ms = {"decode": round(decode * 1000, 2), "hands": round((total - decode) * 1000, 2)}
    found = PhotoHands(frames, source.sizes, time_ms)
    if len(found.without_hand) == len(frames):
        where = "image" if source.field == "image" else f"any of the {len(frames)} frames"
        raise Unprocessable(f"no hand found in {where}", code="no_hand")
    return found
