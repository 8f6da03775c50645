"""Pose detection and pose landmarks with MediaPipe's models, in numpy + Pillow.

Inputs are sampled as ImageToTensorCalculator does (holistic/sampling.py).

- PoseDetector: mediapipe/modules/pose_detection/pose_detection_cpu.pbtxt: letterbox into
  224x224 (BORDER_ZERO, -1..1), 2254 SSD anchors, box + 4 keypoints (hip centre, full-body
  scale point, shoulder centre, upper-body scale point), score >= 0.5, weighted NMS (IoU
  0.3); the first detection's rect as pose_detection_to_roi.pbtxt makes it.
- PoseLandmarker: pose_landmark_by_roi_cpu.pbtxt and
  tensors_to_pose_landmarks_and_segmentation.pbtxt: the rotated rect into 256x256 (0..1,
  border replicated), 39 landmarks of 5 values (x, y, z in input pixels, visibility and
  presence before a sigmoid), the pose flag thresholded at 0.5, x and y refined from the
  64x64 heatmap (RefineLandmarksFromHeatmapCalculator, kernel 7), then projected back
  (LandmarkProjectionCalculator: z scaled by the rect's width as x is).

Coordinates: pixels of the input image, x right, y down, continuous; z in pixels at x's scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.errors import BundleError
from shared.hands.rect import RectTransform, RotatedRect
from shared.holistic.rects import AlignedRect
from shared.holistic.sampling import letterbox_point, warp_point
from shared.runtime.bundle import Bundle, crop_model
from shared.vision.detector import raw_detections, ssd_head
from shared.vision.geometry import check_image
from shared.vision.rect_crop import rect_input

DETECTION_TASK = "pose-detection"
LANDMARK_TASK = "pose-landmarks"
POSE_LANDMARKS = 33
ALL_LANDMARKS = 39  # 33 + 2 auxiliary (the tracking rect's) + 4 the graph never reads


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


@dataclass(frozen=True)
class PoseDetection:
    """Attributes: score in [0, 1]; keypoints (4, 2) in image pixels; rect: the landmark
    model's crop made from them."""

    score: float
    keypoints: np.ndarray
    rect: RotatedRect


class PoseDetector:
    """A pose-detection bundle: `detect(rgb) -> [PoseDetection]`, best first; thread-safe."""

    def __init__(self, bundle: Bundle):
        if bundle.task != DETECTION_TASK:
            raise BundleError(f"{bundle.name} is a {bundle.task!r} bundle, expected {DETECTION_TASK!r}")
        self.bundle = bundle
        self._head = ssd_head(bundle)
        self.contract = self._head.contract
        self.pose_rect = AlignedRect.read(bundle.manifest.at("postprocessing.pose_rect"), self.contract.num_keypoints)

    def detect(self, image: np.ndarray) -> list[PoseDetection]:
        check_image(image)
        c = self.contract
        pixels, box = letterbox_point(image, c.input_size, c.pad_value)
        low, high = c.value_range
        tensor = pixels.astype(np.float32) * np.float32((high - low) / 255.0) + np.float32(low)
        found = []
        for points, score in raw_detections(self.bundle.model, tensor, self._head):
            keypoints = box.to_image(points)[2:]
            found.append(PoseDetection(score, keypoints, self.pose_rect.of(keypoints)))
        return found


@dataclass(frozen=True)
class PoseLandmarks:
    """One pose. Attributes:
    points: (33, 3) x, y in image pixels, z in pixels at x's scale (relative to the hips'
        midpoint, smaller is nearer the camera);
    visibility, presence: (33,) in [0, 1];
    score: the pose flag in [0, 1];
    rect: the crop the model saw; next_rect: the next frame's crop (auxiliary landmarks).
    """

    points: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    score: float
    rect: RotatedRect
    next_rect: RotatedRect


class PoseLandmarker:
    """A pose-landmark bundle: `landmarks(rgb, rect) -> PoseLandmarks`, thread-safe."""

    def __init__(self, bundle: Bundle):
        _, post, self.size = crop_model(bundle, LANDMARK_TASK)
        self.bundle = bundle
        model = bundle.model
        self._outputs = [post.tensor(f"output_tensors.{k}", model.outputs) for k in ("landmarks", "presence", "heatmap")]
        shapes = [list(model.outputs[i].shape) for i in self._outputs]
        if int(np.prod(shapes[0])) != ALL_LANDMARKS * 5 or len(shapes[2]) != 4 or shapes[2][3] != ALL_LANDMARKS:
            raise post.fault("output_tensors", shapes, f"{ALL_LANDMARKS} x 5 landmark values and a (1, h, w, {ALL_LANDMARKS}) heatmap")
        if post.integer("num_landmarks", ge=1, le=1000) != ALL_LANDMARKS:
            raise post.fault("num_landmarks", post.get("num_landmarks", None), str(ALL_LANDMARKS))
        self.min_presence = post.number("min_presence", ge=0, le=1)
        self.kernel = post.integer("heatmap_kernel_size", ge=1, le=63)
        self.min_refine = post.number("heatmap_min_confidence", ge=0, le=1)
        self.tracking_rect = AlignedRect.read(post.at("tracking_rect"), ALL_LANDMARKS)
        hands = post.at("hand_from_pose")
        self.hand_points = {side: hands.integers(side, length=3, ge=0, le=POSE_LANDMARKS - 1) for side in ("left", "right")}
        self.min_wrist_visibility = hands.number("min_wrist_visibility", ge=0, le=1)
        self.hand_rect = RectTransform.read(hands.at("rect"))

    def landmarks(self, image: np.ndarray, rect: RotatedRect) -> PoseLandmarks:
        tensor, crop = rect_input(image, rect, self.size, warp_point)
        outputs = self.bundle.model.run(tensor[None])
        raw, flag, heatmap = (outputs[i] for i in self._outputs)
        values = raw.reshape(ALL_LANDMARKS, 5).astype(np.float64)
        xy = refine_from_heatmap(values[:, :2] / self.size, heatmap[0], self.kernel, self.min_refine) * self.size
        points = crop.landmarks(xy, values[:, 2])
        return PoseLandmarks(
            points[:POSE_LANDMARKS],
            _sigmoid(values[:POSE_LANDMARKS, 3]),
            _sigmoid(values[:POSE_LANDMARKS, 4]),
            float(np.reshape(flag, -1)[0]),
            rect,
            self.tracking_rect.of(points),
        )


def refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray, kernel: int, min_confidence: float) -> np.ndarray:
    """RefineLandmarksFromHeatmapCalculator: each (x, y) normalised to the crop moved to the
    sigmoid-weighted mean cell of a kernel x kernel window of its heatmap channel around it,
    when the window's peak is >= min_confidence. heatmap: (h, w, N) raw logits."""
    h, w, _ = heatmap.shape
    out = xy.copy()
    half = (kernel - 1) // 2
    for i, (x, y) in enumerate(xy):
        col, row = int(x * w), int(y * h)  # C++'s float -> int: toward zero
        if not (0 <= col < w and 0 <= row < h):
            continue
        r0, r1, c0, c1 = max(0, row - half), min(h, row + half + 1), max(0, col - half), min(w, col + half + 1)
        conf = _sigmoid(heatmap[r0:r1, c0:c1, i].astype(np.float64))
        total = conf.sum()
        if conf.max() >= min_confidence and total > 0:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            out[i] = ((cols * conf).sum() / w / total, (rows * conf).sum() / h / total)
    return out
