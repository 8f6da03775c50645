"""What a frame's face mesh says about the head and the eyes (pure numpy over 468 landmarks).

Landmark indices are MediaPipe's canonical face mesh (mediapipe/modules/face_geometry/data/
canonical_face_model_uv_visualization.png): 234 and 454 the face's left and right edge at
the cheekbones (image left and right in an unmirrored photo), 10 the top of the forehead,
152 the chin, and the six points of each eye that Soukupova and Cech's eye aspect ratio
(2016) uses: corners 33/133 and 362/263, lids 160/144, 158/153 and 385/380, 387/373.

Conventions, for frames as the camera sees them (not mirrored): yaw > 0 when the nose
turns toward the image's right, which is the subject's left (`turn_left`); pitch > 0
when the chin comes forward and the forehead goes back (`look_up`). Both come from the
mesh's depth (z), which tracks the nose's sideways offset closely (correlation 0.99 over
400 lfw-dev photos, docs/liveness.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CHEEK_LEFT, CHEEK_RIGHT, FOREHEAD, CHIN = 234, 454, 10, 152
EYES = ((33, 160, 158, 133, 153, 144), (362, 385, 387, 263, 373, 380))  # p1..p6 of each eye


@dataclass(frozen=True)
class FrameMeasure:
    """Attributes: yaw, pitch (degrees, see the module docstring); ear (mean eye aspect
    ratio of both eyes: ~0.25-0.35 open, under ~0.15 closed); points ((468, 2) pixels, for
    the planarity test); size (the face's landmark box diagonal, pixels)."""

    yaw: float
    pitch: float
    ear: float
    points: np.ndarray
    size: float


def eye_aspect_ratio(points: np.ndarray, eye: tuple[int, ...]) -> float:
    """(|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|) over one eye's six landmarks."""
    p1, p2, p3, p4, p5, p6 = (points[i, :2] for i in eye)
    width = max(float(np.linalg.norm(p1 - p4)), 1e-6)
    return float((np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2 * width))


def measure(points: np.ndarray) -> FrameMeasure:
    """A frame's measures from its (468, 3) mesh in pixels (z at the x scale)."""
    p = np.asarray(points, dtype=np.float64)
    yaw = math.degrees(math.atan2(p[CHEEK_RIGHT, 2] - p[CHEEK_LEFT, 2], p[CHEEK_RIGHT, 0] - p[CHEEK_LEFT, 0]))
    pitch = math.degrees(math.atan2(p[FOREHEAD, 2] - p[CHIN, 2], p[CHIN, 1] - p[FOREHEAD, 1]))
    ear = (eye_aspect_ratio(p, EYES[0]) + eye_aspect_ratio(p, EYES[1])) / 2
    size = float(np.hypot(*np.ptp(p[:, :2], axis=0)))
    return FrameMeasure(yaw, pitch, ear, p[:, :2].copy(), size)


def planar_residual(a: np.ndarray, b: np.ndarray) -> float:
    """How far (N, 2) points `b` are from being a perspective view of `a` as a flat picture:
    the mean distance left after the best homography a -> b (least squares, DLT on
    normalised points), as a fraction of b's box diagonal. A printed photo turned or tilted
    in front of the camera moves as a plane (near 0); a head turning in 3D does not (the
    nose moves across the cheeks)."""
    src, dst = _normalise(a), _normalise(b)
    x, y = src[0][:, 0], src[0][:, 1]
    u, v = dst[0][:, 0], dst[0][:, 1]
    zero, one = np.zeros_like(x), np.ones_like(x)
    rows = np.concatenate(
        [
            np.stack([x, y, one, zero, zero, zero, -u * x, -u * y, -u], axis=1),
            np.stack([zero, zero, zero, x, y, one, -v * x, -v * y, -v], axis=1),
        ]
    )
    h = np.linalg.svd(rows, full_matrices=False)[2][-1].reshape(3, 3)
    mapped = np.column_stack([src[0], one]) @ h.T
    mapped = mapped[:, :2] / mapped[:, 2:3]
    error = np.linalg.norm(mapped - dst[0], axis=1).mean() * dst[1]  # back to b's pixels
    return float(error / max(float(np.hypot(*np.ptp(b, axis=0))), 1e-6))


def _normalise(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Points centred with mean distance sqrt(2) (Hartley), and the scale undone by * scale."""
    p = np.asarray(points, dtype=np.float64)
    centred = p - p.mean(axis=0)
    scale = float(np.mean(np.linalg.norm(centred, axis=1))) / math.sqrt(2) or 1.0
    return centred / scale, scale
