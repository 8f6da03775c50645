"""`FaceMesh`: a face's 468 landmarks and both irises, from a photo and the face's rotated rect.

MediaPipe's FaceMesh (static_image_mode, refine_landmarks=False) on one face rect, plus
the iris model on each eye as mediapipe/graphs/iris_tracking/iris_tracking_cpu.pbtxt runs it.
The face detector is the caller's: `roi_from_detection` turns a BlazeFace box and its eye
keypoints into the rect, `roi_from_landmarks` tracks a face into the next frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.facemesh.iris import TASK as IRIS_TASK
from shared.facemesh.iris import Eye, IrisLandmarker
from shared.facemesh.landmarks import TASK as LANDMARK_TASK
from shared.facemesh.landmarks import FaceLandmarker
from shared.facemesh.options import FaceMeshOptions
from shared.runtime.bundle import Bundle, load_as
from shared.vision.rect import RotatedRect


@dataclass(frozen=True)
class FaceMeshResult:
    """One face. Attributes:
    points: (468, 3) MediaPipe's face mesh in image pixels: x right, y down; z in pixels
        at the x scale, relative to the face's centre (smaller is nearer the camera);
    presence: the model's face presence in [0, 1];
    rect: the crop the model saw;
    image_size: (width, height) of the image, pixels;
    left_eye, right_eye: MediaPipe's eyes (left = landmarks 33..133, the image's left in an
        unmirrored photo: the subject's right eye), None without an iris model.
    """

    points: np.ndarray
    presence: float
    rect: RotatedRect
    image_size: tuple[int, int]
    left_eye: Eye | None = None
    right_eye: Eye | None = None

    @property
    def normalized(self) -> np.ndarray:
        """(468, 3) MediaPipe's normalised landmarks: x / width, y / height, z / width."""
        width, height = self.image_size
        return self.points / np.array([width, height, width], dtype=np.float64)


class FaceMesh:
    """The face landmark bundle and, optionally, the iris bundle: `find(rgb, roi)`, thread-safe."""

    def __init__(self, landmarker: FaceLandmarker, iris: IrisLandmarker | None = None):
        self.landmarker = landmarker
        self.iris = iris

    @classmethod
    def load(cls, options: FaceMeshOptions) -> FaceMesh:
        landmarker = load_as(FaceLandmarker, options.landmarks, options.load, task=LANDMARK_TASK)
        iris = load_as(IrisLandmarker, options.iris, options.load, task=IRIS_TASK) if options.iris else None
        return cls(landmarker, iris)

    def bundles(self) -> list[Bundle]:
        return [self.landmarker.bundle, *([self.iris.bundle] if self.iris else [])]

    def find(self, image: np.ndarray, roi: RotatedRect, *, irises: bool = True) -> FaceMeshResult | None:
        """The face in `roi` (pixels of the (H, W, 3) uint8 RGB `image`), or None when the
        model finds none there (presence below the bundle's min_presence, 0.5).
        `irises`: run the iris model on both eyes too (when the mesh has one)."""
        points, presence = self.landmarker.landmarks(image, roi)
        if presence < self.landmarker.min_presence:
            return None
        size = (image.shape[1], image.shape[0])
        if not (irises and self.iris):
            return FaceMeshResult(points, presence, roi, size)
        left, right = self.landmarker.eye_rects(points)
        return FaceMeshResult(points, presence, roi, size, self.iris.eye(image, left, False), self.iris.eye(image, right, True))

    def roi_from_detection(self, box: tuple[float, float, float, float], keypoints: np.ndarray) -> RotatedRect:
        """The face rect from a BlazeFace detection: box (x, y, w, h) and its 6 (x, y)
        keypoints in pixels, in BlazeFace's order (right eye, left eye, ...)."""
        return self.landmarker.roi_from_detection(box, keypoints)

    def roi_from_landmarks(self, points: np.ndarray) -> RotatedRect:
        """The next frame's rect from a result's points (MediaPipe's tracking)."""
        return self.landmarker.roi_from_landmarks(points)
