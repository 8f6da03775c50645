"""What a face bundle's bundle.json promises, read and checked once, when the bundle loads.

A missing or mistyped field is a BundleError naming it (``preprocessing.input_size``), so a
request never meets a half-valid bundle and a client never sees a ``KeyError``.

face-detection bundles (MediaPipe BlazeFace)::

    "preprocessing": {"input_size": [128, 128], "pad_value": 0, "value_range": [-1.0, 1.0]},
    "postprocessing": {"output_tensors": {"boxes": "regressors", "scores": "classificators"},
                       "anchors": {... SsdAnchorsCalculator options ...},
                       "decoding": {... TensorsToDetectionsCalculator options ...},
                       "nms": {"min_suppression_threshold": 0.3}}

face-embedding bundles::

    "preprocessing": {"crop": "dlib_chip", "size": 150, "padding": 0.25}   (or "crop": "arcface", "size": 112),
    "output": {"dims": 128},
    "threshold": {"metric": "cosine", "value": 0.0924,
                  "operating_points": {"strict": {"value": 0.0801, ...}, ...}}  (optional)
    "confidence": {"kind": "logistic", "intercept": 25.1, "slope": -40.2, ...}   (optional;
                  fitted by tools/calibrate/fit_confidence.py)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from shared.errors import BundleError

DETECTION_TASK = "face-detection"
EMBEDDING_TASK = "face-embedding"
METRICS = ("cosine", "euclidean")
# Face chip recipes (shared.face.align): dlib's 150 px chip with padding, or the ArcFace
# 112 px five-point template that SFace and other ArcFace-family embedders were trained on.
CROPS = ("dlib_chip", "arcface")

ANCHOR_KEYS = (
    "num_layers",
    "strides",
    "input_size_height",
    "input_size_width",
    "min_scale",
    "max_scale",
    "anchor_offset_x",
    "anchor_offset_y",
    "aspect_ratios",
)
DECODING_KEYS = (
    "num_coords",
    "box_coord_offset",
    "keypoint_coord_offset",
    "num_keypoints",
    "num_values_per_keypoint",
    "num_boxes",
    "x_scale",
    "y_scale",
    "w_scale",
    "h_scale",
    "min_score_thresh",
)


def _block(meta: dict, path: str) -> dict:
    """The JSON object at a dotted path of bundle.json; BundleError naming the path if absent."""
    block: Any = meta
    for key in path.split("."):
        block = block.get(key) if isinstance(block, dict) else None
        if not isinstance(block, dict):
            raise BundleError(f"bundle.json lacks the object {path}")
    return block


def _number(block: dict, key: str, where: str, *, default: float | None = None) -> float:
    value = block.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BundleError(f"bundle.json {where}.{key} must be a number, got {value!r}")
    return float(value)


def _keys(block: dict, keys: tuple[str, ...], where: str) -> dict:
    missing = [k for k in keys if k not in block]
    if missing:
        raise BundleError(f"bundle.json {where} lacks {', '.join(missing)}")
    return dict(block)


@dataclass(frozen=True)
class DetectorContract:
    """A face-detection bundle's options.

    Attributes:
        input_size: side of the model's square input, pixels.
        pad_value: letterbox fill (0..255).
        value_range: (low, high) the 0..255 pixels are mapped to.
        anchors: SsdAnchorsCalculator options (shared.vision.ssd.ssd_anchors).
        decoding: TensorsToDetectionsCalculator options (shared.vision.ssd.decode).
        nms_threshold: IoU over which detections merge (weighted NMS).
        boxes_output, scores_output: names of the model's output tensors.
    """

    input_size: int
    pad_value: int
    value_range: tuple[float, float]
    anchors: dict
    decoding: dict
    nms_threshold: float
    boxes_output: str
    scores_output: str

    @property
    def min_score(self) -> float:
        return float(self.decoding["min_score_thresh"])

    @classmethod
    def from_meta(cls, meta: dict) -> DetectorContract:
        pre = _block(meta, "preprocessing")
        size = pre.get("input_size")
        if not (isinstance(size, list) and len(size) == 2 and size[0] == size[1] and isinstance(size[0], int) and size[0] > 0):
            raise BundleError(f"bundle.json preprocessing.input_size must be [n, n], got {size!r}")
        low_high = pre.get("value_range")
        if not (isinstance(low_high, list) and len(low_high) == 2):
            raise BundleError(f"bundle.json preprocessing.value_range must be [low, high], got {low_high!r}")
        outputs = _block(meta, "postprocessing.output_tensors")
        names = [outputs.get(k) for k in ("boxes", "scores")]
        if not all(isinstance(n, str) for n in names):
            raise BundleError("bundle.json postprocessing.output_tensors needs boxes and scores tensor names")
        return cls(
            input_size=size[0],
            pad_value=int(_number(pre, "pad_value", "preprocessing", default=0)),
            value_range=(
                _number({"v": low_high[0]}, "v", "preprocessing.value_range"),
                _number({"v": low_high[1]}, "v", "preprocessing.value_range"),
            ),
            anchors=_keys(_block(meta, "postprocessing.anchors"), ANCHOR_KEYS, "postprocessing.anchors"),
            decoding=_keys(_block(meta, "postprocessing.decoding"), DECODING_KEYS, "postprocessing.decoding"),
            nms_threshold=_number(_block(meta, "postprocessing.nms"), "min_suppression_threshold", "postprocessing.nms"),
            boxes_output=str(names[0]),
            scores_output=str(names[1]),
        )


@dataclass(frozen=True)
class EmbedderContract:
    """A face-embedding bundle's options.

    Attributes:
        crop: the chip recipe, one of CROPS ("dlib_chip" when bundle.json names none).
        size: side of the aligned face chip, pixels.
        padding: dlib chip padding (margin around the landmark template, fraction of it);
            0 for "arcface", whose template fixes the margin.
        dims: length of an embedding.
        metric: "cosine" or "euclidean".
        threshold: calibrated distance at or under which two faces are the same person
            (lower is stricter); the bundle's default.
        operating_points: other calibrated thresholds by name ("strict", "balanced").
    """

    size: int
    padding: float
    dims: int
    metric: str
    threshold: float
    operating_points: dict[str, float] = field(default_factory=dict)
    crop: str = "dlib_chip"
    confidence: tuple[float, float] | None = None

    def confidence_of(self, distance: float) -> float | None:
        """P(same person | distance) in 0..1 from the bundle's fitted logistic curve
        1 / (1 + exp(-(intercept + slope * distance))), None when the bundle has none. The
        one implementation: a pair's answer and every match of a search come from here."""
        if self.confidence is None:
            return None
        intercept, slope = self.confidence
        z = intercept + slope * distance
        return float(1.0 / (1.0 + math.exp(-z))) if z > -700 else 0.0

    def threshold_for(self, operating_point: str) -> float:
        """The named operating point's threshold ("" = the default); BundleError if unknown."""
        if not operating_point:
            return self.threshold
        if operating_point not in self.operating_points:
            known = ", ".join(sorted(self.operating_points)) or "none"
            raise BundleError(f"VERIFY_OPERATING_POINT {operating_point!r} is not in bundle.json threshold.operating_points ({known})")
        return self.operating_points[operating_point]

    @classmethod
    def from_meta(cls, meta: dict) -> EmbedderContract:
        pre, out, spec = _block(meta, "preprocessing"), _block(meta, "output"), _block(meta, "threshold")
        metric = spec.get("metric")
        if metric not in METRICS:
            raise BundleError(f"bundle.json threshold.metric must be one of {', '.join(METRICS)}, got {metric!r}")
        crop = pre.get("crop", "dlib_chip")
        if crop not in CROPS:
            raise BundleError(f"bundle.json preprocessing.crop must be one of {', '.join(CROPS)}, got {crop!r}")
        size, dims = _number(pre, "size", "preprocessing"), _number(out, "dims", "output")
        if size < 1 or dims < 1 or size != int(size) or dims != int(dims):
            raise BundleError("bundle.json preprocessing.size and output.dims must be positive integers")
        points = spec.get("operating_points", {})
        if not isinstance(points, dict) or not all(isinstance(p, dict) for p in points.values()):
            raise BundleError("bundle.json threshold.operating_points must map names to objects with a value")
        values = {name: _number(p, "value", f"threshold.operating_points.{name}") for name, p in points.items()}
        threshold = _number(spec, "value", "threshold")
        padding = _number(pre, "padding", "preprocessing", default=0.0 if crop == "arcface" else None)
        return cls(int(size), padding, int(dims), metric, threshold, values, crop, _confidence(meta))


def _confidence(meta: dict) -> tuple[float, float] | None:
    if "confidence" not in meta:
        return None
    spec = _block(meta, "confidence")
    if spec.get("kind") != "logistic":
        raise BundleError(f"bundle.json confidence.kind must be 'logistic', got {spec.get('kind')!r}")
    return _number(spec, "intercept", "confidence"), _number(spec, "slope", "confidence")
