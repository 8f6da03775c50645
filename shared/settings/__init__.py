"""Every environment variable the functions read, parsed and validated in one place
(each read through env.py's helpers).

Defaults suit the 512 MB tier. A setting that feeds an options class takes that class's
field default, so each is written once (tests/shared/settings/test_defaults.py). The options
live in light modules (face/options.py, gesture/options.py, hands/options.py, images/limits.py,
runtime/options.py, state/store.py): importing this one loads no numpy, Pillow or TFLite
runtime, and none of them imports it at run time. `get_settings()` reads the environment
once per process; tests call `get_settings.cache_clear()` after changing it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from shared.face.options import QUALITY_POLICIES, SELECTIONS, VerifyOptions
from shared.gallery.options import GALLERY_NAME, GalleryOptions
from shared.gesture.options import GestureOptions
from shared.images.limits import MIB, DecodeLimits
from shared.liveness.options import MIN_SECRET_BYTES, LivenessOptions
from shared.runtime.options import RUNTIMES, LoadOptions
from shared.settings import env
from shared.settings.env import SettingsError
from shared.state.store import StoreOptions
from shared.video.limits import VideoLimits

__all__ = ["MODELS_DIR", "Settings", "SettingsError", "get_settings"]

# Bundles sit beside the library both in the repo and in a staged deployment folder.
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"

DEFAULT_FACE_DETECTOR = str(MODELS_DIR / "face-detector-short")
DEFAULT_FACE_DETECTOR_FALLBACK = str(MODELS_DIR / "face-detector-full")
DEFAULT_FACE_EMBEDDER = str(MODELS_DIR / "face-embedder-sface")
DEFAULT_GESTURE_MODELS = f"{MODELS_DIR / 'finger-gesture'},{MODELS_DIR / 'hand-sign'}"
DEFAULT_HAND_DETECTOR = str(MODELS_DIR / "hand-detector")
DEFAULT_HAND_LANDMARKS = str(MODELS_DIR / "hand-landmarks")
DEFAULT_FACE_LANDMARKS = str(MODELS_DIR / "face-landmarks")
DEFAULT_HOLISTIC = tuple(str(MODELS_DIR / name) for name in ("pose-detector", "pose-landmarks", "hand-recrop"))


def _label(source: str) -> str:
    """A bundle source as health may show it: its last path part, and where it lives."""
    if not source:
        return ""
    name = source.rstrip("/").rsplit("/", 1)[-1]
    return f"gs://.../{name}" if source.startswith("gs://") else name


@dataclass(frozen=True)
class Settings:
    """Attributes:
    face_detector_model: bundle folder or gs:// URI of the short-range detector.
    face_detector_fallback_model: detector tried when the first finds no face ("" = none).
    face_embedder_model: bundle folder or gs:// URI of the face embedder.
    verify_threshold: distance threshold overriding the embedder bundle's (None = bundle's).
    verify_operating_point: VerifyOptions.operating_point (checked against the bundle when
        it loads); VERIFY_THRESHOLD, when set, wins.
    gesture_models: bundle folders or gs:// URIs served by predict_gesture; the first is
        the default when a request names no `model`.
    max_request_bytes: largest request body accepted (Cloud Run's own cap is 32 MB).
    max_image_pixels, max_full_decode_pixels, max_image_side, max_decode_mb,
        max_progressive_pixels, max_jpeg_scans, max_decode_ms: the photo budgets,
        DecodeLimits' max_pixels, max_full_pixels, max_side, max_decode_bytes (in MiB
        here), max_progressive_pixels, max_scans and max_decode_ms.
    max_frames, max_photo_frames: GestureOptions' max_frames and max_photos.
    interpreter_threads, model_load_timeout_s, tflite_runtime: LoadOptions' num_threads,
        timeout_s and runtime.
    memory_limit_mb: the instance's memory tier; the guard's levels are fractions of it.
    memory_warn_fraction, memory_critical_fraction: over the first, log a warning, drop
        caches and collect garbage; over the second, refuse new work with 503 until back under.
    embedding_cache_size, embedding_cache_ttl_s: VerifyOptions' cache_size and cache_ttl_s.
    model_retry_s: seconds before a failed model load is tried again (every pipeline's retry_s).
    api_key: when set, POST requests must send it in the `X-API-Key` header, and the
        detailed health report needs it too (see health_details).
    memory_wait_s: seconds a request waits for the memory budget before a 503.
    malloc_arenas: glibc malloc arenas (0 = glibc's default of 8 per core); each request
        thread otherwise keeps its own arena's peak resident.
    malloc_mmap_threshold_kb: allocations from this size get their own mapping, returned
        to the system when freed (0 = glibc's dynamic threshold).
    memory_recycle: under gunicorn, replace a worker that stays over the critical level
        while idle (after caches are dropped and freed memory is given back).
    storage_emulator_host: host:port of a GCS emulator ("" = real object storage).
    face_selection: VerifyOptions.face_selection (detect.selection_order says how each works).
    verify_far, quality_policy: VerifyOptions' far (VERIFY_FAR; unset = the bundle's default
        false-accept rate) and quality_policy (QUALITY_POLICY: report or reject).
    redis_url: redis://[:password@]host:port[/db] (or rediss://) of a Redis shared by the
        instances: the embedding cache and the rate limits are kept there ("" = per instance).
    redis_timeout_s, redis_retry_s: StoreOptions' timeout_s and retry_s (answers come from
        the instance itself while a failed Redis is left alone).
    rate_limits: per-client limits in the `limits` library's notation, ";"-separated, e.g.
        "20/hour;100/day" ("" = no limit).
    rate_limit_fail: "open" (admit, counted per instance) or "closed" (503) while the
        limits' shared store (Redis) cannot be reached.
    rate_limit_proxy_hops: how many trusted front ends append to X-Forwarded-For: the
        client address is that many entries from its right (1 = Cloud Run, Render,
        Knative's ingress; 0 = no front end, the connection's own address). Unset: 1 where
        K_SERVICE or RENDER says such a platform runs the function, else 0.
    health_details: who reads the detailed health report: "key" (only a request with the
        configured API_KEY; nobody when none is set) or "open" (anyone when no API_KEY is set).
    max_request_decode_ms: DecodeLimits.max_request_ms (all photos of one request, estimated).
    liveness_secret: LIVENESS_SECRET, the HMAC key of liveness challenges (at least 32 bytes;
        "" = liveness off); liveness_ttl_s, max_liveness_frames: LivenessOptions' ttl_s and
        max_frames; face_landmark_model: the face mesh bundle liveness reads the head from.
    gallery_url: postgresql:// URL of the gallery database (Postgres with pgvector; "" = no
        gallery: gallery calls answer 503, except under `make serve`, which starts one).
    gallery_keys: (API key, the galleries it may use) pairs (GALLERY_KEYS); a gallery call
        needs API_KEY or a key scoped to its gallery once any is set.
    gallery_connect_timeout_s, gallery_statement_timeout_s, gallery_retry_s,
        gallery_pool_size, gallery_ef_search: GalleryOptions' connect_timeout_s,
        statement_timeout_s, retry_s, pool_size and ef_search.
    cors_origins: browser origins allowed to call (CORS, edge/cors.py), lower case; ("*",) any.
    hand_detector_model, hand_landmark_model: bundle folders or gs:// URIs of the palm
        detector and the hand landmark model predict_gesture loads on its first photo.
    hand_image_side: longest side, in pixels, a photo is scaled down to before hands are
        looked for (MediaPipe's hand models see 192 and 224 px crops; 640 px measured as
        accurate as 1280 on the SubhiH photos, and a 1 MP JPEG then decodes at half scale).
    pose_detector_model, pose_landmark_model, hand_recrop_model: Holistic's bundles (pose,
        hands re-cropped from it; its face: face_detector_model, then face_landmark_model, ""
        = no face), loaded on the first clip or photo a Holistic recipe needs.
    max_video_seconds, max_video_side: VideoLimits.max_seconds and max_side.
    max_references: VerifyOptions.max_references.
    request_header_timeout_s, request_body_timeout_s, request_body_min_rate,
    request_buffer_mb: how the serving worker reads requests (shared/edge/worker.py):
        headers within the first; the body within the second after them, plus a second per
        `request_body_min_rate` bytes it declares; at most `request_buffer_mb` held.
    """

    face_detector_model: str
    face_detector_fallback_model: str
    face_embedder_model: str
    verify_threshold: float | None
    gesture_models: tuple[str, ...]
    max_request_bytes: int
    max_image_pixels: int
    max_full_decode_pixels: int
    max_image_side: int
    max_frames: int
    interpreter_threads: int
    memory_limit_mb: int
    memory_warn_fraction: float
    memory_critical_fraction: float
    embedding_cache_size: int
    embedding_cache_ttl_s: float
    model_retry_s: float
    model_load_timeout_s: float
    api_key: str
    memory_wait_s: float
    malloc_arenas: int
    malloc_mmap_threshold_kb: int
    memory_recycle: bool
    tflite_runtime: str
    storage_emulator_host: str
    verify_operating_point: str
    max_decode_mb: int
    max_progressive_pixels: int
    max_jpeg_scans: int
    max_decode_ms: int
    face_selection: str
    redis_url: str
    redis_timeout_s: float
    redis_retry_s: float
    rate_limits: str
    rate_limit_fail: str
    rate_limit_proxy_hops: int
    cors_origins: tuple[str, ...]
    hand_detector_model: str
    hand_landmark_model: str
    max_photo_frames: int
    hand_image_side: int
    max_references: int
    request_header_timeout_s: float
    request_body_timeout_s: float
    request_body_min_rate: int
    request_buffer_mb: int
    health_details: str
    max_request_decode_ms: int
    liveness_secret: str
    liveness_ttl_s: float
    max_liveness_frames: int
    face_landmark_model: str
    gallery_url: str
    gallery_keys: tuple[tuple[str, frozenset[str]], ...]
    gallery_connect_timeout_s: int
    gallery_statement_timeout_s: float
    gallery_retry_s: float
    gallery_pool_size: int
    gallery_ef_search: int
    verify_far: float | None
    quality_policy: str
    pose_detector_model: str
    pose_landmark_model: str
    hand_recrop_model: str
    max_video_seconds: float
    max_video_side: int

    @classmethod
    def from_env(cls) -> Settings:
        threshold, far = env.text("VERIFY_THRESHOLD", ""), env.text("VERIFY_FAR", "")
        gestures = tuple(s.strip() for s in env.text("GESTURE_MODEL", DEFAULT_GESTURE_MODELS).split(",") if s.strip())
        if not gestures:
            raise SettingsError("GESTURE_MODEL must name at least one bundle")
        settings = cls(
            face_detector_model=env.text("FACE_DETECTOR_MODEL", DEFAULT_FACE_DETECTOR),
            face_detector_fallback_model=env.text("FACE_DETECTOR_FALLBACK_MODEL", DEFAULT_FACE_DETECTOR_FALLBACK),
            face_embedder_model=env.text("FACE_EMBEDDER_MODEL", DEFAULT_FACE_EMBEDDER),
            verify_threshold=env.number("VERIFY_THRESHOLD", 0, float, 0.0, 4.0) if threshold else None,
            verify_operating_point=env.text("VERIFY_OPERATING_POINT", VerifyOptions.operating_point),
            gesture_models=gestures,
            max_request_bytes=env.number("MAX_REQUEST_BYTES", 20 * 2**20, int, 1024, 32 * 2**20),
            max_image_pixels=env.number("MAX_IMAGE_PIXELS", DecodeLimits.max_pixels, int, 10_000, 200_000_000),
            max_full_decode_pixels=env.number("MAX_FULL_DECODE_PIXELS", DecodeLimits.max_full_pixels, int, 10_000, 100_000_000),
            max_image_side=env.number("MAX_IMAGE_SIDE", DecodeLimits.max_side, int, 160, 8192),
            max_frames=env.number("MAX_FRAMES", GestureOptions.max_frames, int, 1, 100_000),
            interpreter_threads=env.number("INTERPRETER_THREADS", LoadOptions.num_threads, int, 1, 64),
            memory_limit_mb=env.number("MEMORY_LIMIT_MB", 512, int, 32, 65536),
            memory_warn_fraction=env.number("MEMORY_WARN_FRACTION", 0.70, float, 0.05, 1.0),
            memory_critical_fraction=env.number("MEMORY_CRITICAL_FRACTION", 0.85, float, 0.05, 1.0),
            embedding_cache_size=env.number("EMBEDDING_CACHE_SIZE", VerifyOptions.cache_size, int, 0, 100_000),
            embedding_cache_ttl_s=env.number("EMBEDDING_CACHE_TTL_S", VerifyOptions.cache_ttl_s, float, 0, 7 * 86400),
            model_retry_s=env.number("MODEL_RETRY_S", VerifyOptions.retry_s, float, 0, 3600),
            model_load_timeout_s=env.number("MODEL_LOAD_TIMEOUT_S", LoadOptions.timeout_s, float, 1, 3600),
            api_key=env.text("API_KEY", ""),
            memory_wait_s=env.number("MEMORY_WAIT_S", 2.0, float, 0, 60),
            malloc_arenas=env.number("MALLOC_ARENAS", 2, int, 0, 64),
            malloc_mmap_threshold_kb=env.number("MALLOC_MMAP_THRESHOLD_KB", 1024, int, 0, 32 * 1024),
            memory_recycle=env.flag("MEMORY_RECYCLE", True),
            tflite_runtime=env.choice("TFLITE_RUNTIME", ("", *RUNTIMES), LoadOptions.runtime),
            storage_emulator_host=env.text("STORAGE_EMULATOR_HOST", ""),
            max_decode_mb=env.number("MAX_DECODE_MB", DecodeLimits.max_decode_bytes // MIB, int, 16, 1024),
            max_progressive_pixels=env.number("MAX_PROGRESSIVE_PIXELS", DecodeLimits.max_progressive_pixels, int, 1_000_000, 100_000_000),
            max_jpeg_scans=env.number("MAX_JPEG_SCANS", DecodeLimits.max_scans, int, 16, 1000),
            max_decode_ms=env.number("MAX_DECODE_MS", DecodeLimits.max_decode_ms, int, 100, 60_000),
            face_selection=env.choice("FACE_SELECTION", SELECTIONS, VerifyOptions.face_selection),
            redis_url=env.redis_url(),
            redis_timeout_s=env.number("REDIS_TIMEOUT_S", StoreOptions.timeout_s, float, 0.01, 10),
            redis_retry_s=env.number("REDIS_RETRY_S", StoreOptions.retry_s, float, 0, 600),
            rate_limits=env.rate_limits(),
            rate_limit_fail=env.choice("RATE_LIMIT_FAIL", ("open", "closed"), "open"),
            rate_limit_proxy_hops=env.proxy_hops(),
            cors_origins=env.origins("CORS_ORIGINS"),
            hand_detector_model=env.text("HAND_DETECTOR_MODEL", DEFAULT_HAND_DETECTOR),
            hand_landmark_model=env.text("HAND_LANDMARK_MODEL", DEFAULT_HAND_LANDMARKS),
            max_photo_frames=env.number("MAX_PHOTO_FRAMES", GestureOptions.max_photos, int, 1, 1024),
            hand_image_side=env.number("HAND_IMAGE_SIDE", 640, int, 160, 8192),
            pose_detector_model=env.text("POSE_DETECTOR_MODEL", DEFAULT_HOLISTIC[0]),
            pose_landmark_model=env.text("POSE_LANDMARK_MODEL", DEFAULT_HOLISTIC[1]),
            hand_recrop_model=env.text("HAND_RECROP_MODEL", DEFAULT_HOLISTIC[2]),
            max_video_seconds=env.number("MAX_VIDEO_SECONDS", VideoLimits.max_seconds, float, 0.1, 600),
            max_video_side=env.number("MAX_VIDEO_SIDE", VideoLimits.max_side, int, 16, 8192),
            max_references=env.number("MAX_REFERENCES", VerifyOptions.max_references, int, 1, 10_000),
            request_header_timeout_s=env.number("REQUEST_HEADER_TIMEOUT_S", 10, float, 1, 300),
            request_body_timeout_s=env.number("REQUEST_BODY_TIMEOUT_S", 10, float, 1, 300),
            request_body_min_rate=env.number("REQUEST_BODY_MIN_RATE", 16 * 1024, int, 0, 2**30),
            request_buffer_mb=env.number("REQUEST_BUFFER_MB", 48, int, 1, 4096),
            health_details=env.choice("HEALTH_DETAILS", ("key", "open"), "key"),
            max_request_decode_ms=env.number("MAX_REQUEST_DECODE_MS", DecodeLimits.max_request_ms, int, 100, 600_000),
            liveness_secret=env.text("LIVENESS_SECRET", ""),
            liveness_ttl_s=env.number("LIVENESS_TTL_S", LivenessOptions.ttl_s, float, 5, 3600),
            max_liveness_frames=env.number("MAX_LIVENESS_FRAMES", LivenessOptions.max_frames, int, LivenessOptions.min_frames, 100),
            face_landmark_model=env.text("FACE_LANDMARK_MODEL", DEFAULT_FACE_LANDMARKS),
            gallery_url=env.gallery_url(),
            gallery_keys=env.gallery_keys(GALLERY_NAME),
            gallery_connect_timeout_s=env.number("GALLERY_CONNECT_TIMEOUT_S", GalleryOptions.connect_timeout_s, int, 1, 60),
            gallery_statement_timeout_s=env.number("GALLERY_STATEMENT_TIMEOUT_S", GalleryOptions.statement_timeout_s, float, 0.1, 300),
            gallery_retry_s=env.number("GALLERY_RETRY_S", GalleryOptions.retry_s, float, 0, 600),
            gallery_pool_size=env.number("GALLERY_POOL_SIZE", GalleryOptions.pool_size, int, 0, 16),
            gallery_ef_search=env.number("GALLERY_EF_SEARCH", GalleryOptions.ef_search, int, 1, 1000),
            verify_far=env.number("VERIFY_FAR", 0, float, 1e-6, 0.5) if far else VerifyOptions.far,
            quality_policy=env.choice("QUALITY_POLICY", QUALITY_POLICIES, VerifyOptions.quality_policy),
        )
        if settings.liveness_secret and len(settings.liveness_secret.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(f"LIVENESS_SECRET must be at least {MIN_SECRET_BYTES} bytes (e.g. 64 hex digits from a random source)")
        if settings.memory_warn_fraction > settings.memory_critical_fraction:
            raise SettingsError("MEMORY_WARN_FRACTION must not exceed MEMORY_CRITICAL_FRACTION")
        return settings

    def public(self) -> dict[str, Any]:
        """The settings as the detailed health report shows them: model sources as short
        labels (never a local path or a bucket), no API key, no emulator address."""
        hidden = ("api_key", "storage_emulator_host", "redis_url", "liveness_secret", "gallery_url", "gallery_keys")
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}
        for name in [n for n in out if n.endswith("_model")]:  # every bundle source but gesture_models
            out[name] = _label(out[name])
        out["gesture_models"] = [_label(s) for s in self.gesture_models]
        out["api_key_required"] = bool(self.api_key)
        out["redis_configured"] = bool(self.redis_url)
        out["liveness_enabled"] = bool(self.liveness_secret)
        out["gallery_configured"] = bool(self.gallery_url)
        out["gallery_keys"] = len(self.gallery_keys)
        return out


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
