"""What the face pipeline answers, as typed values; `to_dict()` writes each one's wire form.

Inside the library a face keeps its coordinates as floats in the original upright photo's
pixels (x to the right, y down, origin at the top-left corner) and its template as a
vector with its tag; numbers are rounded, and names given to them, only in `to_dict()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from shared.face.detect import Face
from shared.face.quality import Quality
from shared.face.templates import Template

Point = tuple[float, float]


class Landmarks(NamedTuple):
    """A face's six BlazeFace keypoints, named as on the wire, in the detector's order
    (detect.KEYPOINT_NAMES). "right"/"left" are the subject's: right_eye is on the image's
    left for a frontal, unmirrored photo."""

    right_eye: Point
    left_eye: Point
    nose_tip: Point
    mouth_center: Point
    right_ear_tragion: Point
    left_ear_tragion: Point


@dataclass(frozen=True)
class FaceResult:
    """One face of a photo.

    Attributes:
        box: (x, y, w, h): top-left corner and size, original-photo pixels.
        landmarks: the named keypoints, original-photo pixels.
        score: the detector's confidence in [0, 1].
        template: the face's embedding with its tag, when it was asked for.
    """

    box: tuple[float, float, float, float]
    landmarks: Landmarks
    score: float
    template: Template | None = None

    @classmethod
    def of(cls, face: Face, scale: float, template: Template | None = None) -> FaceResult:
        """`face` as found in working pixels; `scale` maps them to the original photo's."""
        x, y, w, h = (v * scale for v in face.box)
        points = Landmarks(*((px * scale, py * scale) for px, py in face.keypoints))
        return cls((x, y, w, h), points, float(face.score), template)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FaceResult:
        """A face back from its cached form (`dataclasses.asdict`, through JSON; no template)."""
        x, y, w, h = (float(v) for v in record["box"])
        points = Landmarks(*((float(px), float(py)) for px, py in record["landmarks"]))
        return cls((x, y, w, h), points, float(record["score"]))

    def to_dict(self) -> dict[str, Any]:
        """{"box": {x, y, w, h}, "landmarks": {name: [x, y]}, "score", and "embedding" (the
        template) when there is one}: whole pixels, the score to 4 decimals."""
        x, y, w, h = self.box
        out: dict[str, Any] = {
            "box": {"x": round(x), "y": round(y), "w": round(w), "h": round(h)},
            "landmarks": {name: [round(px), round(py)] for name, (px, py) in self.landmarks._asdict().items()},
            "score": round(self.score, 4),
        }
        if self.template is not None:
            out["embedding"] = self.template.to_dict()
        return out

    def to_area(self) -> dict[str, Any]:
        """The face as a comparison's `facial_areas` shows it: the box's x, y, w, h, the eyes
        and the score, in one flat object."""
        x, y, w, h = self.box
        (lx, ly), (rx, ry) = self.landmarks.left_eye, self.landmarks.right_eye
        return {
            "x": round(x),
            "y": round(y),
            "w": round(w),
            "h": round(h),
            "left_eye": [round(lx), round(ly)],
            "right_eye": [round(rx), round(ry)],
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class FaceEmbedding:
    """One photo's chosen face, what the embedding cache keeps. Attributes: embedding (D,)
    float32; face (its FaceResult, without a template); faces_found; detector (bundle
    name); time_ms per stage (as first computed, also when served from the cache); quality
    (quality.py's verdict on the face)."""

    embedding: np.ndarray
    face: FaceResult
    faces_found: int
    detector: str
    time_ms: dict = field(default_factory=dict)
    quality: Quality | None = None


def quality_dict(faces: dict[str, FaceEmbedding], point: dict[str, Any] | None) -> dict[str, Any]:
    """{"quality": each photo's verdict, "operating_point": what decided}, as present."""
    out: dict[str, Any] = {}
    if any(f.quality is not None for f in faces.values()):
        out["quality"] = {k: f.quality.to_dict() for k, f in faces.items() if f.quality is not None}
    if point is not None:
        out["operating_point"] = point
    return out


def confidence_dict(confidence: float | None) -> dict[str, float]:
    """{"confidence": rounded to 4 decimals}, or {} without a fitted curve."""
    return {} if confidence is None else {"confidence": round(confidence, 4)}


@dataclass(frozen=True)
class Verification:
    """The answer to "do these two photos show the same person?" (or a photo and a stored
    template: `faces` then holds the photo's face only).

    Attributes: confidence: P(same person | distance) from the bundle's fitted curve (None
    without one); templates: the photos' templates when asked for."""

    verified: bool
    distance: float
    threshold: float
    similarity_metric: str
    model: str
    detector: str
    faces: dict[str, FaceEmbedding]
    time_ms: dict
    confidence: float | None = None
    templates: dict[str, Template] | None = None
    operating_point: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "verified": self.verified,
            "distance": round(self.distance, 6),
            **confidence_dict(self.confidence),
            "threshold": self.threshold,
            "similarity_metric": self.similarity_metric,
            "model": self.model,
            "detector": self.detector,
            "facial_areas": {k: f.face.to_area() for k, f in self.faces.items()},
            "faces_found": {k: f.faces_found for k, f in self.faces.items()},
            **quality_dict(self.faces, self.operating_point),
            "time_ms": self.time_ms,
        }
        if self.templates is not None:
            out["embeddings"] = {k: t.to_dict() for k, t in self.templates.items()}
        return out


