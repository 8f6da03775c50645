"""A local bundle verified at the image's build (shared/runtime/seal.py) loads without hashing
its model again while its stamp still describes the files; any change the stamp can see
(a rewritten or truncated model, another bundle.json, a forged stamp) falls back to the hash,
and a model that is not its bundle.json's is refused as before (issue 25, cold start)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from shared.errors import BundleError
from shared.runtime import bundle as bundles
from shared.runtime import seal
from shared.runtime.bundle import MANIFEST, MODEL_FILE, load_bundle
from shared.settings import MODELS_DIR

DETECTOR = Path(MODELS_DIR) / "face-detector-short"
TASK = "face-detection"


@pytest.fixture
def sealed(tmp_path) -> Path:
    folder = tmp_path / DETECTOR.name
    shutil.copytree(DETECTOR, folder)
    seal.seal(folder)
    return folder


@pytest.fixture
def hashes(monkeypatch) -> list[str]:
    """The paths of the models hashed at load (the hash itself still runs)."""
    seen: list[str] = []
    real = hashlib.file_digest

    def counting(file, digest):
        seen.append(file.name)
        return real(file, digest)

    monkeypatch.setattr(bundles.hashlib, "file_digest", counting)
    return seen


def test_a_sealed_bundle_loads_without_hashing_its_model(sealed, hashes, caplog):
    stamp = json.loads((sealed / seal.STAMP).read_text())
    assert stamp["model_sha256"] == json.loads((sealed / MANIFEST).read_text())["sha256"]
    assert stamp["mtime_ns"] % seal.SECOND_NS == 0 == os.stat(sealed / MODEL_FILE).st_mtime_ns % seal.SECOND_NS
    with caplog.at_level(logging.INFO, logger="shared.runtime.bundle"):
        bundle = load_bundle(str(sealed), task=TASK)
    assert hashes == [] and bundle.sha256 == stamp["model_sha256"]
    assert "(sha256: its build-time stamp)" in caplog.text
    assert bundle.model.inputs[0].shape == (1, 128, 128, 3)


def test_an_unsealed_bundle_is_hashed(tmp_path, hashes):
    folder = tmp_path / DETECTOR.name
    shutil.copytree(DETECTOR, folder)
    load_bundle(str(folder), task=TASK)
    assert hashes == [str(folder / MODEL_FILE)]


def test_a_model_rewritten_after_sealing_is_hashed_and_refused(sealed, hashes):
    data = bytearray((sealed / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 1
    (sealed / MODEL_FILE).write_bytes(bytes(data))  # same size, a new modification time
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(str(sealed), task=TASK)
    assert hashes == [str(sealed / MODEL_FILE)]


def test_a_truncated_model_with_the_stamped_time_is_refused(sealed):
    stamp = json.loads((sealed / seal.STAMP).read_text())
    data = (sealed / MODEL_FILE).read_bytes()
    (sealed / MODEL_FILE).write_bytes(data[: len(data) // 2])
    os.utime(sealed / MODEL_FILE, ns=(stamp["mtime_ns"], stamp["mtime_ns"]))  # only the size tells
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(str(sealed), task=TASK)


def test_another_bundle_json_voids_the_stamp(sealed, hashes):
    meta = json.loads((sealed / MANIFEST).read_text())
    meta["description"] += " (edited)"
    (sealed / MANIFEST).write_text(json.dumps(meta))
    load_bundle(str(sealed), task=TASK)  # still the model bundle.json names: loads, hashed
    assert hashes == [str(sealed / MODEL_FILE)]


def test_a_stamp_naming_another_digest_is_refused(sealed, hashes):
    """A stamp stands in for the hash, never for the comparison with bundle.json."""
    stamp = json.loads((sealed / seal.STAMP).read_text())
    stamp["model_sha256"] = "0" * 64
    (sealed / seal.STAMP).write_text(json.dumps(stamp))
    with pytest.raises(BundleError, match="sha256 000000000000"):
        load_bundle(str(sealed), task=TASK)
    assert hashes == []


@pytest.mark.parametrize("text", ["", "[]", "{not json", '{"model_sha256": 1}'])
def test_an_unreadable_stamp_falls_back_to_the_hash(sealed, hashes, text):
    (sealed / seal.STAMP).write_text(text)
    load_bundle(str(sealed), task=TASK)
    assert hashes == [str(sealed / MODEL_FILE)]


def test_sealing_refuses_a_model_that_is_not_its_bundle_json(tmp_path, capsys):
    folder = tmp_path / DETECTOR.name
    shutil.copytree(DETECTOR, folder)
    shutil.copy(Path(MODELS_DIR) / "face-detector-full" / MODEL_FILE, folder / MODEL_FILE)
    with pytest.raises(ValueError, match="not sealed"):
        seal.seal(folder)
    assert not (folder / seal.STAMP).exists()
    good = tmp_path / "good"
    shutil.copytree(DETECTOR, good)
    assert seal.main([str(good), str(folder)]) == 1  # the image's build fails
    assert (good / seal.STAMP).exists() and "not sealed" in capsys.readouterr().err
