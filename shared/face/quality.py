"""A quality verdict per photo: can this face be judged, and if not, what should the person do?

Measured on what the embedder sees (its aligned chip) and on the face's keypoints, for the
cost of a few numpy operations on a 112 px chip:

- `eye_px`: the distance between the eyes in the original photo's pixels (the face's size);
- `sharpness`: the standard deviation of the chip's Laplacian over that of its pixels, in
  the middle of the chip (blur and upscaled small faces lower it; contrast does not);
- `brightness`: the mean grey level (0-255) in the middle of the chip;
- `yaw`, `pitch`, `roll`: the head's pose in degrees, estimated from the keypoints (roll:
  the eye line's angle; yaw: the nose tip's offset from the eyes' midpoint across the eye
  line; pitch: the nose tip's height between the eyes and the mouth). Estimates from six
  points, good to ~10 degrees; roll is corrected by the alignment and never a reason;
- `grayscale`: the chip has no colour (a photocopy, an older document);
- `outside`: the share of the aligned chip that lies beyond the photo's edge (a face-filling
  crop: an ID thumbnail or an avatar cut to the face; its chip continues the border, and
  such chips of different people look alike). Over TIGHT_OUTSIDE the face is `tight`.
  Grayscale and tight crops are conditions of the operating point (operating.py: stricter
  thresholds), not reasons: an ID photo is what it is;
- `found_by`: the detection step that found the face (search.py).

One reason is read from the file: `over_compressed`, a JPEG (or MPO) saved at an IJG quality
under MIN_JPEG_QUALITY, estimated from the luminance quantisation table its header declares
(shared.images.jpeg.quality_of: the table Pillow parsed, no second read; the nearest of
libjpeg's tables at qualities 1-100). Heavy compression smears a face's detail into 8x8
blocks. Only JPEG inputs carry that trace: a PNG or WebP of a once heavily compressed photo
is not judged by it.

One reason is read from the embedder instead of the pixels, once the chip is embedded
(`judge_embedding`): `unreliable_face`, the embedding's length before normalisation under
the embedder bundle's limit (bundle.json `quality`; SFace's vectors are long for faces it
reads well, as magnitude-aware face models' are: a face-filling crop cut inside the face, a
face found upside down or on its side, heavy JPEG). It is a reason to reject, not a
condition (operating.py): it tightens no threshold.

Each limit below was set on the development variants (tools/calibrate/capture_variants.py,
lfw-dev and deepface only) where the errors concentrate; docs/accuracy.md has the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from shared.errors import LowQuality
from shared.face.align import TIGHT_OUTSIDE, outside_share
from shared.face.options import QUALITY_POLICIES as POLICIES

MIN_EYE_PX = 12.0  # eyes closer than this (original pixels): the chip (35 px between the eyes) is upscaled 3x
MIN_SHARPNESS = 0.15  # Laplacian std / pixel std in the chip's middle
MIN_BRIGHTNESS = 45.0  # mean grey level of the chip's middle
MAX_BRIGHTNESS = 215.0
MIN_JPEG_QUALITY = 30  # IJG quality; development photos: lfw-dev 90, deepface's web JPEGs 67-100, the jpeg variant 10-15
MAX_YAW = 70.0  # degrees: a profile, its far eye hidden
MIN_PITCH, MAX_PITCH = -50.0, 35.0  # degrees; negative: the nose tip nearer the eyes than a frontal face's
GRAY_CHROMA = 2.0  # mean |R - G| + |G - B| under which the chip is grayscale
HINTS = {
    "small_face": "move closer to the camera, or send a larger photo: the face is too small",
    "blurry": "hold the camera still and let it focus: the face is blurred",
    "too_dark": "add light in front of the face: it is too dark",
    "overexposed": "avoid strong light on the face or a bright window behind it: it is overexposed",
    "turned_away": "face the camera directly, head level",
    "over_compressed": "send the original photo, not a copy saved again at a low quality: this one is heavily compressed",
    "unreliable_face": (
        "retake the photo upright and facing the camera, in good light, with the whole head and some space around it"
        " in the frame: the face cannot be read reliably"
    ),
}


@dataclass(frozen=True)
class Quality:
    """One photo's quality. Attributes: the measures above; reasons (names in HINTS order,
    empty when the photo is good)."""

    eye_px: float
    sharpness: float
    brightness: float
    yaw: float
    pitch: float
    roll: float
    grayscale: bool
    found_by: str
    reasons: tuple[str, ...]
    outside: float = 0.0

    @property
    def tight(self) -> bool:
        return self.outside > TIGHT_OUTSIDE

    @property
    def good(self) -> bool:
        return not self.reasons

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Quality:
        """A quality back from its cached form (`dataclasses.asdict`, through JSON)."""
        numbers = {k: float(record[k]) for k in ("eye_px", "sharpness", "brightness", "yaw", "pitch", "roll", "outside")}
        if not isinstance(record["grayscale"], bool) or not isinstance(record["found_by"], str):
            raise ValueError("cached quality record is malformed")
        reasons = tuple(str(r) for r in record["reasons"])
        if any(r not in HINTS for r in reasons):
            raise ValueError("cached quality record is malformed")
        return cls(**numbers, grayscale=record["grayscale"], found_by=record["found_by"], reasons=reasons)

    def to_dict(self) -> dict[str, Any]:
        """{"verdict": "good" | "poor", "reasons", "hint" (when poor), the measures rounded}."""
        out: dict[str, Any] = {"verdict": "good" if self.good else "poor", "reasons": list(self.reasons)}
        if self.reasons:
            out["hint"] = hint(self.reasons)
        out.update(
            eye_px=round(self.eye_px, 1),
            sharpness=round(self.sharpness, 3),
            brightness=round(self.brightness, 1),
            pose={"yaw": round(self.yaw, 1), "pitch": round(self.pitch, 1), "roll": round(self.roll, 1)},
            grayscale=self.grayscale,
            outside=round(self.outside, 3),
            tight=self.tight,
            found_by=self.found_by,
        )
        return out


def hint(reasons: tuple[str, ...] | list[str]) -> str:
    """What a person can do about `reasons`, in one sentence."""
    text = "; ".join(HINTS[r] for r in reasons)
    return text[0].upper() + text[1:] + "."


def measure(
    chip: np.ndarray,
    keypoints: tuple[tuple[float, float], ...],
    scale: float,
    found_by: str,
    shape: tuple[int, ...],
    jpeg_quality: int | None = None,
) -> Quality:
    """The quality of a face from its aligned chip ((S, S, 3) uint8 RGB), its six keypoints
    (working pixels, detect.KEYPOINT_NAMES order), `scale` (working -> original pixels), the
    working photo's `shape` and the photo's `jpeg_quality` (decode.Photo; None: not a JPEG)."""
    (rx, ry), (lx, ly), (nx, ny), (mx, my) = keypoints[:4]
    ex, ey = lx - rx, ly - ry
    eye = math.hypot(ex, ey) or 1.0
    roll = math.degrees(math.atan2(ey, ex))
    # The nose and mouth in the frame of the eye line: u along it, v across (downwards).
    cx, cy = (lx + rx) / 2, (ly + ry) / 2
    ux, uy = ex / eye, ey / eye
    nose_u, nose_v = ((nx - cx) * ux + (ny - cy) * uy) / eye, (-(nx - cx) * uy + (ny - cy) * ux) / eye
    mouth_v = (-(mx - cx) * uy + (my - cy) * ux) / eye
    # Frontal: the nose tip sits on the eyes' bisector (u = 0) about 0.55 of the way to the mouth.
    # Turned by yaw, the nose tip (about half an eye distance in front of the eyes) moves
    # across by 0.5 sin(yaw) while the eye line shrinks by cos(yaw): u = 0.5 tan(yaw).
    yaw = math.degrees(math.atan(2.0 * nose_u))
    ratio = nose_v / mouth_v if mouth_v > 1e-6 else 0.0
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, 2.5 * (ratio - 0.55)))))

    size = chip.shape[0]
    middle = chip[size // 4 : size - size // 4, size // 4 : size - size // 4].astype(np.float32)
    grey = middle @ np.array([0.299, 0.587, 0.114], np.float32)
    laplacian = grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    sharpness = float(laplacian.std() / (grey.std() + 1.0))
    brightness = float(grey.mean())
    chroma = float(np.abs(middle[..., 0] - middle[..., 1]).mean() + np.abs(middle[..., 1] - middle[..., 2]).mean())
    eye_px = eye * scale

    reasons = reasons_for(eye_px, sharpness, brightness, yaw, pitch, jpeg_quality)
    outside = outside_share(keypoints, shape)
    return Quality(eye_px, sharpness, brightness, yaw, pitch, roll, chroma < GRAY_CHROMA, found_by, reasons, outside)


def reasons_for(
    eye_px: float, sharpness: float, brightness: float, yaw: float, pitch: float, jpeg_quality: int | None = None
) -> tuple[str, ...]:
    """The reasons a face with these measures, in a photo saved at `jpeg_quality` (None: not
    a JPEG), cannot be judged well (HINTS' names)."""
    reasons = []
    if eye_px < MIN_EYE_PX:
        reasons.append("small_face")
    if sharpness < MIN_SHARPNESS:
        reasons.append("blurry")
    if brightness < MIN_BRIGHTNESS:
        reasons.append("too_dark")
    if brightness > MAX_BRIGHTNESS:
        reasons.append("overexposed")
    if abs(yaw) > MAX_YAW or not MIN_PITCH <= pitch <= MAX_PITCH:
        reasons.append("turned_away")
    if jpeg_quality is not None and jpeg_quality < MIN_JPEG_QUALITY:
        reasons.append("over_compressed")
    return tuple(reasons)


def judge_embedding(verdict: Quality, embedding: np.ndarray, min_norm: tuple[float, float] | None) -> Quality:
    """`verdict` with `unreliable_face` added when the face's embedding (before normalisation)
    is shorter than the embedder's limit, `min_norm` (faces inside the photo, tight faces:
    EmbedderContract.min_norm; None: never). One norm of the vector already computed."""
    if min_norm is None or float(np.linalg.norm(embedding)) >= min_norm[1 if verdict.tight else 0]:
        return verdict
    return replace(verdict, reasons=(*verdict.reasons, "unreliable_face"))


def enforce(policy: str, qualities: dict[str, Quality | None]) -> None:
    """Under the `reject` policy, LowQuality (422 low_quality) naming each poor photo's
    reasons and what to do; nothing under `report`."""
    if policy not in POLICIES:
        raise ValueError(f"quality policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    poor = {name: q.reasons for name, q in qualities.items() if q is not None and q.reasons}
    if policy == "report" or not poor:
        return
    said = "; ".join(f"{name}: {', '.join(reasons)}" for name, reasons in poor.items())
    every = tuple(dict.fromkeys(r for reasons in poor.values() for r in reasons))
    raise LowQuality(
        f"photo quality too low to judge ({said})",
        details={"reasons": {name: list(reasons) for name, reasons in poor.items()}, "hint": hint(every)},
    )
