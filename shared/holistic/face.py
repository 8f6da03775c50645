"""Holistic's face: a rect from the pose's face points, BlazeFace (short range) inside it,
the face mesh on the rect around its eyes, tracked from the previous frame's mesh.

mediapipe/modules/holistic_landmark/face_landmarks_from_pose_cpu.pbtxt, step by step:
- face_landmarks_from_pose_to_recrop_roi.pbtxt: the pose's points 0-10 (nose, eyes, ears,
  mouth; holistic_landmark_cpu.pbtxt's split), their bounds rotated from point 5 (right eye)
  to point 2 (left eye) at 0 degrees, scaled 3.0, square_long;
- FaceDetectionShortRangeByRoiCpu: the short-range detector on that rect's crop (128x128);
- face_detection_front_detections_to_roi.pbtxt: the first detection's keypoints' bounds
  (conversion_mode USE_KEYPOINTS), rotated from keypoint 0 (right eye) to 1 (left eye),
  scaled 2.0, shift_y -0.1, square_long;
- face_tracking.pbtxt: the previous frame's mesh rect (face_landmarks_to_roi.pbtxt: points
  33 -> 263, scale 1.5) is kept while RoiTracking allows (15 degrees, 0.1 translation, 0.3
  scale, landmarks inside the re-crop rect shrunk by 20%);
- FaceLandmarkCpu (refine_face_landmarks off): 468 points (shared/facemesh/).
"""

from __future__ import annotations

import numpy as np

from shared.face.detect import FaceDetector
from shared.facemesh.mesh import FaceMesh
from shared.holistic.recrop import Tracking, keep_tracking
from shared.vision.geometry import warp
from shared.vision.rect import RectTransform, RotatedRect, from_points

POSE_FACE_POINTS = 11  # SplitNormalizedLandmarkList ranges { begin: 0 end: 11 }
POSE_RIGHT_EYE, POSE_LEFT_EYE = 5, 2
FROM_POSE = RectTransform((3.0, 3.0), (0.0, 0.0), True)
DETECTOR_INPUT = 128  # face_detection_short_range_by_roi_cpu.pbtxt: ImageToTensor 128 x 128
FROM_DETECTION = RectTransform((2.0, 2.0), (0.0, -0.1), True)
MESH_RIGHT_EYE, MESH_LEFT_EYE = 33, 263
FROM_MESH = RectTransform((1.5, 1.5), (0.0, 0.0), True)
FACE_TRACKING = Tracking(15.0, 0.1, 0.3, -0.2)


class HolisticFace:
    """`face(image, pose_points, previous)` -> (468, 3) points in pixels, or None."""

    def __init__(self, detector: FaceDetector, mesh: FaceMesh):
        self.detector, self.mesh = detector, mesh

    def bundles(self) -> list:
        return [self.detector.bundle, *self.mesh.bundles()]

    def recrop_rect(self, image: np.ndarray, pose_points: np.ndarray) -> RotatedRect | None:
        """The face's rect from the detector run inside the pose's face rect; None: no face there."""
        around = FROM_POSE.apply(from_points(pose_points[:POSE_FACE_POINTS], POSE_RIGHT_EYE, POSE_LEFT_EYE, 0.0))
        to_image = around.chip_to_image(DETECTOR_INPUT)
        faces = self.detector.detect(warp(image, to_image, DETECTOR_INPUT, fill="edge"))
        if not faces:
            return None
        best = max(faces, key=lambda f: f.score)
        keypoints = np.asarray(best.keypoints, dtype=np.float64) @ to_image[:, :2].T + to_image[:, 2]
        return FROM_DETECTION.apply(from_points(keypoints, 0, 1, 0.0))

    def face(self, image: np.ndarray, pose_points: np.ndarray, previous: np.ndarray | None) -> np.ndarray | None:
        recrop = self.recrop_rect(image, pose_points)
        if recrop is None:
            return None
        rect = recrop
        if previous is not None:
            tracked = FROM_MESH.apply(from_points(previous, MESH_RIGHT_EYE, MESH_LEFT_EYE, 0.0))
            if keep_tracking(tracked, previous, recrop, FACE_TRACKING):
                rect = tracked
        found = self.mesh.find(image, rect, irises=False)
        return None if found is None else found.points
