"""Each default written once: the options classes own them, shared/settings/ reads them
(and stays light: importing it, or any options module, loads no numpy, Pillow or TFLite
runtime, and no options module needs settings at run time)."""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.face.options import VerifyOptions
from shared.gallery.options import GalleryOptions
from shared.gesture.options import GestureOptions
from shared.hands.options import HandOptions
from shared.holistic.options import HolisticOptions
from shared.images.limits import MIB, DecodeLimits
from shared.liveness.options import LivenessOptions
from shared.runtime.lazy import Lazy
from shared.runtime.options import MODEL_RETRY_S, LoadOptions
from shared.settings import Settings
from shared.state.store import StoreOptions
from shared.video.limits import VideoLimits

ROOT = Path(__file__).resolve().parents[3]
SETTINGS = ROOT / "shared" / "settings" / "__init__.py"
# Settings field -> (options class, its field, unit: options value = setting x unit), for
# every setting that maps one to one onto an options field.
ONE_TO_ONE: dict[str, tuple[type, str, int]] = {
    "max_image_pixels": (DecodeLimits, "max_pixels", 1),
    "max_full_decode_pixels": (DecodeLimits, "max_full_pixels", 1),
    "max_image_side": (DecodeLimits, "max_side", 1),
    "max_decode_mb": (DecodeLimits, "max_decode_bytes", MIB),
    "max_progressive_pixels": (DecodeLimits, "max_progressive_pixels", 1),
    "max_jpeg_scans": (DecodeLimits, "max_scans", 1),
    "max_decode_ms": (DecodeLimits, "max_decode_ms", 1),
    "interpreter_threads": (LoadOptions, "num_threads", 1),
    "model_load_timeout_s": (LoadOptions, "timeout_s", 1),
    "tflite_runtime": (LoadOptions, "runtime", 1),
    "verify_operating_point": (VerifyOptions, "operating_point", 1),
    "embedding_cache_size": (VerifyOptions, "cache_size", 1),
    "embedding_cache_ttl_s": (VerifyOptions, "cache_ttl_s", 1),
    "model_retry_s": (VerifyOptions, "retry_s", 1),
    "face_selection": (VerifyOptions, "face_selection", 1),
    "max_references": (VerifyOptions, "max_references", 1),
    "redis_timeout_s": (StoreOptions, "timeout_s", 1),
    "redis_retry_s": (StoreOptions, "retry_s", 1),
    "gallery_connect_timeout_s": (GalleryOptions, "connect_timeout_s", 1),
    "gallery_statement_timeout_s": (GalleryOptions, "statement_timeout_s", 1),
    "gallery_retry_s": (GalleryOptions, "retry_s", 1),
    "gallery_pool_size": (GalleryOptions, "pool_size", 1),
    "gallery_ef_search": (GalleryOptions, "ef_search", 1),
    "max_frames": (GestureOptions, "max_frames", 1),
    "max_photo_frames": (GestureOptions, "max_photos", 1),
    "liveness_ttl_s": (LivenessOptions, "ttl_s", 1),
    "max_liveness_frames": (LivenessOptions, "max_frames", 1),
    "max_video_seconds": (VideoLimits, "max_seconds", 1),
    "max_video_side": (VideoLimits, "max_side", 1),
}


@pytest.fixture
def defaults(monkeypatch) -> Settings:
    """Settings as an environment that sets none of them reads them."""
    for name in set(re.findall(r'"([A-Z][A-Z0-9_]+)"', SETTINGS.read_text())):
        monkeypatch.delenv(name, raising=False)
    return Settings.from_env()


def test_settings_defaults_are_the_options_defaults(defaults):
    for setting, (cls, name, unit) in ONE_TO_ONE.items():
        assert getattr(defaults, setting) * unit == getattr(cls, name), (setting, cls.__name__, name)
    # Whole options built from default settings equal the options' own defaults (the
    # model sources and the gesture photos' longer side are settings' alone).
    assert DecodeLimits.from_settings(defaults) == DecodeLimits()
    assert LoadOptions.from_settings(defaults) == LoadOptions()
    assert StoreOptions.from_settings(defaults) == StoreOptions()
    assert GalleryOptions.from_settings(defaults) == GalleryOptions()
    face = (defaults.face_detector_model, defaults.face_embedder_model)
    assert VerifyOptions.from_settings(defaults) == VerifyOptions(*face, fallback_detector=defaults.face_detector_fallback_model)
    hands = HandOptions(defaults.hand_detector_model, defaults.hand_landmark_model)
    d = defaults
    holistic = HolisticOptions(
        d.pose_detector_model,
        d.pose_landmark_model,
        d.hand_recrop_model,
        hands,
        face_detector=d.face_detector_model,
        face_landmarks=d.face_landmark_model,
    )
    gesture = GestureOptions(
        d.gesture_models,
        hands=hands,
        decode=DecodeLimits(max_side=d.hand_image_side),
        holistic=holistic,
        video=VideoLimits(working_side=d.hand_image_side),
    )
    assert GestureOptions.from_settings(defaults) == gesture
    # One model retry interval for every pipeline, and for a Lazy built without one.
    assert VerifyOptions.retry_s == GestureOptions.retry_s == inspect.signature(Lazy).parameters["retry_s"].default == MODEL_RETRY_S


def _from_env_defaults() -> dict[str, ast.expr]:
    """Settings field -> the default argument its reader is given in Settings.from_env."""
    tree = ast.parse(SETTINGS.read_text())
    from_env = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "from_env")
    build = next(n for n in ast.walk(from_env) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "cls")
    out = {}
    for keyword in build.keywords:
        call = keyword.value
        reader = call.func.attr if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) else ""  # env.number(...)
        if reader and keyword.arg:
            position = 2 if reader == "choice" else 1
            if len(call.args) > position:
                out[keyword.arg] = call.args[position]
    return out


def test_no_default_is_written_twice():
    """shared/settings/ names the options field for each one-to-one default (never the value),
    and its Settings class has no field defaults (a second copy in the same file)."""
    written = _from_env_defaults()
    for setting, (cls, name, _) in ONE_TO_ONE.items():
        reads = [n for n in ast.walk(written[setting]) if isinstance(n, ast.Attribute) and n.attr == name]
        assert [getattr(n.value, "id", "") for n in reads] == [cls.__name__], (setting, ast.unparse(written[setting]))
    tree = ast.parse(SETTINGS.read_text())
    settings_class = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    with_defaults = [ast.unparse(n.target) for n in settings_class.body if isinstance(n, ast.AnnAssign) and n.value is not None]
    assert with_defaults == []


LIGHT = (
    "shared.settings",
    "shared.face.options",
    "shared.gesture.options",
    "shared.hands.options",
    "shared.runtime.options",
    "shared.liveness.options",
    "shared.facemesh.options",
    "shared.gallery.options",
)


@pytest.mark.parametrize("module", LIGHT)
def test_settings_and_options_import_light_and_alone(module):
    """Each imports first, in a fresh interpreter (an import cycle would fail here), without
    numpy, Pillow, a TFLite runtime or the pipelines."""
    code = (
        f"import sys, {module}\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'PIL', 'ai_edge_litert', 'tflite_runtime')\n"
        "    or m.startswith(('shared.face.verify', 'shared.gesture.service', 'shared.runtime.bundle', 'shared.edge')))\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-800:]
    assert "HEAVY=\n" in out.stdout, out.stdout
