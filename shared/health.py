"""The health answer both functions give on GET."""
from __future__ import annotations

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
    report.update(extra or {})
    return report
