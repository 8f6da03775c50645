"""Every environment variable the functions read, parsed and validated in one place.

Defaults suit the 512 MB tier. `get_settings()` reads the environment once per process;
tests call `get_settings.cache_clear()` after changing it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

# Bundles sit beside the library both in the repo and in a staged deployment folder.
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"

DEFAULT_FACE_DETECTOR = str(MODELS_DIR / "face-detector-short")
DEFAULT_FACE_DETECTOR_FALLBACK = str(MODELS_DIR / "face-detector-full")
DEFAULT_FACE_EMBEDDER = str(MODELS_DIR / "face-embedder-sface")
DEFAULT_GESTURE_MODELS = f"{MODELS_DIR / 'finger-gesture'},{MODELS_DIR / 'hand-sign'}"


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


def _text(name: str, default: str) -> str:
    return os.environ.get(name, default).strip()


def _choice(name: str, allowed: tuple[str, ...], default: str = "") -> str:
    value = _text(name, "").strip() or default
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(a for a in allowed if a)} (or unset), got {value!r}")
    return value


def _flag(name: str, default: bool) -> bool:
    """A boolean setting: true/false, 1/0, yes/no, on/off (never by truthiness)."""
    raw = _text(name, "").lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _origins(name: str) -> tuple[str, ...]:
    """Browser origins (CORS): comma-separated `scheme://host[:port]` (http or https, no
    path, no trailing slash: as a browser sends its Origin header), lower-cased; or `*` alone."""
    raw = _text(name, "")
    entries = tuple(e.strip().lower() for e in raw.split(",") if e.strip())
    if "*" in entries:
        if len(entries) > 1:
            raise SettingsError(f"{name}: '*' allows every origin and must stand alone, got {raw!r}")
        return entries
    for entry in entries:
        scheme, sep, rest = entry.partition("://")
        if scheme not in ("http", "https") or not sep or not rest or any(c in rest for c in "/?#@ "):
            raise SettingsError(
                f"{name}: {entry!r} is not an origin; expected scheme://host[:port] as a browser sends it "
                "(http or https, no path, no trailing slash), e.g. https://app.example.com"
            )
    return entries


def _label(source: str) -> str:
    """A bundle source as health may show it: its last path part, and where it lives."""
    if not source:
        return ""
    name = source.rstrip("/").rsplit("/", 1)[-1]
    return f"gs://.../{name}" if source.startswith("gs://") else name


def _number(name: str, default: float, kind: type, low: float, high: float) -> Any:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {raw!r}")
    return value


def _redis_url() -> str:
    url = _text("REDIS_URL", "")
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        # The value may hold a password: only its scheme goes into the message.
        raise SettingsError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {url.split(':', 1)[0]!r}...")
    return url


# Set by platforms whose front end appends the client's address to X-Forwarded-For:
# K_SERVICE by Cloud Run (services and functions) and Knative, RENDER by Render.
FRONT_END_MARKERS = ("K_SERVICE", "RENDER")


def _proxy_hops() -> int:
    """RATE_LIMIT_PROXY_HOPS, or by default 1 where a known platform's front end appends
    the client's address to X-Forwarded-For, 0 elsewhere: a server reached directly (a
    container with a public IP, a VM) would otherwise count whatever the client wrote."""
    default = 1 if any(os.environ.get(name, "").strip() for name in FRONT_END_MARKERS) else 0
    return _number("RATE_LIMIT_PROXY_HOPS", default, int, 0, 10)


def _rate_limits() -> str:
    """RATE_LIMITS as the `limits` library parses it (checked now, at start)."""
    text = _text("RATE_LIMITS", "")
    if text:
        from limits import parse_many  # only when limits are configured

        try:
            parse_many(text)
        except ValueError:
            raise SettingsError(f"RATE_LIMITS must look like '20/hour;100/day' (amount/period, ';'-separated), got {text!r}") from None
    return text


@dataclass(frozen=True)
class Settings:
    """Attributes:
    face_detector_model: bundle folder or gs:// URI of the short-range detector.
    face_detector_fallback_model: detector tried when the first finds no face ("" = none).
    face_embedder_model: bundle folder or gs:// URI of the face embedder.
    verify_threshold: distance threshold overriding the embedder bundle's (None = bundle's).
    verify_operating_point: named threshold from the embedder bundle's
        threshold.operating_points ("" = the bundle's default, threshold.value); checked
        against the bundle when it loads. VERIFY_THRESHOLD, when set, wins.
    gesture_models: bundle folders or gs:// URIs served by predict_gesture; the first is
        the default when a request names no `model`.
    max_request_bytes: largest request body accepted (Cloud Run's own cap is 32 MB).
    max_image_pixels: largest declared JPEG size (w x h); JPEGs decode already scaled
        down (draft mode). Bigger is refused from the header, before any pixel is decoded.
    max_full_decode_pixels: the same for PNG, WebP, TIFF, BMP and GIF, which decode at
        full size first (12 MP of RGBA is 48 MB raw, 112 MiB at the peak of decoding).
    max_image_side: longest side, in pixels, a photo is scaled down to before detection.
    max_frames: most frames accepted in one gesture request.
    interpreter_threads: threads per TFLite interpreter (1 suits 0.33-1 vCPU).
    memory_limit_mb: the instance's memory tier; the guard's levels are fractions of it.
    memory_warn_fraction: over this, log a warning, drop caches and collect garbage.
    memory_critical_fraction: over this, refuse new work with 503 until back under.
    embedding_cache_size: face embeddings kept, keyed by photo sha256 (0 = no cache).
    embedding_cache_ttl_s: seconds an embedding stays in the cache.
    model_retry_s: seconds before a failed model load is tried again.
    model_load_timeout_s: overall time allowed to fetch one bundle from gs://.
    api_key: when set, POST requests must send it in the `X-API-Key` header, and the
        detailed health report needs it too (see health_details).
    memory_wait_s: seconds a request waits for the memory budget before a 503.
    malloc_arenas: glibc malloc arenas (0 = glibc's default of 8 per core); each request
        thread otherwise keeps its own arena's peak resident.
    malloc_mmap_threshold_kb: allocations from this size get their own mapping, returned
        to the system when freed (0 = glibc's dynamic threshold).
    memory_recycle: under gunicorn, replace a worker that stays over the critical level
        while idle (after caches are dropped and freed memory is given back).
    tflite_runtime: "ai_edge_litert", "tflite_runtime", or "" for the first that imports.
    storage_emulator_host: host:port of a GCS emulator ("" = real object storage).
    max_decode_mb: most memory one photo's decoding may take at its peak, MiB, as
        estimated from its headers before decoding (also what it reserves from the
        instance's memory budget).
    max_progressive_pixels: largest progressive JPEG (w x h): libjpeg keeps all its
        coefficients whatever the draft scale.
    max_jpeg_scans: most scans in one JPEG (libjpeg writes 10).
    max_decode_ms: most CPU one photo's decoding may take, ms, estimated from its headers.
    face_selection: which face of a photo with several is compared: "central" (large and
        near the centre), "largest" or "confident" (the detector's highest score).
    redis_url: redis://[:password@]host:port[/db] (or rediss://) of a Redis shared by the
        instances: the embedding cache and the rate limits are kept there ("" = per instance).
    redis_timeout_s: connect and read timeout for each Redis call, seconds.
    redis_retry_s: after a Redis failure, seconds it is left alone (answers meanwhile come
        from the instance itself) before it is tried again.
    rate_limits: per-client limits in the `limits` library's notation, ";"-separated, e.g.
        "20/hour;100/day" ("" = no limit).
    rate_limit_fail: "open" (admit, counted per instance) or "closed" (503) while the
        limits' shared store (Redis) cannot be reached.
    rate_limit_proxy_hops: how many trusted front ends append to X-Forwarded-For: the
        client address is that many entries from its right (1 = Cloud Run, Render,
        Knative's ingress; 0 = no front end, the connection's own address). Unset: 1 where
        K_SERVICE or RENDER says such a platform runs the function, else 0.
    health_details: who reads the detailed health report: "key" (only a request with the
        configured API_KEY; nobody when none is set) or "open" (anyone when no API_KEY is
        set: local development and private networks; the key still guards it when set).
    max_request_decode_ms: most CPU the decoding of all photos of one request may take,
        ms, estimated from their headers before any is decoded (gesture frames: up to
        MAX_PHOTO_FRAMES photos, each within max_decode_ms).
    cors_origins: browser origins allowed to call the function (CORS), lower case, or
        ("*",) for any; empty = none (shared/edge/cors.py).
    hand_detector_model, hand_landmark_model: bundle folders or gs:// URIs of the palm
        detector and the hand landmark model predict_gesture loads on its first photo.
    max_photo_frames: most photos (frames) in one gesture request.
    hand_image_side: longest side, in pixels, a photo is scaled down to before hands are
        looked for (MediaPipe's hand models see 192 and 224 px crops; 640 px measured as
        accurate as 1280 on the SubhiH photos, and a 1 MP JPEG then decodes at half scale).
    max_references: most stored templates one verify request may compare its photo with
        (`references`); each costs about 1.8 KB of JSON (0.8 KB as values_b64) and 7 KB of
        memory while the request is read (docs/scaling.md).
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
    memory_wait_s: float = 2.0
    malloc_arenas: int = 2
    malloc_mmap_threshold_kb: int = 1024
    memory_recycle: bool = True
    tflite_runtime: str = ""
    storage_emulator_host: str = ""
    verify_operating_point: str = ""
    max_decode_mb: int = 128
    max_progressive_pixels: int = 16_000_000
    max_jpeg_scans: int = 64
    max_decode_ms: int = 1000
    face_selection: str = "central"
    redis_url: str = ""
    redis_timeout_s: float = 0.25
    redis_retry_s: float = 5.0
    rate_limits: str = ""
    rate_limit_fail: str = "open"
    rate_limit_proxy_hops: int = 0
    cors_origins: tuple[str, ...] = ()
    hand_detector_model: str = str(MODELS_DIR / "hand-detector")
    hand_landmark_model: str = str(MODELS_DIR / "hand-landmarks")
    max_photo_frames: int = 64
    hand_image_side: int = 640
    max_references: int = 1000
    health_details: str = "key"
    max_request_decode_ms: int = 2000

    @classmethod
    def from_env(cls) -> Settings:
        threshold = _text("VERIFY_THRESHOLD", "")
        gestures = tuple(s.strip() for s in _text("GESTURE_MODEL", DEFAULT_GESTURE_MODELS).split(",") if s.strip())
        if not gestures:
            raise SettingsError("GESTURE_MODEL must name at least one bundle")
        settings = cls(
            face_detector_model=_text("FACE_DETECTOR_MODEL", DEFAULT_FACE_DETECTOR),
            face_detector_fallback_model=_text("FACE_DETECTOR_FALLBACK_MODEL", DEFAULT_FACE_DETECTOR_FALLBACK),
            face_embedder_model=_text("FACE_EMBEDDER_MODEL", DEFAULT_FACE_EMBEDDER),
            verify_threshold=_number("VERIFY_THRESHOLD", 0, float, 0.0, 4.0) if threshold else None,
            verify_operating_point=_text("VERIFY_OPERATING_POINT", "").strip(),
            gesture_models=gestures,
            max_request_bytes=_number("MAX_REQUEST_BYTES", 20 * 2**20, int, 1024, 32 * 2**20),
            max_image_pixels=_number("MAX_IMAGE_PIXELS", 50_000_000, int, 10_000, 200_000_000),
            max_full_decode_pixels=_number("MAX_FULL_DECODE_PIXELS", 12_000_000, int, 10_000, 100_000_000),
            max_image_side=_number("MAX_IMAGE_SIDE", 1280, int, 160, 8192),
            max_frames=_number("MAX_FRAMES", 1024, int, 1, 100_000),
            interpreter_threads=_number("INTERPRETER_THREADS", 1, int, 1, 64),
            memory_limit_mb=_number("MEMORY_LIMIT_MB", 512, int, 32, 65536),
            memory_warn_fraction=_number("MEMORY_WARN_FRACTION", 0.70, float, 0.05, 1.0),
            memory_critical_fraction=_number("MEMORY_CRITICAL_FRACTION", 0.85, float, 0.05, 1.0),
            embedding_cache_size=_number("EMBEDDING_CACHE_SIZE", 256, int, 0, 100_000),
            embedding_cache_ttl_s=_number("EMBEDDING_CACHE_TTL_S", 3600, float, 0, 7 * 86400),
            model_retry_s=_number("MODEL_RETRY_S", 5, float, 0, 3600),
            model_load_timeout_s=_number("MODEL_LOAD_TIMEOUT_S", 60, float, 1, 3600),
            api_key=_text("API_KEY", ""),
            memory_wait_s=_number("MEMORY_WAIT_S", 2.0, float, 0, 60),
            malloc_arenas=_number("MALLOC_ARENAS", 2, int, 0, 64),
            malloc_mmap_threshold_kb=_number("MALLOC_MMAP_THRESHOLD_KB", 1024, int, 0, 32 * 1024),
            memory_recycle=_flag("MEMORY_RECYCLE", True),
            tflite_runtime=_choice("TFLITE_RUNTIME", ("", "ai_edge_litert", "tflite_runtime")),
            storage_emulator_host=_text("STORAGE_EMULATOR_HOST", ""),
            max_decode_mb=_number("MAX_DECODE_MB", 128, int, 16, 1024),
            max_progressive_pixels=_number("MAX_PROGRESSIVE_PIXELS", 16_000_000, int, 1_000_000, 100_000_000),
            max_jpeg_scans=_number("MAX_JPEG_SCANS", 64, int, 16, 1000),
            max_decode_ms=_number("MAX_DECODE_MS", 1000, int, 100, 60_000),
            face_selection=_choice("FACE_SELECTION", ("central", "largest", "confident"), "central"),
            redis_url=_redis_url(),
            redis_timeout_s=_number("REDIS_TIMEOUT_S", 0.25, float, 0.01, 10),
            redis_retry_s=_number("REDIS_RETRY_S", 5.0, float, 0, 600),
            rate_limits=_rate_limits(),
            rate_limit_fail=_choice("RATE_LIMIT_FAIL", ("open", "closed"), "open"),
            rate_limit_proxy_hops=_proxy_hops(),
            cors_origins=_origins("CORS_ORIGINS"),
            hand_detector_model=_text("HAND_DETECTOR_MODEL", str(MODELS_DIR / "hand-detector")),
            hand_landmark_model=_text("HAND_LANDMARK_MODEL", str(MODELS_DIR / "hand-landmarks")),
            max_photo_frames=_number("MAX_PHOTO_FRAMES", 64, int, 1, 1024),
            hand_image_side=_number("HAND_IMAGE_SIDE", 640, int, 160, 8192),
            max_references=_number("MAX_REFERENCES", 1000, int, 1, 10_000),
            health_details=_choice("HEALTH_DETAILS", ("key", "open"), "key"),
            max_request_decode_ms=_number("MAX_REQUEST_DECODE_MS", 2000, int, 100, 600_000),
        )
        if settings.memory_warn_fraction > settings.memory_critical_fraction:
            raise SettingsError("MEMORY_WARN_FRACTION must not exceed MEMORY_CRITICAL_FRACTION")
        return settings

    def public(self) -> dict[str, Any]:
        """The settings as the detailed health report shows them: model sources as short
        labels (never a local path or a bucket), no API key, no emulator address."""
        hidden = ("api_key", "storage_emulator_host", "redis_url")
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}
        for name in (
            "face_detector_model",
            "face_detector_fallback_model",
            "face_embedder_model",
            "hand_detector_model",
            "hand_landmark_model",
        ):
            out[name] = _label(out[name])
        out["gesture_models"] = [_label(s) for s in self.gesture_models]
        out["api_key_required"] = bool(self.api_key)
        out["redis_configured"] = bool(self.redis_url)
        return out


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
