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
from typing import Iterable

import numpy as np
from PIL import Image

from ..bundle import Bundle
from .ssd import decode, ssd_anchors, weighted_nms

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

    box: tuple[float, float, float, float]
    score: float
    keypoints: tuple[tuple[float, float], ...]

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]

    def to_dict(self) -> dict:
        """The face as an HTTP answer's `facial_areas` entry (integer pixels)."""
        x, y, w, h = self.box
        eye = lambda i: [int(round(v)) for v in self.keypoints[i]]  # noqa: E731
        return {"x": int(round(x)), "y": int(round(y)), "w": int(round(w)), "h": int(round(h)),
                "score": round(float(self.score), 4), "left_eye": eye(LEFT_EYE), "right_eye": eye(RIGHT_EYE)}


@dataclass(frozen=True)
class Letterbox:
    """Where the image sits inside the model's square input.

    Attributes: size (input side, px), offset (x, y) of the image's top-left corner in the
    input, scale (sx, sy) input px per image px (they differ by at most rounding).
    """

    size: int
    offset: tuple[int, int]
    scale: tuple[float, float]

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) points normalised to the input -> image pixels."""
        return (points * self.size - np.asarray(self.offset)) / np.asarray(self.scale)


def letterbox(image: np.ndarray, size: int, pad_value: int = 0) -> tuple[np.ndarray, Letterbox]:
    """Scale the longer side to `size`, keep the aspect ratio, centre, pad with pad_value.

    image: (H, W, 3) uint8 RGB. Returns the (size, size, 3) uint8 input and the mapping.
    Resizing first (not padding the full image to a square first) keeps memory small.
    """
    height, width = image.shape[:2]
    factor = size / max(height, width)
    new_w, new_h = max(1, round(width * factor)), max(1, round(height * factor))
    resized = Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    canvas = Image.new("RGB", (size, size), (pad_value,) * 3)
    offset = ((size - new_w) // 2, (size - new_h) // 2)
    canvas.paste(resized, offset)
    return np.asarray(canvas), Letterbox(size, offset, (new_w / width, new_h / height))


def crop(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """image[y0:y1, x0:x1] as a new (y1-y0, x1-x0, 3) array, black where the box leaves the
    image (as PIL's crop), without first copying the whole image into a PIL image."""
    out = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    height, width = image.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def check_image(image: np.ndarray) -> None:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {got}")
    if min(image.shape[:2]) < 1:
        raise ValueError(f"image has no pixels: shape {image.shape}")


class FaceDetector:
    """A BlazeFace bundle ready to find faces: `detect(rgb) -> [Face]`, thread-safe.

    All options (input size, letterbox, anchors, decoding, thresholds) are read from
    bundle.meta once; anchors are built here, once per detector.
    """

    def __init__(self, bundle: Bundle):
        meta = bundle.meta
        self.bundle = bundle
        self.name = bundle.name
        post = meta["postprocessing"]
        self._size = int(meta["preprocessing"]["input_size"][0])
        self._pad = int(meta["preprocessing"].get("pad_value", 0))
        self._low, self._high = (float(v) for v in meta["preprocessing"]["value_range"])
        self._decoding = post["decoding"]
        self._nms_threshold = float(post["nms"]["min_suppression_threshold"])
        self._anchors = ssd_anchors(post["anchors"])
        names = [t.name for t in bundle.model.outputs]
        self._outputs = (names.index(post["output_tensors"]["boxes"]), names.index(post["output_tensors"]["scores"]))
        if len(self._anchors) != self._decoding["num_boxes"]:
            raise ValueError(f"{self.name}: {len(self._anchors)} anchors, bundle says {self._decoding['num_boxes']} boxes")

    @property
    def min_score(self) -> float:
        return float(self._decoding["min_score_thresh"])

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in an (H, W, 3) uint8 RGB image, largest first; [] when there is none."""
        check_image(image)
        pixels, box = letterbox(image, self._size, self._pad)
        tensor = pixels.astype(np.float32) * ((self._high - self._low) / 255.0) + self._low
        outputs = self.bundle.model.run(tensor[None])
        raw_boxes, raw_scores = outputs[self._outputs[0]][0], outputs[self._outputs[1]][0]
        boxes, scores = decode(raw_boxes, raw_scores, self._anchors, self._decoding)
        keep = (scores >= self.min_score) & np.all(boxes[:, 1] > boxes[:, 0], axis=1)
        merged = weighted_nms(boxes[keep], scores[keep], self._nms_threshold)
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
        x0, y0 = int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2))
        size = int(round(side))
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


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def to_face(points: np.ndarray, score: float, box: Letterbox, shape: tuple[int, int]) -> Face:
    """A merged detection ((2 + K, 2) normalised to the input) as a Face in image pixels."""
    pixels = box.to_image(points)
    height, width = shape
    x0, y0 = np.clip(pixels[0], 0, [width, height])
    x1, y1 = np.clip(pixels[1], 0, [width, height])
    keypoints = tuple((float(x), float(y)) for x, y in pixels[2:])
    return Face((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), float(score), keypoints)


def detect_faces(image: np.ndarray, detectors: Iterable[FaceDetector]) -> tuple[list[Face], str]:
    """Try detectors in order (short range, then the full-range fallback); `detectors`
    may be a generator, so a fallback is only built when reached.

    Returns the faces of the first detector that finds any and its bundle name; when none
    finds a face: ([], the name of the last detector tried), or ([], "") for no detectors.
    """
    name = ""
    for detector in detectors:
        name = detector.name
        faces = detector.detect(image)
        if faces:
            return faces, name
    return [], name
