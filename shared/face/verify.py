"""Face verification: two photos -> same person or not.

decode (images.py) -> detect, pick the largest face (detect.py) -> dlib-style chip
(align.py) -> embed (embed.py) -> distance against the embedder bundle's threshold.
Embeddings are cached by the photo's sha256 and the embedder's version, so a reference
photo verified again is not recomputed.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from ..bundle import Bundle, load_bundle
from ..cache import TTLCache
from ..errors import Unprocessable
from ..images import decode_photo
from ..lazy import Lazy
from ..settings import Settings
from .align import face_chip
from .detect import Face, FaceDetector, detect_faces
from .embed import DISTANCES, FaceEmbedder


@dataclass(frozen=True)
class FaceEmbedding:
    """One photo's chosen face. Attributes: embedding (D,) float32; area (x, y, w, h,
    eyes, score in the original upright photo's pixels); faces_found; detector (bundle
    name); time_ms per stage (empty when served from the cache)."""

    embedding: np.ndarray
    area: dict
    faces_found: int
    detector: str
    time_ms: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Verification:
    """The answer to "do these two photos show the same person?"."""

    verified: bool
    distance: float
    threshold: float
    similarity_metric: str
    model: str
    detector: str
    faces: dict[str, FaceEmbedding]
    time_ms: dict

    def to_dict(self) -> dict:
        return {
            "verified": self.verified,
            "distance": round(self.distance, 6),
            "threshold": self.threshold,
            "similarity_metric": self.similarity_metric,
            "model": self.model,
            "detector": self.detector,
            "facial_areas": {k: f.area for k, f in self.faces.items()},
            "faces_found": {k: f.faces_found for k, f in self.faces.items()},
            "time_ms": self.time_ms,
        }


def _area(face: Face, scale: float) -> dict:
    """The face's box, eyes and score in original-photo pixels (working pixels x scale)."""
    (rx, ry), (lx, ly) = face.keypoints[0], face.keypoints[1]
    x, y, w, h = (v * scale for v in face.box)
    return {
        "x": round(x), "y": round(y), "w": round(w), "h": round(h),
        "left_eye": [round(lx * scale), round(ly * scale)],
        "right_eye": [round(rx * scale), round(ry * scale)],
        "score": round(float(face.score), 4),
    }


class FaceVerifier:
    """The verification pipeline over loaded bundles.

    The full-range fallback detector is loaded on first need (a photo in which the
    short-range detector finds nothing), keeping it off the cold-start path.
    """

    def __init__(self, detector_bundle: Bundle, embedder_bundle: Bundle, settings: Settings,
                 load_fallback: Callable[[], Bundle] | None = None):
        self.detector = FaceDetector(detector_bundle)
        self.fallback = None
        if load_fallback is not None:
            self.fallback = Lazy("fallback face detector", lambda: FaceDetector(load_fallback()), retry_s=settings.model_retry_s)
        self.embedder = FaceEmbedder(embedder_bundle)
        self.bundle = embedder_bundle
        spec = embedder_bundle.meta.get("threshold", {})
        self.metric = spec.get("metric", "cosine")
        self.distance = DISTANCES[self.metric]
        self.threshold = settings.verify_threshold if settings.verify_threshold is not None else float(spec["value"])
        self.settings = settings
        self.cache = TTLCache(settings.embedding_cache_size, settings.embedding_cache_ttl_s)

    @classmethod
    def from_settings(cls, settings: Settings) -> "FaceVerifier":
        def load(source: str, task: str) -> Bundle:
            return load_bundle(source, num_threads=settings.interpreter_threads, timeout_s=settings.model_load_timeout_s, task=task)

        fallback = settings.face_detector_fallback_model
        return cls(
            load(settings.face_detector_model, "face-detection"),
            load(settings.face_embedder_model, "face-embedding"),
            settings,
            load_fallback=(lambda: load(fallback, "face-detection")) if fallback else None,
        )

    def _detectors(self) -> Iterator[FaceDetector]:
        yield self.detector
        if self.fallback is not None:
            yield self.fallback.get()

    def bundles(self) -> list[Bundle]:
        """The loaded bundles: detector, fallback detector once loaded, embedder."""
        fallback = [self.fallback.get().bundle] if self.fallback is not None and self.fallback.ready else []
        return [self.detector.bundle, *fallback, self.bundle]

    def embed_photo(self, data: bytes, name: str) -> FaceEmbedding:
        """Decode, detect, align and embed one photo; 422 when it holds no face."""
        key = (hashlib.sha256(data).hexdigest(), self.bundle.name, self.bundle.version)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        clock = _Stopwatch()
        photo = decode_photo(data, name=name, max_pixels=self.settings.max_image_pixels, max_side=self.settings.max_image_side,
                             max_full_pixels=self.settings.max_full_decode_pixels)
        clock.lap("decode")
        faces, detector = detect_faces(photo.pixels, self._detectors())
        clock.lap("detect")
        if not faces:
            raise Unprocessable(f"no face found in {name}", code="no_face")
        # Re-detect on a crop around the face: small faces get coarse keypoints at 128x128.
        face = self.detector.refine(photo.pixels, faces[0])
        chip = face_chip(photo.pixels, face, size=self.embedder.size, padding=self.embedder.padding)
        clock.lap("align")
        embedding = self.embedder.embed(chip)
        clock.lap("embed")
        result = FaceEmbedding(embedding, _area(face, photo.scale), len(faces), detector, clock.laps)
        self.cache.put(key, FaceEmbedding(embedding, result.area, result.faces_found, detector, {}))
        return result

    def verify(self, img1: bytes, img2: bytes) -> Verification:
        started = time.perf_counter()
        faces = {"img1": self.embed_photo(img1, "img1"), "img2": self.embed_photo(img2, "img2")}
        distance = float(self.distance(faces["img1"].embedding, faces["img2"].embedding))
        stages: dict = {}
        for name, face in faces.items():
            stages[name] = face.time_ms or {"cache": "hit"}
        stages["total"] = round((time.perf_counter() - started) * 1000, 2)
        detectors = sorted({f.detector for f in faces.values()})
        return Verification(
            verified=distance <= self.threshold,
            distance=distance,
            threshold=self.threshold,
            similarity_metric=self.metric,
            model=self.bundle.name,
            detector=",".join(detectors),
            faces=faces,
            time_ms=stages,
        )


class _Stopwatch:
    def __init__(self):
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = round((now - self._last) * 1000, 2)
        self._last = now
