"""Hands in photos and in sequences of frames: palm detection -> hand rect -> landmarks.

What mediapipe/modules/hand_landmark/hand_landmark_tracking_cpu.pbtxt does:
- a photo (or a frame with too few tracked hands): PalmDetector, the best `max_hands` palms
  (ClipDetectionVectorSizeCalculator keeps NMS's order: most confident first), each palm's
  rect (rect.from_palm, then the palm_detection_detection_to_roi.pbtxt transformation),
  then the landmark model; hands under the presence threshold are dropped;
- the next frame of a sequence: each hand's rect comes from its previous landmarks
  (rect.from_landmarks, then hand_landmark_landmarks_to_roi.pbtxt's transformation), and
  the palm detector runs only while fewer than `max_hands` hands are tracked; its new rects
  that overlap a tracked one (AssociationNormRectCalculator, IoU > 0.5) are dropped.
  One difference: MediaPipe, streaming, looks for palms again from the frame after a hand
  is lost; here the frames are all at hand, so the palm detector runs on the frame where
  a tracked hand's presence dropped, and that frame keeps its hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from shared.hands.landmarks import HandLandmarker, HandLandmarks, load_landmarker
from shared.hands.options import HandOptions
from shared.hands.palm import TASK as DETECTION_TASK
from shared.hands.palm import PalmDetector
from shared.hands.rect import RotatedRect, from_landmarks, from_palm, rect_iou
from shared.runtime.bundle import Bundle, load_as
from shared.runtime.lazy import Parts

MAX_HANDS = 2
__all__ = ["MAX_HANDS", "FrameHands", "HandFinder", "HandOptions"]
# AssociationNormRectCalculator's min_similarity_threshold in hand_landmark_tracking_cpu.pbtxt.
SAME_HAND_IOU = 0.5


@dataclass(frozen=True)
class FrameHands:
    """The hands of one frame, in the order MediaPipe reports them. Attributes: hands;
    size (width, height) of the image they were found in (pixels); palm_detected: whether
    the palm detector ran on this frame (False: every hand came from tracking)."""

    hands: list[HandLandmarks]
    size: tuple[int, int]
    palm_detected: bool


class HandFinder:
    """Palm detector + landmark model: `find(rgb)` for a photo, `track(frames)` for a sequence."""

    def __init__(self, detector: PalmDetector, landmarker: HandLandmarker):
        self.detector = detector
        self.landmarker = landmarker

    @classmethod
    def load(cls, options: HandOptions, parts: Parts | None = None) -> HandFinder:
        """The palm detector and the landmark model (shared through `parts` when given)."""
        return cls(
            load_as(PalmDetector, options.detector, options.load, task=DETECTION_TASK),
            load_landmarker(options.landmarks, options.load, parts),
        )

    def bundles(self) -> list[Bundle]:
        return [self.detector.bundle, self.landmarker.bundle]

    def palm_rects(self, image: np.ndarray, max_hands: int) -> list[RotatedRect]:
        """The hand rects of the `max_hands` most confident palms, pixels."""
        r = self.detector.hand_rect
        palms = self.detector.detect(image)[:max_hands]
        return [r.transform.apply(from_palm(p.box, p.keypoints, r.start, r.end, r.target_degrees)) for p in palms]

    def tracking_rect(self, hand: HandLandmarks) -> RotatedRect:
        """The next frame's rect for a hand, from its landmarks."""
        return self.landmarker.tracking_rect.apply(from_landmarks(hand.points[:, :2]))

    def _hands(self, image: np.ndarray, rects: list[RotatedRect]) -> list[HandLandmarks]:
        found = (self.landmarker.landmarks(image, rect) for rect in rects)
        return [h for h in found if h.presence >= self.landmarker.min_presence]

    def find(self, image: np.ndarray, max_hands: int = 1) -> list[HandLandmarks]:
        """Up to `max_hands` hands in an (H, W, 3) uint8 RGB photo; [] when there is none."""
        return self._hands(image, self.palm_rects(image, max_hands))

    def track(self, frames: Iterable[np.ndarray], max_hands: int = 1) -> Iterator[FrameHands]:
        """Hands frame by frame, each frame's rects from the previous frame's landmarks."""
        previous: list[RotatedRect] = []
        size: tuple[int, int] | None = None
        for image in frames:
            here = (image.shape[1], image.shape[0])
            hands = self._hands(image, previous if here == size else [])  # another frame size: start again
            detected = len(hands) < max_hands
            if detected:  # a hand is missing or was lost here: look for palms in this same frame
                kept = [h.rect for h in hands]
                fresh = [r for r in self.palm_rects(image, max_hands) if all(rect_iou(r, k) <= SAME_HAND_IOU for k in kept)]
                hands += self._hands(image, fresh[: max_hands - len(hands)])
            yield FrameHands(hands, here, detected)
            previous, size = [self.tracking_rect(h) for h in hands], here
