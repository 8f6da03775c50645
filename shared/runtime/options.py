"""How bundles are loaded (light: settings reads these defaults without importing numpy or a
TFLite runtime; bundle.py, tflite.py and lazy.py use them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import Settings

RUNTIMES = ("ai_edge_litert", "tflite_runtime")  # the TFLite interpreters, in the order "" tries them
MODEL_RETRY_S = 5.0  # seconds before a failed model load is tried again (every pipeline's retry_s)


@dataclass(frozen=True)
class LoadOptions:
    """How bundles are loaded.

    Attributes:
        num_threads: threads per TFLite interpreter (1 suits 0.33-1 vCPU).
        timeout_s: overall time allowed to fetch one bundle from gs:// (with retries).
        runtime: one of RUNTIMES, or "" for the first that imports.
        anonymous_storage: read gs:// without credentials (an object-storage emulator).
    """

    num_threads: int = 1
    timeout_s: float = 60.0
    runtime: str = ""
    anonymous_storage: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> LoadOptions:
        return cls(
            settings.interpreter_threads, settings.model_load_timeout_s, settings.tflite_runtime, bool(settings.storage_emulator_host)
        )
