"""The health answer both functions give on GET, in two levels.

Anyone: `ready`, the function's name and the product version (what a load balancer or an
uptime check needs). With the API key: the detailed report, with bundles, where they are
stored (local or object storage, never a path or a bucket), settings, runtime, memory, and
the pipeline's own state. Without an API_KEY configured nobody reads the detailed report
unless HEALTH_DETAILS=open (local development, private networks): a public instance tells
the internet its version and readiness, not its settings, limits, memory or bundle hashes.
Health never loads a model from object storage.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Protocol

from shared import __version__
from shared.edge.admission import MemoryGuard, has_api_key
from shared.runtime.lazy import Lazy
from shared.settings import Settings

if TYPE_CHECKING:  # numpy and the runtime load in the serving worker, not in gunicorn's master
    from shared.runtime.bundle import Bundle


class Pipeline(Protocol):
    """What health asks of a loaded pipeline (FaceVerifier, GestureService)."""

    def bundles(self) -> list[Bundle]: ...

    def describe(self) -> dict[str, Any]: ...


def shows_details(sent_key: str, settings: Settings) -> bool:
    """True when this health request may read the detailed report: it carries the configured
    API key, or no key is configured and HEALTH_DETAILS=open."""
    if settings.api_key:
        return has_api_key(sent_key, settings.api_key)
    return settings.health_details == "open"


def brief_report(function: str, models: Lazy[Any]) -> dict[str, Any]:
    """What anyone may read: ready flag, function name, product version."""
    return {"function": function, "ready": models.ready, "version": __version__}


def detailed_report(function: str, models: Lazy[Any], guard: MemoryGuard, settings: Settings) -> dict[str, Any]:
    """The full report for operators; loads nothing (the caller decides whether to)."""
    from shared.runtime.tflite import runtime_info

    report = {
        **brief_report(function, models),
        "models": models.status(),
        "runtime": runtime_info(settings.tflite_runtime),
        "memory": guard.status(),
        "settings": settings.public(),
    }
    if models.ready:
        pipeline: Pipeline = models.get()
        report["bundles"] = [b.info() for b in pipeline.bundles()]
        report.update(pipeline.describe())
    gcs = sys.modules.get("shared.runtime.gcs")  # only once a gs:// bundle was configured
    if gcs is not None:
        report["object_storage"] = gcs.download_stats()
    if settings.gallery_url:  # as the last gallery call left it: health opens no connection
        store = sys.modules.get("shared.gallery.store")  # imported by the first gallery call
        status = store.last_status() if store is not None else None
        report["gallery"] = status if status is not None else {"configured": True, "used": False}
    return report
