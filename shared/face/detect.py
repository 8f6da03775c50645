"""Face detection with MediaPipe's BlazeFace models, in plain numpy + Pillow.

`FaceDetector(bundle).detect(rgb)` does what MediaPipe's face_detection graph does
(mediapipe/modules/face_detection/face_detection.pbtxt): letterbox the image into the
model's square input with values in [-1, 1], run the model, decode the SSD boxes and
keypoints against anchors (SsdAnchorsCalculator), keep scores over the threshold, merge
overlapping boxes with weighted non-maximum suppression, and map the result back to the
image. Every option comes from the bundle's bundle.json.

Coordinates: pixels of the input image, x to the right, y down, origin at the top-left
corner of the top-left pixel (continuous: the centre of pixel (0, 0) is (0.5, 0.5)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.face.options import SELECTIONS
from shared.runtime.bundle import Bundle
from shared.runtime.lazy import Lazy
from shared.vision.detector import input_tensor, raw_detections, ssd_head
from shared.vision.geometry import Box, Letterbox, box_iou, check_image, crop

# MediaPipe's keypoint order; "right"/"left" are the subject's (right_eye is on the image's
# left for a frontal, unmirrored photo).
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion")
RIGHT_EYE, LEFT_EYE, NOSE_TIP, MOUTH_CENTER, RIGHT_EAR, LEFT_EAR = range(6)
# refine(): the crop is this many face-box sides wide, so the face fills about half the
# model input, where BlazeFace's keypoints are sharp and the face is still well framed.
REFINE_CONTEXT = 2.0
# refine(): a face found in the crop is the same face when its box overlaps this much.
REFINE_MIN_IOU = 0.3


@dataclass(frozen=True)
class Face:
    """One detected face.

    Attributes:
        box: (x, y, w, h) in image pixels, top-left corner and size, clipped to the image.
        score: detection confidence in [0, 1].
        keypoints: 6 (x, y) points in image pixels, in KEYPOINT_NAMES order (not clipped).
    """

    box: Box
    score: float
    keypoints: tuple[tuple[float, float], ...]

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


class FaceDetector:
    """A BlazeFace bundle ready to find faces: `detect(rgb) -> [Face]`, thread-safe.

    All options (input size, letterbox, anchors, decoding, thresholds) come from the
    bundle's DetectorContract (vision/detector.py), checked against the model once, when
    the detector is built; so are the anchors.
    """

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self.name = bundle.name
        self._head = ssd_head(bundle)
        self.contract = self._head.contract
        keypoints = self.contract.num_keypoints
        if keypoints != len(KEYPOINT_NAMES):
            raise bundle.manifest.fault("postprocessing.decoding.num_keypoints", keypoints, "6 (BlazeFace's face keypoints)")

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in an (H, W, 3) uint8 RGB image, largest first; [] when there is none."""
        check_image(image)
        tensor, box = input_tensor(image, self.contract)
        merged = raw_detections(self.bundle.model, tensor, self._head)
        faces = [to_face(points, score, box, image.shape[:2]) for points, score in merged]
        return sorted(faces, key=lambda f: f.area, reverse=True)

    def refine(self, image: np.ndarray, face: Face, context: float = REFINE_CONTEXT) -> Face:
        """The same face detected again in a square crop `context` times its box's longer
        side, so it fills a good part of the model input and its keypoints come out at a
        few times the resolution of a detection on the whole photo (which, for a face of
        ~300 px in a 2000 px photo, is an 18 px face in a 128 px input). Returns `face`
        unchanged when the crop yields no overlapping face."""
        check_image(image)
        x, y, w, h = face.box
        side = max(w, h, 1.0) * context
        x0, y0 = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
        size = round(side)
        around = crop(image, x0, y0, x0 + size, y0 + size)
        candidates = [shift(f, x0, y0, image.shape[:2]) for f in self.detect(around)]
        overlaps = [box_iou(face.box, f.box) for f in candidates]
        if not candidates or max(overlaps) < REFINE_MIN_IOU:
            return face
        return candidates[int(np.argmax(overlaps))]


def shift(face: Face, dx: float, dy: float, shape: tuple[int, int]) -> Face:
    """A face found in a crop whose top-left corner is (dx, dy), in the full image's pixels."""
    x, y, w, h = face.box
    height, width = shape
    x0, y0 = min(max(x + dx, 0.0), width), min(max(y + dy, 0.0), height)
    x1, y1 = min(max(x + dx + w, 0.0), width), min(max(y + dy + h, 0.0), height)
    keypoints = tuple((px + dx, py + dy) for px, py in face.keypoints)
    return Face((x0, y0, x1 - x0, y1 - y0), face.score, keypoints)


def to_face(points: np.ndarray, score: float, box: Letterbox, shape: tuple[int, int]) -> Face:
    """A merged detection ((2 + K, 2) normalised to the input) as a Face in image pixels."""
    pixels = box.to_image(points)
    height, width = shape
    x0, y0 = np.clip(pixels[0], 0, [width, height])
    x1, y1 = np.clip(pixels[1], 0, [width, height])
    keypoints = tuple((float(x), float(y)) for x, y in pixels[2:])
    return Face((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), float(score), keypoints)


