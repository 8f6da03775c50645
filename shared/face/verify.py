"""Face verification: two photos -> same person or not.

One walk per photo, each stop once: decode (shared.images) -> find the face (detect.py:
short-range detector, full-range fallback, refine) -> dlib-style chip (align.py) -> embed
(embed.py); then the distance against the threshold. Embeddings are cached by the photo's
sha256, the embedder's version and everything else that decides which face is embedded
and how (`recipe`), so a reference photo verified again is not recomputed, and an instance
configured otherwise (another FACE_SELECTION, detector or weights) sharing the Redis tier
never reads another's embedding.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared.errors import BundleError, Unprocessable
from shared.face.contract import DETECTION_TASK, EMBEDDING_TASK
from shared.face.detect import LEFT_EYE, RIGHT_EYE, Face, FaceDetector, FaceFinder
from shared.face.embed import DISTANCES, FaceEmbedder
from shared.face.templates import TemplateTag, to_template
from shared.images import DecodeLimits, Photo, decode_photo, inspect_image
from shared.images.decode import first_side, sharper_side
from shared.runtime.bundle import Bundle, LoadOptions, load_as
from shared.runtime.lazy import Lazy
from shared.settings import Settings
from shared.state.memory import MemoryBudget
from shared.state.shared_cache import RecordCodec, make_cache
from shared.state.store import StoreOptions, shared_store


@dataclass(frozen=True)
class VerifyOptions:
    """Everything the verifier needs, and nothing else.

    Attributes:
        detector, fallback_detector, embedder: bundle sources (folders or gs:// URIs);
            fallback_detector "" = none.
        threshold: distance override (None = the embedder bundle's calibrated value).
        operating_point: a named threshold of the embedder bundle ("" = its default);
            `threshold` wins when both are set.
        decode: photo decoding budgets.
        load: how bundles are loaded (threads, timeout, runtime).
        cache_size: embeddings kept (0 = no cache); cache_ttl_s: seconds each is kept.
        retry_s: seconds before a failed fallback-detector load is tried again.
        face_selection: which face of several is compared (detect.SELECTIONS).
        store: the Redis shared by the instances, where embeddings are cached too (url "" = none).
        max_references: most templates one probe is compared with (`references`).
    """

    detector: str
    embedder: str
    fallback_detector: str = ""
    threshold: float | None = None
    operating_point: str = ""
    decode: DecodeLimits = DecodeLimits()
    load: LoadOptions = LoadOptions()
    cache_size: int = 256
    cache_ttl_s: float = 3600.0
    retry_s: float = 5.0
    face_selection: str = "central"
    store: StoreOptions = StoreOptions()
    max_references: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> VerifyOptions:
        return cls(
            detector=settings.face_detector_model,
            embedder=settings.face_embedder_model,
            fallback_detector=settings.face_detector_fallback_model,
            threshold=settings.verify_threshold,
            operating_point=settings.verify_operating_point,
            decode=DecodeLimits.from_settings(settings),
            load=LoadOptions.from_settings(settings),
            cache_size=settings.embedding_cache_size,
            cache_ttl_s=settings.embedding_cache_ttl_s,
            retry_s=settings.model_retry_s,
            face_selection=settings.face_selection,
            store=StoreOptions.from_settings(settings),
            max_references=settings.max_references,
        )


@dataclass(frozen=True)
class FaceEmbedding:
    """One photo's chosen face. Attributes: embedding (D,) float32; area (x, y, w, h,
    eyes, score in the original upright photo's pixels); faces_found; detector (bundle
    name); time_ms per stage (as first computed, also when served from the cache)."""

    embedding: np.ndarray
    area: dict
    faces_found: int
    detector: str
    time_ms: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Verification:
    """The answer to "do these two photos show the same person?" (or a photo and a stored
    template: `faces` then holds the photo's face only).

    Attributes: confidence: P(same person | distance) from the bundle's fitted curve (None
    without one); embeddings: the photos' templates (templates.to_template) when asked for."""

    verified: bool
    distance: float
    threshold: float
    similarity_metric: str
    model: str
    detector: str
    faces: dict[str, FaceEmbedding]
    time_ms: dict
    confidence: float | None = None
    embeddings: dict[str, dict] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "verified": self.verified,
            "distance": round(self.distance, 6),
            **({"confidence": round(self.confidence, 4)} if self.confidence is not None else {}),
            "threshold": self.threshold,
            "similarity_metric": self.similarity_metric,
            "model": self.model,
            "detector": self.detector,
            "facial_areas": {k: f.area for k, f in self.faces.items()},
            "faces_found": {k: f.faces_found for k, f in self.faces.items()},
            "time_ms": self.time_ms,
        }
        if self.embeddings is not None:
            out["embeddings"] = self.embeddings
        return out


