"""MediaPipe's face landmark model and the rects it crops from, in plain numpy + Pillow.

`FaceLandmarker(bundle).landmarks(rgb, rect)` does what mediapipe/modules/face_landmark/
face_landmark_cpu.pbtxt does for one face rect (refine_landmarks=False): sample the rotated
square rect into the 192x192 input (ImageToTensorCalculator: bilinear, border replicated,
values 0..1), run the model, keep the face when sigmoid(presence) >= 0.5
(TensorsToFloats + ThresholdingCalculator), and project the 468 landmarks back onto the
image (TensorsToLandmarksCalculator, LandmarkProjectionCalculator). The rects:
- from a detection: face_detection_front_detection_to_roi.pbtxt (the box, rotated by the
  eye keypoints 0 -> 1 to 0 degrees, then scale 1.5, square on the long side);
- from landmarks (tracking): face_landmark_landmarks_to_roi.pbtxt (the bounds of the 468,
  rotated by landmarks 33 -> 263, scale 1.5, square);
- the eyes: iris_tracking_cpu.pbtxt's boundary landmarks (33, 133 and 362, 263) through
  iris_landmark_landmarks_to_roi.pbtxt (scale 2.3, square).
All values come from the bundle's bundle.json (tools/build/build_face_mesh_bundles.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.runtime.bundle import Bundle, crop_model, sized_outputs
from shared.runtime.manifest import Manifest
from shared.vision.rect import RectTransform, RotatedRect, from_points, rotation_between
from shared.vision.rect_crop import rect_input

TASK = "face-landmarks"
NUM_LANDMARKS = 468


@dataclass(frozen=True)
class RectRecipe:
    """How points become a rect: rotation from point `start` to `end` to `target_degrees`,
    then `transform`."""

    start: int
    end: int
    target_degrees: float
    transform: RectTransform

    @classmethod
    def read(cls, m: Manifest, start_key: str, end_key: str, count: int) -> RectRecipe:
        start, end = m.integer(start_key, ge=0, le=count - 1), m.integer(end_key, ge=0, le=count - 1)
        if start == end:
            raise m.fault(end_key, end, f"a point other than {start_key}")
        return cls(start, end, m.number("target_angle_degrees", ge=-360, le=360), RectTransform.read(m))


class FaceLandmarker:
    """A face-landmark bundle: `landmarks(rgb, rect) -> ((468, 3) pixels, presence)`, thread-safe."""

    def __init__(self, bundle: Bundle):
        _, post, self.size = crop_model(bundle, TASK)
        self.bundle = bundle
        self.name = bundle.name
        count = post.integer("num_landmarks", ge=NUM_LANDMARKS, le=NUM_LANDMARKS)
        self._outputs = sized_outputs(post, bundle.model, {"landmarks": count * 3, "presence": 1})
        self.normalize_z = post.number("normalize_z", gt=0, le=100, default=1.0)
        self.min_presence = post.number("min_presence", ge=0, le=1, default=0.5)
        self.detection_rect = RectRecipe.read(post.at("detection_rect"), "rotation_start_keypoint", "rotation_end_keypoint", 6)
        self.tracking_rect = RectRecipe.read(post.at("tracking_rect"), "rotation_start_landmark", "rotation_end_landmark", count)
        eyes = post.at("eye_rect")
        self.eye_pairs = (
            tuple(eyes.integers("left_eye", length=2, ge=0, le=count - 1)),
            tuple(eyes.integers("right_eye", length=2, ge=0, le=count - 1)),
        )
        self.eye_transform = RectTransform.read(eyes)
        self.eye_target = eyes.number("target_angle_degrees", ge=-360, le=360)

    def landmarks(self, image: np.ndarray, rect: RotatedRect) -> tuple[np.ndarray, float]:
        """The face inside `rect` (pixels of `image`): (468, 3) x, y in image pixels, z in
        pixels at the x scale (depth, smaller is nearer the camera), and the presence score."""
        tensor, crop = rect_input(image, rect, self.size)
        outputs = self.bundle.model.run(tensor[None])
        raw, logit = (outputs[i].reshape(-1) for i in self._outputs)
        local = raw.astype(np.float64).reshape(NUM_LANDMARKS, 3)
        presence = float(1.0 / (1.0 + np.exp(-float(logit[0]))))
        return crop.landmarks(local[:, :2], local[:, 2], self.normalize_z), presence

    def roi_from_detection(self, box: tuple[float, float, float, float], keypoints: np.ndarray) -> RotatedRect:
        """The face rect from a BlazeFace detection: box (x, y, w, h) and its 6 keypoints (pixels)."""
        x, y, w, h = box
        r = self.detection_rect
        rotation = rotation_between(np.asarray(keypoints[r.start]), np.asarray(keypoints[r.end]), r.target_degrees)
        return r.transform.apply(RotatedRect(x + w / 2, y + h / 2, w, h, rotation))

    def roi_from_landmarks(self, points: np.ndarray) -> RotatedRect:
        """The next frame's face rect from this frame's (468, 2+) landmarks in pixels."""
        r = self.tracking_rect
        return r.transform.apply(from_points(points, r.start, r.end, r.target_degrees))

    def eye_rects(self, points: np.ndarray) -> tuple[RotatedRect, RotatedRect]:
        """The (left, right) eye rects in MediaPipe's naming (left = landmarks 33, 133, the
        eye on the image's left in an unmirrored photo: the subject's right eye)."""
        rects = []
        for a, b in self.eye_pairs:
            rects.append(self.eye_transform.apply(from_points(np.asarray(points)[[a, b]], 0, 1, self.eye_target)))
        return rects[0], rects[1]
