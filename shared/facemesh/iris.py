"""MediaPipe's iris landmark model for one eye, in plain numpy + Pillow.

`IrisLandmarker(bundle).eye(rgb, rect, flip)` does what mediapipe/modules/iris_landmark/
iris_landmark_cpu.pbtxt does: crop the eye's rotated square rect (ImageCroppingCalculator,
BORDER_REPLICATE) to 64x64 (ImageTransformationCalculator FIT; the rect is square), mirror it
for the right eye (FLIP_HORIZONTALLY), values 0..1 (TfLiteConverter zero_center false), run
the model, read 71 eye contour and 5 iris points (TfLiteTensorsToLandmarks: x mirrored back
for the right eye, z / 64) and project them onto the image (LandmarkProjectionCalculator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.runtime.bundle import Bundle, crop_model, sized_outputs
from shared.vision.rect import RotatedRect
from shared.vision.rect_crop import RectCrop, rect_input

TASK = "iris-landmarks"


@dataclass(frozen=True)
class Eye:
    """One eye. Attributes: iris (5, 3): the iris centre then 4 points on its rim; contour
    (71, 3): eyelids and brow; both x, y in image pixels, z in pixels at the x scale;
    rect: the crop the model saw."""

    iris: np.ndarray
    contour: np.ndarray
    rect: RotatedRect

    @property
    def iris_radius(self) -> float:
        """Mean distance of the 4 rim points from the centre, pixels."""
        return float(np.mean(np.linalg.norm(self.iris[1:, :2] - self.iris[0, :2], axis=1)))


class IrisLandmarker:
    """An iris-landmark bundle: `eye(rgb, rect, flip) -> Eye`, thread-safe."""

    def __init__(self, bundle: Bundle):
        pre, post, self.size = crop_model(bundle, TASK)
        self.bundle = bundle
        self.name = bundle.name
        self.flip_right = pre.flag("flip_right_eye")
        self.counts = (post.integer("num_eye_contour", ge=1, le=512), post.integer("num_iris", ge=5, le=5))
        self._outputs = sized_outputs(post, bundle.model, {"eye_contour": self.counts[0] * 3, "iris": self.counts[1] * 3})

    def eye(self, image: np.ndarray, rect: RotatedRect, right: bool) -> Eye:
        """The eye inside `rect`; `right`: MediaPipe's right eye (landmarks 362, 263), mirrored for the model."""
        tensor, crop = rect_input(image, rect, self.size)
        flip = right and self.flip_right
        if flip:
            tensor = np.ascontiguousarray(tensor[:, ::-1])
        outputs = self.bundle.model.run(tensor[None])
        contour, iris = (self._project(outputs[i].reshape(-1, 3), crop, flip) for i in self._outputs)
        return Eye(iris, contour, rect)

    def _project(self, raw: np.ndarray, crop: RectCrop, flip: bool) -> np.ndarray:
        local = raw.astype(np.float64)
        if flip:
            local[:, 0] = self.size - local[:, 0]
        return crop.landmarks(local[:, :2], local[:, 2])