def selection_order(faces: list[Face], shape: tuple[int, int], selection: str = "central") -> list[Face]:
    """The faces in the order a policy prefers them, the one to compare first.

    "largest": by box area. "confident": by detection score. "central": by the box's side
    times (1 - its centre's distance from the photo's centre, as a fraction of the half
    diagonal), so a bystander who is larger but at the edge of a group photo loses to the
    subject in the middle, while a lone face anywhere still wins.
    """
    if selection == "largest":
        return sorted(faces, key=lambda f: f.area, reverse=True)
    if selection == "confident":
        return sorted(faces, key=lambda f: f.score, reverse=True)
    if selection != "central":
        raise ValueError(f"face selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    height, width = shape
    half_diagonal = float(np.hypot(width, height)) / 2 or 1.0

    def centrality(f: Face) -> float:
        x, y, w, h = f.box
        offset = float(np.hypot(x + w / 2 - width / 2, y + h / 2 - height / 2)) / half_diagonal
        return float(np.sqrt(f.area)) * (1.0 - min(offset, 1.0))

    return sorted(faces, key=centrality, reverse=True)


def _prefer_padded(faces: list[Face], padded: list[Face], shape: tuple[int, int], selection: str) -> tuple[list[Face], str]:
    """The chosen face touches the border: the padded canvas's detection of it when there is
    one (its keypoints are not pulled inwards by the missing context), else the direct one."""
    chosen = selection_order(faces, shape, selection)[0]
    overlaps = [box_iou(chosen.box, f.box) for f in padded]
    if not overlaps or max(overlaps) < REFINE_MIN_IOU:
        return faces, "direct"
    best = padded[int(np.argmax(overlaps))]
    return [best, *(f for f in faces if f is not chosen)], "padded"


class FaceFinder:
    """Where the face is in a photo: the short-range detector first, the full-range
    fallback (built on first need, off the cold-start path) when it finds nothing; the
    face the selection policy prefers is then re-detected on a crop around it for
    sharper keypoints."""

    def __init__(self, primary: FaceDetector, fallback: Lazy[FaceDetector] | None = None, selection: str = "central"):
        if selection not in SELECTIONS:
            raise ValueError(f"face selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
        self.primary = primary
        self.fallback = fallback
        self.selection = selection

    def find(self, image: np.ndarray) -> tuple[list[Face], str]:
        """(faces, the selected one first and refined, the rest in the policy's order; the
        name of the detector that found them). ([], name of the last detector tried) when
        there is no face."""
        faces, name, _ = self.locate(image)
        return faces, name

    def locate(self, image: np.ndarray) -> tuple[list[Face], str, str]:
        """`find`'s answer and the step that found the face (search.py: "direct", "padded",
        "full_range", "rotated_90"/"_180"/"_270" when nothing was found upright ("rotated_0":
        found on a turn, whose check turned it back: an upright crop found only that way),
        "turned_90"/"_180"/"_270" when the direct face was on its side or upside down; ""
        when none did).
        The fallbacks run only when the direct detection finds nothing, or when the chosen
        face touches the photo's border (padding) or does not look upright (a turn)."""
        from shared.face import search

        shape = image.shape[:2]
        (faces, found_by), name, turns = self._framed(image), self.primary.name, 0
        if not faces and self.fallback is not None:
            detector = self.fallback.get()
            faces, name, found_by = detector.detect(image), detector.name, "full_range"
        if faces:
            _, turns = search.upright(self.primary, image, selection_order(faces, shape, self.selection)[0])
            found_by = f"turned_{90 * turns}" if turns else found_by
        else:
            faces, turns = search.rotated(self.primary, image)
            found_by = f"rotated_{90 * turns}"
        if not faces:
            small = self.fallback.get() if self.fallback is not None else self.primary
            tile = search.TILE if self.fallback is not None else search.TILE // 2
            faces, found_by = search.tiled(small, image, tile), "tiled"
        if turns:  # select and refine in the upright frame, then back to the photo's pixels
            turned = np.ascontiguousarray(np.rot90(image, turns))
            upright, how = self._framed(turned)  # framed as an upright photo is: the same chip
            upright = selection_order(upright, turned.shape[:2], self.selection)
            if upright:
                upright[0] = upright[0] if how == "padded" else self.refine(turned, upright[0])
                return [search.unturn(f, turns, shape) for f in upright], self.primary.name, found_by
        faces = selection_order(faces, shape, self.selection)
        if faces and found_by != "padded":  # the padded canvas already framed it with context
            faces[0] = self.refine(image, faces[0])
        return faces, name, found_by if faces else ""

    def _framed(self, image: np.ndarray) -> tuple[list[Face], str]:
        """The short-range detector's faces and "direct"; the padded canvas's and "padded"
        when the chosen face touches the photo's border, or when nothing is found."""
        from shared.face import search

        shape = image.shape[:2]
        faces, found_by = self.primary.detect(image), "direct"
        if faces and search.touches_border(selection_order(faces, shape, self.selection)[0], shape):
            faces, found_by = _prefer_padded(faces, search.padded(self.primary, image), shape, self.selection)
        if not faces:  # a padded canvas also makes faces of suits and curtains: only a plausible one counts
            faces, found_by = [f for f in search.padded(self.primary, image) if search.plausible(f)], "padded"
        return faces, found_by

    def refine(self, image: np.ndarray, face: Face) -> Face:
        """`face` detected again by the short-range detector on a crop around it, for
        sharper keypoints (FaceDetector.refine); `find` does it for the selected face."""
        return self.primary.refine(image, face)

    def bundles(self) -> list[Bundle]:
        """The loaded detector bundles: primary, and the fallback once loaded."""
        fallback = [self.fallback.get().bundle] if self.fallback is not None and self.fallback.ready else []
        return [self.primary.bundle, *fallback]

    def describe(self) -> dict:
        return {"fallback_detector": self.fallback.status() if self.fallback is not None else None, "face_selection": self.selection}
