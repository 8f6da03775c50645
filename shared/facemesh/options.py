"""Options of the face mesh (light: imported at start by settings users, before any model)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.runtime.options import LoadOptions


@dataclass(frozen=True)
class FaceMeshOptions:
    """Attributes: landmarks, iris (bundle sources: folders or gs:// URIs; iris "" = no iris
    model, the eyes answer None); load."""

    landmarks: str
    iris: str = ""
    load: LoadOptions = LoadOptions()
