"""Options of the hand pipeline (light: imported at start by settings users, before any model)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.runtime.options import LoadOptions


@dataclass(frozen=True)
class HandOptions:
    """Attributes: detector, landmarks (bundle sources: folders or gs:// URIs); load."""

    detector: str
    landmarks: str
    load: LoadOptions = LoadOptions()
