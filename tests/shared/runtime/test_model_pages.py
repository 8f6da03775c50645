"""A local bundle's model is mapped from its file, hashed where it lies, and its pages leave
the process's memory once the interpreter is built (issue 25: SFace's 12.9 MB of weights were
held twice, as bytes and as XNNPACK's packed copy); the answers stay those of a model built
from the bytes."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from shared.errors import BundleError
from shared.runtime import bundle as bundles
from shared.runtime.bundle import MODEL_FILE, load_bundle
from shared.runtime.tflite import Model, runtime_info
from shared.settings import MODELS_DIR

SFACE = Path(MODELS_DIR) / "face-embedder-sface"


def resident_kb(path: Path) -> int | None:
    """Rss of this process's mappings of `path` (smaps), None when it maps none."""
    real, total, inside = str(path.resolve()), None, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields[0]) > 8 and not line.startswith(("Rss", "Size")):
                inside = line.rstrip("\n").endswith(" " + real)
            elif inside and fields[0] == "Rss:":
                total = (total or 0) + int(fields[1])
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_a_local_model_is_mapped_and_its_pages_released():
    bundle = load_bundle(str(SFACE), task="face-embedding")
    spec = bundle.model.inputs[0]
    chip = np.random.default_rng(1).uniform(0, 255, spec.shape).astype(np.float32)
    mapped = bundle.model.run(chip)[0]
    resident = resident_kb(SFACE / MODEL_FILE)
    assert resident is not None  # mapped: a bytes copy would show no mapping of the file
    # Released: a run reads back a few pages of the flatbuffer's tables (32 KB here), not
    # the 12.9 MB of weights XNNPACK packed. tflite-runtime 2.14's XNNPACK does not pack the
    # int8 embedding layer (50176 x 128: 6,272 KB); its hybrid kernel reads those weights
    # where they lie, so they are resident there by need (6,368 KB measured), the float16
    # convolutions' 6.6 MB still released.
    layer_kb = 50176 * 128 // 1024
    limit = 512 if runtime_info()["runtime"] == "ai_edge_litert" else layer_kb + 512
    assert resident < limit, resident
    from_bytes = Model.from_bytes((SFACE / MODEL_FILE).read_bytes()).run(chip)[0]
    assert np.array_equal(mapped, from_bytes)


def test_a_model_replaced_while_loading_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "face-embedder-sface"
    shutil.copytree(SFACE, folder)
    swapped = tmp_path / "other.tflite"
    shutil.copy(folder / MODEL_FILE, swapped)
    real_from_path = Model.from_path

    def swap_then_load(path: str, *args, **kwargs) -> Model:
        swapped.replace(path)  # another file at the path once it has been hashed
        return real_from_path(path, *args, **kwargs)

    monkeypatch.setattr(Model, "from_path", staticmethod(swap_then_load))
    with pytest.raises(BundleError, match="changed while it was loading"):
        load_bundle(str(folder), task="face-embedding")


def test_a_corrupted_local_model_is_still_refused_by_its_digest(tmp_path):
    folder = tmp_path / "face-embedder-sface"
    shutil.copytree(SFACE, folder)
    data = bytearray((folder / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 1
    (folder / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        bundles.load_bundle(str(folder), task="face-embedding")


def test_only_model_files_worth_releasing_have_their_pages_sought(monkeypatch):
    """Finding a mapping walks /proc/self/maps (0.3-0.5 ms of a cold start): not for a
    classifier of a few KiB, whose pages are worth less than the walk."""
    from shared.runtime import tflite

    sought: list[str] = []
    monkeypatch.setattr(tflite, "release_file_pages", lambda path: sought.append(path) or 0)
    small = Path(MODELS_DIR) / "finger-gesture" / MODEL_FILE
    large = Path(MODELS_DIR) / "face-detector-full" / MODEL_FILE
    assert small.stat().st_size < tflite.RELEASE_MIN_BYTES <= large.stat().st_size
    Model.from_path(str(small))
    assert sought == []
    Model.from_path(str(large))
    assert sought == [str(large)]
