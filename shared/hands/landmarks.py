"""Hand landmarks with MediaPipe's hand landmark model, in plain numpy + Pillow.

`HandLandmarker(bundle).landmarks(rgb, rect)` does what mediapipe/modules/hand_landmark/
hand_landmark_cpu.pbtxt does for one hand rect: sample the rotated square rect into the
224x224 input (ImageToTensorCalculator: bilinear, border replicated, values 0..1), run the
model, and project the 21 landmarks back onto the image (TensorsToLandmarksCalculator,
LandmarkProjectionCalculator). Presence is the model's hand flag; handedness is the
binary classifier's output read as TensorsToClassificationCalculator reads it.

Handedness follows MediaPipe, which assumes a mirrored (selfie) image: in an unmirrored
photo a hand labelled "Left" is the subject's right hand. Mirroring the photo swaps it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.hands.rect import RectTransform, RotatedRect
from shared.runtime.bundle import Bundle, LoadOptions, crop_model, load_as, sized_outputs
from shared.runtime.lazy import Parts
from shared.vision.rect_crop import rect_input

TASK = "hand-landmarks"
OUTPUTS = ("landmarks", "presence", "handedness")
OUTPUT_SIZES = (21 * 3, 1, 1)  # 21 (x, y, z) landmarks, the presence flag, the handedness score


@dataclass(frozen=True)
class HandLandmarks:
    """One hand's landmarks. Attributes:
    points: (21, 3) x, y in image pixels, z in pixels at the x scale (depth relative to
        the wrist, smaller is nearer the camera);
    presence: hand presence in [0, 1];
    handedness: "Left" or "Right" (MediaPipe's mirrored-image convention); handedness_score
        in [0.5, 1];
    rect: the crop the model saw.
    """

    points: np.ndarray
    presence: float
    handedness: str
    handedness_score: float
    rect: RotatedRect


class HandLandmarker:
    """A hand-landmark bundle: `landmarks(rgb, rect) -> HandLandmarks`, thread-safe."""

    def __init__(self, bundle: Bundle):
        _, post, self.size = crop_model(bundle, TASK)
        self.bundle = bundle
        self.name = bundle.name
        self._outputs = sized_outputs(post, bundle.model, dict(zip(OUTPUTS, OUTPUT_SIZES, strict=True)))
        first, second = post.texts("handedness_labels", length=2)
        self.labels = (first, second)
        self.normalize_z = post.number("normalize_z", gt=0, le=100, default=1.0)
        self.min_presence = post.number("min_presence", ge=0, le=1, default=0.5)
        self.tracking_rect = RectTransform.read(post.at("tracking_rect"))

    def landmarks(self, image: np.ndarray, rect: RotatedRect) -> HandLandmarks:
        """The hand inside `rect` (pixels of `image`)."""
        tensor, crop = rect_input(image, rect, self.size)
        outputs = self.bundle.model.run(tensor[None])
        raw, presence, handed = (outputs[i].reshape(-1) for i in self._outputs)
        local = raw.astype(np.float64).reshape(21, 3)
        points = crop.landmarks(local[:, :2], local[:, 2], self.normalize_z)
        first = float(handed[0])  # the score of labels[0]; labels[1] scores 1 - it (binary_classification)
        label, score = (self.labels[0], first) if first >= 0.5 else (self.labels[1], 1.0 - first)
        return HandLandmarks(points, float(presence[0]), label, score, rect)


def load_landmarker(source: str, load: LoadOptions, parts: Parts | None = None) -> HandLandmarker:
    """The hand landmark bundle at `source`; with `parts`, loaded once per instance and the
    same interpreter for every pipeline asking (the hand tracker and Holistic: one model
    held instead of two, ~17 MB)."""

    def build() -> HandLandmarker:
        return load_as(HandLandmarker, source, load, task=TASK)

    return parts.get((TASK, source, load), build) if parts is not None else build()
