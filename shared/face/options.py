"""Options of the face pipeline (light: settings reads their defaults from here without
importing numpy, Pillow or a TFLite runtime)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.images.limits import DecodeLimits
from shared.runtime.options import MODEL_RETRY_S, LoadOptions
from shared.state.store import StoreOptions

if TYPE_CHECKING:
    from shared.settings import Settings

# Which face of a photo with several is compared (detect.selection_order says how).
SELECTIONS = ("central", "largest", "confident")
# What a photo the quality verdict finds poor does to a comparison (quality.py).
QUALITY_POLICIES = ("report", "reject")


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
        face_selection: which face of several is compared (SELECTIONS).
        store: the Redis shared by the instances, where embeddings are cached too (url "" = none).
        max_references: most templates one probe is compared with (`references`); each
            costs about 1.8 KB of JSON (0.8 KB as values_b64) and 7 KB of memory while the
            request is read (docs/scaling.md).
        far: the false-accept rate whose calibrated, condition-aware thresholds decide
            (operating.py; None = the bundle's far_default); `threshold` and
            `operating_point`, when set, win over it.
        quality_policy: "report" (every answer carries each photo's quality) or "reject"
            (a poor photo is a 422 low_quality); a request may ask for either.
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
    retry_s: float = MODEL_RETRY_S
    face_selection: str = "central"
    store: StoreOptions = StoreOptions()
    max_references: int = 1000
    far: float | None = None
    quality_policy: str = "report"

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
            far=settings.verify_far,
            quality_policy=settings.quality_policy,
        )