def _area(face: Face, scale: float) -> dict:
    """The face's box, eyes and score in original-photo pixels (working pixels x scale)."""
    (rx, ry), (lx, ly) = face.keypoints[RIGHT_EYE], face.keypoints[LEFT_EYE]
    x, y, w, h = (v * scale for v in face.box)
    return {
        "x": round(x),
        "y": round(y),
        "w": round(w),
        "h": round(h),
        "left_eye": [round(lx * scale), round(ly * scale)],
        "right_eye": [round(rx * scale), round(ry * scale)],
        "score": round(float(face.score), 4),
    }


class FaceVerifier:
    """The verification pipeline over loaded bundles: `verify(img1, img2)`, thread-safe."""

    def __init__(self, finder: FaceFinder, embedder: FaceEmbedder, options: VerifyOptions, budget: MemoryBudget | None = None):
        self.finder = finder
        self._budget = budget or MemoryBudget(critical_mb=float("inf"))
        self.embedder = embedder
        contract = embedder.contract
        self.metric = contract.metric
        self.distance = DISTANCES[self.metric]
        try:
            named = contract.threshold_for(options.operating_point)
        except BundleError as exc:  # an unknown VERIFY_OPERATING_POINT: the embedder cannot serve it
            exc.bundle = exc.bundle or embedder.bundle.name
            raise
        self.threshold = options.threshold if options.threshold is not None else named
        self.options = options
        self.tag = TemplateTag.of(embedder.bundle, embedder.dims)
        codec = RecordCodec(FaceEmbedding, "embedding", self._check_cached)
        self.recipe = recipe(finder, embedder, options)
        self._cache = make_cache(options.cache_size, options.cache_ttl_s, shared_store(options.store), codec, "face-embedding")

    @classmethod
    def load(cls, options: VerifyOptions, budget: MemoryBudget | None = None) -> FaceVerifier:
        """Load the detector and embedder now; the fallback detector on first need. Each
        photo reserves its estimated decoding peak from `budget` (the instance's, shared by
        its request threads) before it decodes."""
        fallback = None
        if options.fallback_detector:
            fallback = Lazy(
                "fallback face detector",
                lambda: load_as(FaceDetector, options.fallback_detector, options.load, task=DETECTION_TASK),
                retry_s=options.retry_s,
            )
        finder = FaceFinder(load_as(FaceDetector, options.detector, options.load, task=DETECTION_TASK), fallback, options.face_selection)
        embedder = load_as(FaceEmbedder, options.embedder, options.load, task=EMBEDDING_TASK)
        return cls(finder, embedder, options, budget)

    def bundles(self) -> list[Bundle]:
        """The loaded bundles: detector, fallback detector once loaded, embedder."""
        return [*self.finder.bundles(), self.embedder.bundle]

    def describe(self) -> dict[str, Any]:
        """What the detailed health report shows: threshold, metric, cache, fallback state."""
        return {
            "threshold": self.threshold,
            "similarity_metric": self.metric,
            "embedding_cache": self._cache.stats(),
            **self.finder.describe(),
        }

    def drop_caches(self) -> None:
        """Free what can be rebuilt (memory pressure)."""
        self._cache.clear()

    def confidence_of(self, distance: float) -> float | None:
        """P(same person | distance) in 0..1 from the embedder bundle's fitted curve."""
        return self.embedder.contract.confidence_of(distance)

    def _check_cached(self, value: FaceEmbedding) -> None:
        """ValueError for a cached record this verifier could not have made (a value in Redis
        written by another release, or forged): it is a miss, not a 500 or a wrong answer."""
        vector = value.embedding
        if vector.shape != (self.embedder.dims,) or not np.all(np.isfinite(vector)) or not np.any(vector):
            raise ValueError(f"cached embedding of shape {vector.shape} is not one of this embedder")
        if not (isinstance(value.area, dict) and isinstance(value.faces_found, int) and value.faces_found >= 1):
            raise ValueError("cached face record is malformed")
        if not (isinstance(value.detector, str) and isinstance(value.time_ms, dict)):
            raise ValueError("cached face record is malformed")

    def find_faces(self, data: bytes, name: str, clock: Stopwatch) -> tuple[Photo, list[Face], str]:
        """Decode one photo within the memory budget and find its faces (the selected one
        first, refined); 422 when it holds none. The selected face decides whether the
        photo is decoded again, larger, so it comes out the same whatever else is asked for."""
        cost = inspect_image(data, name, self.options.decode)  # 4xx from the headers, before any work
        limits = self.options.decode
        with self._budget.reserve(cost.peak_bytes, name):
            photo = decode_photo(data, name=name, limits=limits, cost=cost, side=first_side(cost, limits))
            clock.lap("decode")
            faces, detector = self.finder.find(photo.pixels)
            # Found on a small decode; a face too small there for a sharp chip: decode larger.
            side = sharper_side(photo, max(faces[0].box[2:]), self.embedder.size, limits.max_side) if faces else 0
            if side:
                photo = decode_photo(data, name=name, limits=limits, cost=cost, side=side)
                faces, detector = self.finder.find(photo.pixels)
        clock.lap("detect")
        if not faces:
            raise Unprocessable(f"no face found in {name}", code="no_face")
        return photo, faces, detector

    def embed_photo(self, data: bytes, name: str) -> FaceEmbedding:
        """Decode, find, align and embed one photo; 422 when it holds no face."""
        bundle = self.embedder.bundle
        key = (hashlib.sha256(data).hexdigest(), bundle.name, bundle.version, self.recipe)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        clock = Stopwatch()
        photo, faces, detector = self.find_faces(data, name, clock)
        chip = self.embedder.chip(photo.pixels, faces[0])
        clock.lap("align")
        embedding = self.embedder.embed(chip)
        clock.lap("embed")
        result = FaceEmbedding(embedding, _area(faces[0], photo.scale), len(faces), detector, clock.laps)
        # Cached with its stage timings: a hit answers exactly as the first computation did,
        # so an answer never tells one caller that another sent this photo.
        self._cache.put(key, result)
        return result

    def verify(self, img1: bytes, img2: bytes | np.ndarray, *, return_embeddings: bool = False) -> Verification:
        """Same person or not; distance <= threshold means verified (lower is stricter).
        `img2` is a photo, or a stored template's (dims,) float32 vector (templates.read_template).
        `return_embeddings`: the photos' templates go into the answer too."""
        started = time.perf_counter()
        faces = {"img1": self.embed_photo(img1, "img1")}
        if isinstance(img2, bytes):
            faces["img2"] = self.embed_photo(img2, "img2")
            reference = faces["img2"].embedding
        else:
            reference = img2
        distance = float(self.distance(faces["img1"].embedding, reference))
        stages: dict[str, Any] = {name: face.time_ms for name, face in faces.items()}
        stages["total"] = round((time.perf_counter() - started) * 1000, 2)
        return Verification(
            verified=distance <= self.threshold,
            distance=distance,
            threshold=self.threshold,
            similarity_metric=self.metric,
            model=self.embedder.bundle.name,
            detector=",".join(sorted({f.detector for f in faces.values()})),
            faces=faces,
            time_ms=stages,
            confidence=self.confidence_of(distance),
            embeddings={k: to_template(f.embedding, self.tag) for k, f in faces.items()} if return_embeddings else None,
        )


def recipe(finder: FaceFinder, embedder: FaceEmbedder, options: VerifyOptions) -> str:
    """16 hex digits naming what decides a photo's cached FaceEmbedding besides its bytes:
    the embedder's and the detector's weights (sha256), the fallback detector, the face
    selection policy, the decode sizes and the TFLite runtime (tflite-runtime 2.14 rounds
    SFace's int8 layer differently). Part of the cache key (issue 23: two revisions with
    different FACE_SELECTION sharing one Redis answered with each other's faces)."""
    from shared.runtime.tflite import runtime_info

    parts = [
        json.dumps(runtime_info(options.load.runtime), sort_keys=True),
        embedder.bundle.sha256,
        finder.primary.bundle.sha256,
        options.fallback_detector.rstrip("/").rsplit("/", 1)[-1],
        options.face_selection,
        repr(options.decode),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class Stopwatch:
    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = round((now - self._last) * 1000, 2)
        self._last = now
