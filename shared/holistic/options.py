"""Options of the Holistic pipeline (light: read at start without importing the pipeline)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.hands.options import HandOptions
from shared.runtime.options import LoadOptions


@dataclass(frozen=True)
class HolisticOptions:
    """Attributes: pose_detector, pose_landmarks, hand_recrop (bundle sources: folders or
    gs:// URIs); hands (the hand landmark bundle is the one the hand pipeline uses); load."""

    pose_detector: str
    pose_landmarks: str
    hand_recrop: str
    hands: HandOptions
    load: LoadOptions = LoadOptions()