@dataclass(frozen=True)
class Match:
    """One reference's comparison. Attributes: id (the client's), distance, verified
    (distance <= threshold), confidence (P(same person), None without a fitted curve)."""

    id: str
    distance: float
    verified: bool
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "distance": round(self.distance, 6), "verified": self.verified, **confidence_dict(self.confidence)}


@dataclass(frozen=True)
class Search:
    """The answer to "who among these references is this?".

    Attributes: matches (references at or under the threshold, nearest first); best (the
    nearest reference, matching or not); references (how many were compared); probe (the
    photo's face); template (its template when asked for); time_ms (probe stages, compare, total).
    """

    matches: list[Match]
    best: Match
    references: int
    threshold: float
    similarity_metric: str
    model: str
    probe: FaceEmbedding
    time_ms: dict
    template: Template | None = None
    operating_point: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "verified": self.best.verified,
            "best": self.best.to_dict(),
            "matches": [m.to_dict() for m in self.matches],
            "references": self.references,
            "threshold": self.threshold,
            "similarity_metric": self.similarity_metric,
            "model": self.model,
            "detector": self.probe.detector,
            "facial_areas": {"img1": self.probe.face.to_area()},
            "faces_found": {"img1": self.probe.faces_found},
            **quality_dict({"img1": self.probe}, self.operating_point),
            "time_ms": self.time_ms,
        }
        if self.template is not None:
            out["embeddings"] = {"img1": self.template.to_dict()}
        return out


@dataclass(frozen=True)
class PhotoFaces:
    """The answer to "which faces are in this photo?".

    Attributes: faces (up to the request's max_faces, the selection policy's choice first,
    each with its template); faces_found (how many the detector found); face_selection
    (the policy, detect.SELECTIONS); model, detector (bundle names); time_ms (stages, total).
    """

    model: str
    detector: str
    face_selection: str
    faces_found: int
    faces: list[FaceResult]
    time_ms: dict
    qualities: list[Quality] | None = None

    def to_dict(self) -> dict[str, Any]:
        shown: list[Quality | None] = [*self.qualities] if self.qualities else [None] * len(self.faces)
        faces = [f.to_dict() | ({"quality": q.to_dict()} if q is not None else {}) for f, q in zip(self.faces, shown, strict=True)]
        return {
            "model": self.model,
            "detector": self.detector,
            "face_selection": self.face_selection,
            "faces_found": self.faces_found,
            "faces": faces,
            "time_ms": self.time_ms,
        }
