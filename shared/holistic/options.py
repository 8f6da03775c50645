"""Options of the Holistic pipeline (light: read at start without importing the pipeline)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.hands.options import HandOptions
from shared.runtime.options import LoadOptions


@dataclass(frozen=True)
class HolisticOptions:
    """Attributes: pose_detector, pose_landmarks, hand_recrop (bundle sources: folders or
    gs:// URIs); hands (the hand landmark bundle is the one the hand pipeline uses); load;
    face_detector, face_landmarks: the short-range face detector and the face mesh's
    landmark bundle ("" = no face: holistic_1662's face slots stay zeros)."""

    pose_detector: str
    pose_landmarks: str
    hand_recrop: str
    hands: HandOptions
    load: LoadOptions = LoadOptions()
    face_detector: str = ""
    face_landmarks: str = ""
