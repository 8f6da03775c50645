"""Beyond one pair: one photo against many stored templates, and a photo's faces on their own.

`search(verifier, img1, gallery)` embeds the probe photo once and compares it with every
reference in one matrix-vector product (embed.distances_to): ranked matches at or under the
threshold, and the nearest reference whether it matches or not. `photo_faces(verifier,
img1, max_faces)` returns up to `max_faces` faces of one photo, in the selection policy's
order (FACE_SELECTION), each with its box, named landmarks, score and template.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.face.detect import KEYPOINT_NAMES, Face
from shared.face.embed import distances_to
from shared.face.templates import Gallery, to_template
from shared.face.verify import FaceEmbedding, FaceVerifier, Stopwatch


@dataclass(frozen=True)
class Match:
    """One reference's comparison. Attributes: id (the client's), distance, verified
    (distance <= threshold), confidence (P(same person), None without a fitted curve)."""

    id: str
    distance: float
    verified: bool
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "distance": round(self.distance, 6), "verified": self.verified}
        if self.confidence is not None:
            out["confidence"] = round(self.confidence, 4)
        return out


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
    template: dict | None = None

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
            "facial_areas": {"img1": self.probe.area},
            "faces_found": {"img1": self.probe.faces_found},
            "time_ms": self.time_ms,
        }
        if self.template is not None:
            out["embeddings"] = {"img1": self.template}
        return out


def _confidences(verifier: FaceVerifier, d: np.ndarray) -> list[float | None]:
    fitted = verifier.embedder.contract.confidence
    if fitted is None:
        return [None] * len(d)
    intercept, slope = fitted
    z = np.clip(intercept + slope * d, -700.0, 700.0)
    return [float(c) for c in 1.0 / (1.0 + np.exp(-z))]


def search(verifier: FaceVerifier, img1: bytes, gallery: Gallery, *, return_embeddings: bool = False) -> Search:
    """Compare the face in `img1` with every template of `gallery`."""
    started = time.perf_counter()
    probe = verifier.embed_photo(img1, "img1")
    compare_started = time.perf_counter()
    d = distances_to(probe.embedding, gallery.vectors, verifier.metric)
    order = np.argsort(d, kind="stable")
    ranked = order[d[order] <= verifier.threshold]
    shown = ranked if len(ranked) else order[:1]
    confidences = _confidences(verifier, d[shown])
    matches = [
        Match(gallery.ids[i], float(d[i]), bool(d[i] <= verifier.threshold), c) for i, c in zip(shown.tolist(), confidences, strict=True)
    ]
    now = time.perf_counter()
    return Search(
        matches=[m for m in matches if m.verified],
        best=matches[0],
        references=len(gallery.ids),
        threshold=verifier.threshold,
        similarity_metric=verifier.metric,
        model=verifier.embedder.bundle.name,
        probe=probe,
        time_ms={"img1": probe.time_ms, "compare": round((now - compare_started) * 1000, 3), "total": round((now - started) * 1000, 2)},
        template=to_template(probe.embedding, verifier.tag) if return_embeddings else None,
    )


def _face_dict(face: Face, scale: float, embedding: dict) -> dict[str, Any]:
    x, y, w, h = (v * scale for v in face.box)
    return {
        "box": {"x": round(x), "y": round(y), "w": round(w), "h": round(h)},
        "landmarks": {name: [round(px * scale), round(py * scale)] for name, (px, py) in zip(KEYPOINT_NAMES, face.keypoints, strict=True)},
        "score": round(float(face.score), 4),
        "embedding": embedding,
    }


def photo_faces(verifier: FaceVerifier, img1: bytes, max_faces: int = 1) -> dict[str, Any]:
    """Up to `max_faces` faces of one photo, the selection policy's choice first (the face a
    verification compares), each refined, aligned and embedded; 422 when there is none."""
    started = time.perf_counter()
    clock = Stopwatch()
    photo, faces, detector = verifier.find_faces(img1, "img1", clock)
    chosen = [faces[0], *(verifier.finder.primary.refine(photo.pixels, f) for f in faces[1:max_faces])]
    clock.lap("refine")
    out = []
    for face in chosen:
        embedding = verifier.embedder.embed(verifier.embedder.chip(photo.pixels, face))
        out.append(_face_dict(face, photo.scale, to_template(embedding, verifier.tag)))
    clock.lap("embed")
    return {
        "model": verifier.embedder.bundle.name,
        "detector": detector,
        "face_selection": verifier.finder.selection,
        "faces_found": len(faces),
        "faces": out,
        "time_ms": {"img1": clock.laps, "total": round((time.perf_counter() - started) * 1000, 2)},
    }
