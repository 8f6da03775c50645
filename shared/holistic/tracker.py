"""`Holistic`: pose, both hands and the face of one person, frame by frame, as
mediapipe/modules/holistic_landmark/holistic_landmark_cpu.pbtxt assembles them.

- Pose (pose_landmark_cpu.pbtxt): the pose detector only when no pose is tracked; else the
  crop comes from the previous frame's auxiliary landmarks. A pose under the presence
  threshold is lost; as the hand tracker does (shared/hands/finder.py), the detector then
  runs on that same frame rather than the next one, since all the frames are at hand.
- Hands (hand_landmarks_left_and_right_cpu.pbtxt, hand_landmarks_from_pose_cpu.pbtxt): for
  each side whose pose wrist is visible (> 0.1), the re-crop model places the hand
  (holistic/recrop.py), the previous frame's hand rect is kept while RoiTracking allows,
  and the hand landmark model (shared/hands/landmarks.py) runs on the rect; a hand under
  its presence threshold is dropped. "left" is the subject's left (the pose's left wrist).
- Face (face_landmarks_from_pose_cpu.pbtxt): holistic/face.py, from the pose's face points,
  when the options name the face bundles; else `face` is None (holistic_1662's zeros).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from shared.face.contract import DETECTION_TASK as FACE_DETECTION_TASK
from shared.face.detect import FaceDetector
from shared.facemesh.mesh import FaceMesh
from shared.facemesh.options import FaceMeshOptions
from shared.hands.landmarks import HandLandmarker, HandLandmarks, load_landmarker
from shared.hands.rect import RotatedRect, from_landmarks
from shared.holistic.face import HolisticFace
from shared.holistic.options import HolisticOptions
from shared.holistic.pose import DETECTION_TASK, LANDMARK_TASK, PoseDetector, PoseLandmarker, PoseLandmarks
from shared.holistic.recrop import TASK as RECROP_TASK
from shared.holistic.recrop import HandRecrop, keep_tracking, pose_hand_rect
from shared.runtime.bundle import Bundle, load_as
from shared.runtime.lazy import Parts

SIDES = ("left", "right")


@dataclass(frozen=True)
class HolisticFrame:
    """One frame's person. Attributes: pose (None: no pose); hands: side ("left", "right",
    the subject's) -> HandLandmarks or None; face: (468, 3) pixels or None; size (width,
    height) of the image, pixels; pose_detected: whether the pose detector ran here."""

    pose: PoseLandmarks | None
    hands: dict[str, HandLandmarks | None]
    face: np.ndarray | None
    size: tuple[int, int]
    pose_detected: bool


class Holistic:
    """Pose detector, pose landmarks, hand re-crop and hand landmarks: `find(rgb)`, `track(frames)`."""

    def __init__(
        self, detector: PoseDetector, pose: PoseLandmarker, recrop: HandRecrop, hands: HandLandmarker, face: HolisticFace | None = None
    ):
        self.detector, self.pose, self.recrop, self.hands, self.face = detector, pose, recrop, hands, face

    @classmethod
    def load(cls, options: HolisticOptions, parts: Parts | None = None) -> Holistic:
        """Every model of `options`; the hand landmark model through `parts` when given (the
        hand tracker's own interpreter, not a second copy)."""
        load = options.load
        face = None
        if options.face_detector and options.face_landmarks:
            detector = load_as(FaceDetector, options.face_detector, load, task=FACE_DETECTION_TASK)
            face = HolisticFace(detector, FaceMesh.load(FaceMeshOptions(options.face_landmarks, "", load)))
        return cls(
            load_as(PoseDetector, options.pose_detector, load, task=DETECTION_TASK),
            load_as(PoseLandmarker, options.pose_landmarks, load, task=LANDMARK_TASK),
            load_as(HandRecrop, options.hand_recrop, load, task=RECROP_TASK),
            load_landmarker(options.hands.landmarks, load, parts),
            face,
        )

    def bundles(self) -> list[Bundle]:
        faces = self.face.bundles() if self.face else []
        return [self.detector.bundle, self.pose.bundle, self.recrop.bundle, self.hands.bundle, *faces]

    def find(self, image: np.ndarray) -> HolisticFrame:
        """The person in one photo (the pose detector runs)."""
        return next(self.track([image]))

    def _detect_pose(self, image: np.ndarray) -> PoseLandmarks | None:
        found = self.detector.detect(image)[:1]  # pose_landmark_cpu.pbtxt keeps the first detection
        return self._pose(image, found[0].rect) if found else None

    def _pose(self, image: np.ndarray, rect: RotatedRect) -> PoseLandmarks | None:
        pose = self.pose.landmarks(image, rect)
        return pose if pose.score >= self.pose.min_presence else None

    def _hand(self, image: np.ndarray, pose: PoseLandmarks, side: str, previous: HandLandmarks | None) -> HandLandmarks | None:
        indices = self.pose.hand_points[side]
        if pose.visibility[indices[0]] <= self.pose.min_wrist_visibility:
            return None
        recrop = self.recrop.rect(image, pose_hand_rect(pose.points, indices, self.pose.hand_rect))
        rect = recrop
        if previous is not None:
            tracked = self.hands.tracking_rect.apply(from_landmarks(previous.points[:, :2]))
            if keep_tracking(tracked, previous.points, recrop, self.recrop.tracking):
                rect = tracked
        hand = self.hands.landmarks(image, rect)
        return hand if hand.presence >= self.hands.min_presence else None

    def track(self, frames: Iterable[np.ndarray]) -> Iterator[HolisticFrame]:
        """The person frame by frame; a new frame size starts the tracking again."""
        pose: PoseLandmarks | None = None
        hands: dict[str, HandLandmarks | None] = dict.fromkeys(SIDES)
        face: np.ndarray | None = None
        size: tuple[int, int] | None = None
        for image in frames:
            here = (image.shape[1], image.shape[0])
            if here != size:
                pose, hands, face = None, dict.fromkeys(SIDES), None
            tracked = self._pose(image, pose.next_rect) if pose is not None else None
            detected = tracked is None
            pose = self._detect_pose(image) if detected else tracked
            if pose is None:
                hands, face = dict.fromkeys(SIDES), None
            else:
                hands = {side: self._hand(image, pose, side, hands[side]) for side in SIDES}
                face = self.face.face(image, pose.points, face) if self.face else None
            yield HolisticFrame(pose, hands, face, here, detected)
            size = here
