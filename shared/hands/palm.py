"""Palm detection with MediaPipe's palm detector, in plain numpy + Pillow.

`PalmDetector(bundle).detect(rgb)` does what mediapipe/modules/palm_detection/
palm_detection_cpu.pbtxt does: letterbox the image into the 192x192 input (keep_aspect_ratio,
BORDER_ZERO, values 0..1), run the model, decode the 2016 SSD boxes and 7 keypoints
against the anchors (SsdAnchorsCalculator), keep scores >= min_score_thresh (0.5), merge
with weighted NMS (IoU 0.3) and map back to the image (DetectionLetterboxRemovalCalculator).
The bundle uses the same SSD schema as the face detectors (shared.face.contract's
DetectorContract) and the same maths (shared.vision.ssd).

Coordinates: pixels of the input image, x right, y down, continuous.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.errors import BundleError
from shared.face.contract import DetectorContract
from shared.face.detect import ssd_head
from shared.runtime.bundle import Bundle
from shared.vision.geometry import Box, check_image, letterbox
from shared.vision.ssd import decode, weighted_nms

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
        self.contract = contract = DetectorContract.from_meta(bundle.meta)
        self._anchors, self._outputs = ssd_head(bundle, contract)
        rect = (bundle.meta.get("postprocessing") or {}).get("hand_rect")
        if not isinstance(rect, dict):
            raise BundleError("bundle.json lacks the object postprocessing.hand_rect")
        self.hand_rect = rect

    def detect(self, image: np.ndarray) -> list[Palm]:
        """Palms in an (H, W, 3) uint8 RGB image, most confident first; [] when none."""
        check_image(image)
        c = self.contract
        pixels, box = letterbox(image, c.input_size, c.pad_value)
        low, high = c.value_range
        tensor = pixels.astype(np.float32) * np.float32((high - low) / 255.0) + np.float32(low)
        outputs = self.bundle.model.run(tensor[None])
        boxes, scores = decode(outputs[self._outputs[0]][0], outputs[self._outputs[1]][0], self._anchors, c.decoding)
        keep = (scores >= c.min_score) & np.all(boxes[:, 1] > boxes[:, 0], axis=1)
        palms = []
        for points, score in weighted_nms(boxes[keep], scores[keep], c.nms_threshold):
            px = box.to_image(points)
            (x0, y0), (x1, y1) = px[0], px[1]
            palms.append(Palm((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), score, px[2:]))
        return palms
