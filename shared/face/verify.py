"""Face verification: photos -> the same person or not, who among stored templates, which faces.

One walk per photo, each stop once: decode (shared.images) -> find the face (detect.py:
short-range detector, full-range fallback, refine) -> the embedder's chip (align.py) -> embed
(embed.py); then distances (embed.distances_to) against the threshold and the bundle's
confidence curve. `FaceVerifier` answers a pair (`verify`), a photo against a gallery of
templates (`search`) and a photo's faces (`photo_faces`), as typed results (results.py).
Embeddings are cached by the photo's sha256, the embedder's version and everything else that
decides which face is embedded and how (`recipe`), so a reference photo verified again is not
recomputed, and an instance configured otherwise (another FACE_SELECTION, detector or
weights) sharing the Redis tier never reads another's embedding.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np

from shared.errors import BadRequest, BundleError, ServiceError, Unprocessable
from shared.face import quality
from shared.face.contract import DETECTION_TASK, EMBEDDING_TASK
from shared.face.detect import Face, FaceDetector, FaceFinder
from shared.face.embed import DISTANCES, FaceEmbedder, distances_to
from shared.face.operating import OperatingPoint
from shared.face.options import VerifyOptions
from shared.face.quality import Quality
from shared.face.results import FaceEmbedding, FaceResult, Match, PhotoFaces, Search, Verification
from shared.face.templates import Gallery, Template, TemplateTag
from shared.images import Photo, decode_photo, inspect_image
from shared.images.decode import decode_again, first_side, sharper_side
from shared.runtime.bundle import Bundle, load_as
from shared.runtime.lazy import Lazy
from shared.state.memory import MemoryBudget
from shared.state.shared_cache import RecordCodec, make_cache
from shared.state.store import shared_store

__all__ = ["FaceEmbedding", "FaceVerifier", "Stopwatch", "Verification", "VerifyOptions"]


class FaceVerifier:
    """The verification pipeline over loaded bundles: `verify`, `search` and `photo_faces`, thread-safe."""

    def __init__(self, finder: FaceFinder, embedder: FaceEmbedder, options: VerifyOptions, budget: MemoryBudget | None = None):
        self.finder = finder
        self._budget = budget or MemoryBudget(critical_mb=float("inf"), wait_s=0.0)
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
        # Thresholds by false-accept rate decide unless VERIFY_THRESHOLD or VERIFY_OPERATING_POINT is set.
        fixed = options.threshold is not None or bool(options.operating_point)
        self.far_points = None if fixed else contract.far_points
        self.fixed_point = {"name": options.operating_point or ("VERIFY_THRESHOLD" if options.threshold is not None else "default")}
        if self.far_points is not None:
            try:
                self.far_points.choose(options.far)
            except ServiceError as exc:
                raise BundleError(f"VERIFY_FAR: {exc.message}", bundle=embedder.bundle.name) from None
        self.options = options
        self.tag = TemplateTag.of(embedder.bundle, embedder.dims)
        readers = {"face": FaceResult.from_record, "quality": Quality.from_record}
        codec = RecordCodec(FaceEmbedding, "embedding", readers, self._check_cached)
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

    def _check_cached(self, value: FaceEmbedding) -> None:
        """ValueError for a cached record this verifier could not have made (a value in Redis
        written by another release, or forged): it is a miss, not a 500 or a wrong answer."""
        vector = value.embedding
        if vector.shape != (self.embedder.dims,) or not np.all(np.isfinite(vector)) or not np.any(vector):
            raise ValueError(f"cached embedding of shape {vector.shape} is not one of this embedder")
        face_ok = isinstance(value.face, FaceResult) and isinstance(value.faces_found, int) and value.faces_found >= 1
        if not (face_ok and isinstance(value.detector, str) and isinstance(value.time_ms, dict)):
            raise ValueError("cached face record is malformed")

    def point(self, far: float | None = None) -> OperatingPoint | None:
        """The operating point for a request's `far` (None: VERIFY_FAR or the bundle's
        default); None when a fixed threshold decides (VERIFY_THRESHOLD, VERIFY_OPERATING_POINT
        or a bundle without far_points)."""
        if self.far_points is None:
            if far is not None:
                raise BadRequest("far is not available: this instance uses a fixed threshold (VERIFY_THRESHOLD or VERIFY_OPERATING_POINT)")
            return None
        return self.far_points.choose(far if far is not None else self.options.far)

    def find_faces(self, data: bytes, name: str, clock: Stopwatch) -> tuple[Photo, list[Face], str, str]:
        """Decode one photo within the memory budget and find its faces (the selected one
        first, refined), the detector's name and the step that found them (FaceFinder.locate);
        422 when it holds none. The selected face decides whether the photo is decoded again,
        larger, so it comes out the same whatever else is asked for."""
        limits = self.options.decode
        cost = inspect_image(data, name, limits)  # 4xx from the headers, before any work
        with self._budget.reserve(cost.peak_bytes, name):  # a JPEG's draft-scale image kept: a sharper decode may reuse it
            photo = decode_photo(data, name=name, limits=limits, cost=cost, side=first_side(cost, limits), keep=True)
            clock.lap("decode")
            faces, detector, found_by = self.finder.locate(photo.pixels)
            # Found on a small decode; a face too small there for a sharp chip: decode larger.
            side = sharper_side(photo, max(faces[0].box[2:]), self.embedder.size, limits.max_side) if faces else 0
            # Nothing found on a reduced decode: a small face in a large frame may be there at full
            # size. JPEG only: libjpeg decodes it scaled, another format in full again (a faceless
            # 12 MP PNG's second decode on top of the first's fallbacks: peak 112 -> 126 MB).
            if not faces and cost.format == "JPEG" and max(photo.pixels.shape[:2]) < min(limits.max_side, max(photo.size)):
                side = min(limits.max_side, max(photo.size))
            again = decode_again(data, photo, name=name, limits=limits, cost=cost, side=side) if side else None
            if again is not None:  # None: the draft scale gives the same pixels again
                photo, (faces, detector, found_by) = again, self.finder.locate(again.pixels)
        clock.lap("detect")
        if not faces:
            raise Unprocessable(f"no face found in {name}", code="no_face")
        return photo.without_source(), faces, detector, found_by

    def embed_photo(self, data: bytes, name: str) -> FaceEmbedding:
        """Decode, find, align and embed one photo; 422 when it holds no face."""
        bundle = self.embedder.bundle
        key = (hashlib.sha256(data).hexdigest(), bundle.name, bundle.version, self.recipe)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        clock = Stopwatch()
        photo, faces, detector, found_by = self.find_faces(data, name, clock)
        chip = self.embedder.chip(photo.pixels, faces[0])
        clock.lap("align")
        verdict = quality.measure(chip, faces[0].keypoints, photo.scale, found_by, photo.pixels.shape, photo.jpeg_quality)
        embedding = self.embedder.embed(chip, mirrored=verdict.tight)  # a face-filling crop: with its mirror image
        verdict = quality.judge_embedding(verdict, embedding, self.embedder.contract.min_norm)
        clock.lap("embed")
        result = FaceEmbedding(embedding, FaceResult.of(faces[0], photo.scale), len(faces), detector, clock.laps, verdict)
        # Cached with its stage timings: a hit answers exactly as the first computation did,
        # so an answer never tells one caller that another sent this photo.
        self._cache.put(key, result)
        return result

    def verify(
        self, img1: bytes, img2: bytes | np.ndarray, *, return_embeddings: bool = False, far: float | None = None, policy: str = ""
    ) -> Verification:
        """Same person or not; distance <= threshold means verified (lower is stricter).
        `img2` is a photo, or a stored template's (dims,) float32 vector (templates.read_template).
        `return_embeddings`: the photos' templates go into the answer too. `far`: the
        false-accept rate whose condition-aware threshold decides (operating.py); `policy`:
        "report" or "reject" (quality.enforce; "" = QUALITY_POLICY)."""
        started = time.perf_counter()
        faces = {"img1": self.embed_photo(img1, "img1")}
        if isinstance(img2, bytes):
            faces["img2"] = self.embed_photo(img2, "img2")
            reference = faces["img2"].embedding
        else:
            reference = img2
        quality.enforce(policy or self.options.quality_policy, {k: f.quality for k, f in faces.items()})
        point = self.point(far)
        qualities = [f.quality for f in faces.values()]
        threshold = self.threshold if point is None else point.threshold_for(*qualities)
        described = self.fixed_point if point is None else point.describe(*qualities)
        distance = float(self.distance(faces["img1"].embedding, reference))
        stages: dict[str, Any] = {name: face.time_ms for name, face in faces.items()}
        stages["total"] = round((time.perf_counter() - started) * 1000, 2)
        return Verification(
            verified=distance <= threshold,
            distance=distance,
            threshold=threshold,
            similarity_metric=self.metric,
            model=self.embedder.bundle.name,
            detector=",".join(sorted({f.detector for f in faces.values()})),
            faces=faces,
            time_ms=stages,
            confidence=self.embedder.contract.confidence_of(distance),
            templates={k: Template(f.embedding, self.tag) for k, f in faces.items()} if return_embeddings else None,
            operating_point=described,
        )

    def search(
        self, img1: bytes, gallery: Gallery, *, return_embeddings: bool = False, far: float | None = None, policy: str = ""
    ) -> Search:
        """The face in `img1` against every template of `gallery`, in one matrix-vector
        product: the references at or under the threshold, nearest first, and the nearest
        one whether it matches or not. `return_embeddings`: the probe's template too; `far`
        and `policy` as for `verify` (the threshold follows the probe's condition)."""
        started = time.perf_counter()
        probe = self.embed_photo(img1, "img1")
        quality.enforce(policy or self.options.quality_policy, {"img1": probe.quality})
        point = self.point(far)
        threshold = self.threshold if point is None else point.threshold_for(probe.quality)
        compare_started = time.perf_counter()
        d = distances_to(probe.embedding, gallery.vectors, self.metric)
        order = np.argsort(d, kind="stable")
        ranked = order[d[order] <= threshold]
        shown = (ranked if len(ranked) else order[:1]).tolist()
        confidence_of = self.embedder.contract.confidence_of
        matches = [Match(gallery.ids[i], float(d[i]), bool(d[i] <= threshold), confidence_of(float(d[i]))) for i in shown]
        now = time.perf_counter()
        return Search(
            matches=[m for m in matches if m.verified],
            best=matches[0],
            references=len(gallery.ids),
            threshold=threshold,
            similarity_metric=self.metric,
            model=self.embedder.bundle.name,
            probe=probe,
            time_ms={"img1": probe.time_ms, "compare": round((now - compare_started) * 1000, 3), "total": round((now - started) * 1000, 2)},
            template=Template(probe.embedding, self.tag) if return_embeddings else None,
            operating_point=self.fixed_point if point is None else point.describe(probe.quality),
        )

    def photo_faces(self, img1: bytes, max_faces: int = 1) -> PhotoFaces:
        """Up to `max_faces` faces of one photo, the selection policy's choice first (the face
        a verification compares), each refined, aligned and embedded; 422 when there is none."""
        started = time.perf_counter()
        clock = Stopwatch()
        photo, faces, detector, found_by = self.find_faces(img1, "img1", clock)
        chosen = [faces[0], *(self.finder.refine(photo.pixels, f) for f in faces[1:max_faces])]
        clock.lap("refine")
        results, qualities = [], []
        for face in chosen:
            chip = self.embedder.chip(photo.pixels, face)
            verdict = quality.measure(chip, face.keypoints, photo.scale, found_by, photo.pixels.shape, photo.jpeg_quality)
            embedding = self.embedder.embed(chip, mirrored=verdict.tight)
            qualities.append(quality.judge_embedding(verdict, embedding, self.embedder.contract.min_norm))
            results.append(FaceResult.of(face, photo.scale, Template(embedding, self.tag)))
        clock.lap("embed")
        return PhotoFaces(
            model=self.embedder.bundle.name,
            detector=detector,
            face_selection=self.finder.selection,
            faces_found=len(faces),
            faces=results,
            time_ms={"img1": clock.laps, "total": round((time.perf_counter() - started) * 1000, 2)},
            qualities=qualities,
        )


def recipe(finder: FaceFinder, embedder: FaceEmbedder, options: VerifyOptions) -> str:
    """16 hex digits naming what decides a photo's cached FaceEmbedding besides its bytes: the
    embedder's and the detector's weights (sha256), the fallback detector, the face selection,
    the decode sizes, the TFLite runtime (2.14 rounds SFace's int8 layer differently), the
    embedder's min_norm and the JPEG quality limit. The cache key's part (issue 23: two FACE_SELECTIONs, one Redis)."""
    from shared.runtime.tflite import runtime_info

    parts = [
        json.dumps(runtime_info(options.load.runtime), sort_keys=True),
        embedder.bundle.sha256,
        repr((embedder.contract.min_norm, quality.MIN_JPEG_QUALITY)),
        finder.bundles()[0].sha256,  # the primary detector
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
