"""Options of the gesture pipeline (light: settings reads their defaults from here without
importing numpy or a TFLite runtime)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from shared.hands.options import HandOptions
from shared.holistic.options import HolisticOptions
from shared.images.limits import DecodeLimits
from shared.runtime.options import MODEL_RETRY_S, LoadOptions
from shared.video.limits import VideoLimits

if TYPE_CHECKING:
    from shared.settings import Settings


@dataclass(frozen=True)
class GestureOptions:
    """Attributes: models (bundle sources; the first is the default), load (threads,
    timeout, runtime), max_frames (most frames in one request), hands (the hand bundles
    photos go through), decode (photo budgets), max_photos (most photos in one request),
    retry_s (seconds before a failed hand-model load is tried again), holistic (the
    Holistic bundles: pose, hand re-crop), video (clip budgets)."""

    models: tuple[str, ...]
    load: LoadOptions = LoadOptions()
    max_frames: int = 1024
    hands: HandOptions | None = None
    decode: DecodeLimits = field(default_factory=DecodeLimits)
    max_photos: int = 64
    retry_s: float = MODEL_RETRY_S
    holistic: HolisticOptions | None = None
    video: VideoLimits = field(default_factory=VideoLimits)

    @classmethod
    def from_settings(cls, settings: Settings) -> GestureOptions:
        load = LoadOptions.from_settings(settings)
        hands = HandOptions(settings.hand_detector_model, settings.hand_landmark_model, load)
        s = settings
        face = (s.face_detector_model, s.face_landmark_model) if s.face_landmark_model else ("", "")
        holistic = HolisticOptions(s.pose_detector_model, s.pose_landmark_model, s.hand_recrop_model, hands, load, *face)
        video = replace(VideoLimits(), max_seconds=s.max_video_seconds, max_side=s.max_video_side, working_side=s.hand_image_side)
        return cls(
            settings.gesture_models,
            load,
            settings.max_frames,
            hands,
            replace(DecodeLimits.from_settings(settings), max_side=settings.hand_image_side),
            settings.max_photo_frames,
            settings.model_retry_s,
            holistic,
            video,
        )

    @property
    def all_local(self) -> bool:
        """True when no bundle lives in object storage (loading them costs milliseconds)."""
        return not any(source.startswith("gs://") for source in self.models)
