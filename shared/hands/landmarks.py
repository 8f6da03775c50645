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

from shared.errors import BundleError
from shared.hands.rect import RotatedRect
from shared.runtime.bundle import Bundle, tensor_index
from shared.vision.geometry import check_image, warp

TASK = "hand-landmarks"
OUTPUTS = ("landmarks", "presence", "handedness")


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
        if bundle.task != TASK:
            raise BundleError(f"{bundle.name} is a {bundle.task!r} bundle, expected {TASK!r}")
        self.bundle = bundle
        self.name = bundle.name
        post = bundle.meta.get("postprocessing")
        pre = bundle.meta.get("preprocessing")
        if not isinstance(post, dict) or not isinstance(pre, dict):
            raise BundleError("bundle.json needs the objects preprocessing and postprocessing")
        names = post.get("output_tensors") or {}
        if not isinstance(names, dict) or not all(isinstance(names.get(k), str) for k in OUTPUTS):
            raise BundleError(f"bundle.json postprocessing.output_tensors needs {', '.join(OUTPUTS)}")
        self._outputs = [tensor_index(bundle.model.outputs, names[k], self.name) for k in OUTPUTS]
        size = pre.get("input_size")
        if not (isinstance(size, list) and len(size) == 2 and size[0] == size[1] and isinstance(size[0], int)):
            raise BundleError(f"bundle.json preprocessing.input_size must be [n, n], got {size!r}")
        labels = post.get("handedness_labels")
        if not (isinstance(labels, list) and len(labels) == 2 and all(isinstance(s, str) for s in labels)):
            raise BundleError("bundle.json postprocessing.handedness_labels must name 2 labels")
        tracking = post.get("tracking_rect")
        if not isinstance(tracking, dict):
            raise BundleError("bundle.json lacks the object postprocessing.tracking_rect")
        self.size = size[0]
        self.labels = (labels[0], labels[1])
        self.normalize_z = float(post.get("normalize_z", 1.0))
        self.min_presence = float(post.get("min_presence", 0.5))
        self.tracking_rect = tracking

    def landmarks(self, image: np.ndarray, rect: RotatedRect) -> HandLandmarks:
        """The hand inside `rect` (pixels of `image`)."""
        check_image(image)
        to_image = rect.chip_to_image(self.size)
        chip = warp(image, to_image, self.size, fill="edge")
        tensor = chip.astype(np.float32) * np.float32(1 / 255.0)
        outputs = self.bundle.model.run(tensor[None])
        raw, presence, handed = (outputs[i].reshape(-1) for i in self._outputs)
        local = raw.astype(np.float64).reshape(21, 3)
        xy = local[:, :2] @ to_image[:, :2].T + to_image[:, 2]
        # TensorsToLandmarks: z / input width / normalize_z (normalised to the crop), then
        # LandmarkProjection scales it by the rect's width: in pixels, z * rect width / size / normalize_z.
        z = local[:, 2] * rect.width / self.size / self.normalize_z
        first = float(handed[0])  # the score of labels[0]; labels[1] scores 1 - it (binary_classification)
        label, score = (self.labels[0], first) if first >= 0.5 else (self.labels[1], 1.0 - first)
        return HandLandmarks(np.column_stack([xy, z]), float(presence[0]), label, score, rect)
