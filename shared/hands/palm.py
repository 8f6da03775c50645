"""Palm detection with MediaPipe's palm detector, in plain numpy + Pillow.

`PalmDetector(bundle).detect(rgb)` does what mediapipe/modules/palm_detection/
palm_detection_cpu.pbtxt does: letterbox the image into the 192x192 input (keep_aspect_ratio,
BORDER_ZERO, values 0..1), run the model, decode the 2016 SSD boxes and 7 keypoints
against the anchors (SsdAnchorsCalculator), keep scores >= min_score_thresh (0.5), merge
with weighted NMS (IoU 0.3) and map back to the image (DetectionLetterboxRemovalCalculator).
The bundle uses the same SSD schema and plumbing as the face detectors (shared.vision.detector)
and the same maths (shared.vision.ssd); `postprocessing.hand_rect` adds how a palm becomes
the hand's rotated rect (DetectionsToRectsCalculator, RectTransformationCalculator).

Coordinates: pixels of the input image, x right, y down, continuous.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.errors import BundleError
from shared.hands.rect import PalmRect
from shared.runtime.bundle import Bundle
from shared.vision.detector import input_tensor, raw_detections, ssd_head
from shared.vision.geometry import Box, check_image

TASK = "hand-detection"
# Palm keypoints, in the model's output order.
WRIST_CENTER, INDEX_MCP, MIDDLE_MCP, RING_MCP, PINKY_MCP, THUMB_CMC, THUMB_MCP = range(7)


@dataclass(frozen=True)
class Palm:
    """One detected palm. Attributes: box (x, y, w, h) in image pixels (not clipped: a palm
    at the border may reach outside); score in [0, 1]; keypoints (7, 2) in image pixels."""

    box: Box
    score: float
    keypoints: np.ndarray


class PalmDetector:
    """A palm-detection bundle ready to find palms: `detect(rgb) -> [Palm]`, thread-safe."""

    def __init__(self, bundle: Bundle):
        if bundle.task != TASK:
            raise BundleError(f"{bundle.name} is a {bundle.task!r} bundle, expected {TASK!r}")
        self.bundle = bundle
        self.name = bundle.name
        self._head = ssd_head(bundle)
        self.contract = self._head.contract
        self.hand_rect = PalmRect.read(bundle.manifest.at("postprocessing.hand_rect"), self.contract.num_keypoints)

    def detect(self, image: np.ndarray) -> list[Palm]:
        """Palms in an (H, W, 3) uint8 RGB image, most confident first; [] when none."""
        check_image(image)
        tensor, box = input_tensor(image, self.contract)
        palms = []
        for points, score in raw_detections(self.bundle.model, tensor, self._head):
            px = box.to_image(points)
            (x0, y0), (x1, y1) = px[0], px[1]
            palms.append(Palm((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), score, px[2:]))
        return palms
