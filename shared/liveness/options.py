"""Options of the liveness check (light: read by settings at start, no numpy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.state.store import StoreOptions

if TYPE_CHECKING:
    from shared.settings import Settings

ACTIONS = ("turn_left", "turn_right", "look_up", "blink")
MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class LivenessOptions:
    """Attributes:
    secret: LIVENESS_SECRET's bytes, the HMAC key ("" = liveness off: a challenge request is
        a 404-like refusal, 403 `liveness_disabled`);
    ttl_s: how long a challenge may be answered (LIVENESS_TTL_S);
    min_frames, max_frames: a burst's length (10-30 photos over ~3 s is the intended use);
    yaw_deg: the head turn an action needs, degrees from the burst's first frames;
    pitch_deg: the same for looking up;
    blink_drop: an eye-aspect-ratio dip of this fraction below the open-eye level, and back
        above (1 - blink_drop / 2) of it, is a blink;
    max_planar_residual: a head turn whose landmarks move as a flat picture does (a
        homography fits them within this fraction of the face size) is refused;
    max_planar_residual_up: the same for looking up, lower: a head raised 10-15 degrees moves
        its landmarks less out of plane than one turned 15-30 (lfw-dev: tools/measure/
        liveness_flat_bound.py, docs/liveness.md), while a tilted print stays as flat;
    face_landmarks: the face mesh bundle; store: Redis for one-time tokens.
    """

    secret: bytes = b""
    ttl_s: float = 120.0
    min_frames: int = 6
    max_frames: int = 30
    yaw_deg: float = 15.0
    pitch_deg: float = 10.0
    blink_drop: float = 0.3
    max_planar_residual: float = 0.012
    max_planar_residual_up: float = 0.009
    face_landmarks: str = ""
    store: StoreOptions = StoreOptions()

    @property
    def enabled(self) -> bool:
        return len(self.secret) >= MIN_SECRET_BYTES

    @classmethod
    def from_settings(cls, settings: Settings) -> LivenessOptions:
        return cls(
            secret=settings.liveness_secret.encode(),
            ttl_s=settings.liveness_ttl_s,
            max_frames=settings.max_liveness_frames,
            face_landmarks=settings.face_landmark_model,
            store=StoreOptions.from_settings(settings),
        )
