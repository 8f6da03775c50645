"""The health answer both functions give on GET."""
from __future__ import annotations

import sys

from .lazy import Lazy
from .memory import MemoryGuard
from .settings import Settings
from .tflite import runtime_info


def health_report(function: str, models: Lazy, guard: MemoryGuard, settings: Settings, extra: dict | None = None) -> dict:
    """Ready flag, model state and bundles, runtime, memory. Loads nothing: health stays cheap."""
    report = {
        "function": function,
        "ready": models.ready,
        "models": models.status(),
        "runtime": runtime_info(),
        "memory": guard.status(),
        "settings": settings.public(),
    }
    if models.ready:
        report["bundles"] = [b.info() for b in models.get().bundles()]
    gcs = sys.modules.get("shared.gcs")  # only once a gs:// bundle was configured
    if gcs is not None:
        report["object_storage"] = gcs.download_stats()
    report.update(extra or {})
    return report
