"""What a face-embedding bundle's bundle.json promises, read and checked once, when it loads.

Every field is read through the one bundle reader (runtime/manifest.py): a missing,
mistyped, non-finite or out-of-range field is a BundleError naming it
(``threshold.value is NaN; expected a finite number in (0, 2]``), so a request never meets
a half-valid bundle and a client never sees a ``KeyError`` or a 500. The face detectors'
contract is the SSD detectors' one, shared with the palm detector (vision/detector.py).

face-embedding bundles::

    "preprocessing": {"crop": "dlib_chip", "size": 150, "padding": 0.25}   (or "crop": "arcface", "size": 112),
    "output": {"dims": 128},
    "threshold": {"metric": "cosine", "value": 0.0924,
                  "operating_points": {"strict": {"value": 0.0801, ...}, ...}}  (optional)
    "confidence": {"kind": "logistic", "intercept": 25.1, "slope": -40.2, ...}   (optional;
                  fitted by tools/calibrate/fit_confidence.py)
    "quality": {"min_norm": 7.0, "min_norm_tight": 10.0, ...}   (optional; the embedding
                  lengths under which a face is `unreliable_face`, quality.judge_embedding;
                  fitted by tools/measure/embed_quality.py for this embedder's scale)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from shared.errors import BundleError
from shared.face.operating import OperatingPoints
from shared.runtime.manifest import Manifest

DETECTION_TASK = "face-detection"
EMBEDDING_TASK = "face-embedding"
METRICS = ("cosine", "euclidean")
# Face chip recipes (shared.face.align): dlib's 150 px chip with padding, or the ArcFace
# 112 px five-point template that SFace and other ArcFace-family embedders were trained on.
CROPS = ("dlib_chip", "arcface")
# A distance threshold: cosine distances lie in [0, 2]; a euclidean one is only positive.
THRESHOLD_RANGE = {"cosine": {"gt": 0.0, "le": 2.0}, "euclidean": {"gt": 0.0}}
MAX_CHIP = 1024  # pixels: far above any face embedder's input (dlib 150, ArcFace 112)
MAX_DIMS = 65536


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
        confidence: (intercept, slope) of the fitted logistic P(same | distance), or None.
        far_points: thresholds by false-accept rate and condition (operating.py), or None.
        min_norm: (faces inside the photo, tight faces): the embedding lengths before
            normalisation under which the embedder cannot read a face reliably, or None
            (no such limit: the reason is never given).
    """

    size: int
    padding: float
    dims: int
    metric: str
    threshold: float
    operating_points: dict[str, float] = field(default_factory=dict)
    crop: str = "dlib_chip"
    confidence: tuple[float, float] | None = None
    far_points: OperatingPoints | None = None
    min_norm: tuple[float, float] | None = None

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
    def read(cls, m: Manifest) -> EmbedderContract:
        """The contract from an embedder bundle's manifest; BundleError naming a bad field."""
        pre, spec = m.at("preprocessing"), m.at("threshold")
        crop = pre.choice("crop", CROPS, default="dlib_chip")
        size = pre.integer("size", ge=1, le=MAX_CHIP)
        padding = pre.number("padding", ge=0, le=10, **({"default": 0.0} if crop == "arcface" else {}))
        dims = m.integer("output.dims", ge=1, le=MAX_DIMS)
        metric = spec.choice("metric", METRICS)
        bounds = THRESHOLD_RANGE[metric]
        threshold = spec.number("value", **bounds)
        points = spec.at("operating_points", optional=True)
        values = {name: points.at(name).number("value", **bounds) for name in points.fields()}
        return cls(size, padding, dims, metric, threshold, values, crop, _confidence(m), OperatingPoints.read(spec), _min_norm(m))

    @classmethod
    def from_meta(cls, meta: dict) -> EmbedderContract:
        return cls.read(Manifest(meta))


def _confidence(m: Manifest) -> tuple[float, float] | None:
    if not m.has("confidence"):
        return None
    spec = m.at("confidence")
    spec.choice("kind", ("logistic",))
    # A probability of "same person" that falls as the distance grows: a negative slope.
    return spec.number("intercept", ge=-1e4, le=1e4), spec.number("slope", ge=-1e4, lt=0)


def _min_norm(m: Manifest) -> tuple[float, float] | None:
    if not m.has("quality"):
        return None
    spec = m.at("quality")
    return spec.number("min_norm", gt=0, le=1e6), spec.number("min_norm_tight", gt=0, le=1e6)
