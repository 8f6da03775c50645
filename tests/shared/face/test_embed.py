"""Face embedding: the committed dlib ResNet bundle on the configured runtime, and the distances.

CI runs this file twice: with LiteRT and with TFLITE_RUNTIME=tflite_runtime.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np
import pytest

from shared.face.embed import DISTANCES, FaceEmbedder, cosine_distance, euclidean_distance
from shared.face.verify import FaceVerifier, VerifyOptions
from shared.runtime.bundle import load_bundle
from shared.settings import MODELS_DIR, Settings

BUNDLE = MODELS_DIR / "face-embedder-dlib"  # selectable with FACE_EMBEDDER_MODEL; SFace is the default


@pytest.fixture(scope="module")
def embedder() -> FaceEmbedder:
    return FaceEmbedder(load_bundle(str(BUNDLE), task="face-embedding"))


def golden_chip() -> np.ndarray:
    """The synthetic chip of bundle.json's conversion.verification.face_api_node.golden."""
    y, x, c = np.meshgrid(np.arange(150), np.arange(150), np.arange(3), indexing="ij")
    return ((3 * x + 5 * y + 85 * c) % 256).astype(np.uint8)


# ---- the bundle ----------------------------------------------------------------------------
def test_manifest_sha256_matches_the_model_file():
    meta = json.loads((BUNDLE / "bundle.json").read_text())
    data = (BUNDLE / "model.tflite").read_bytes()
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["size_bytes"] == len(data)
    assert meta["task"] == "face-embedding" and meta["output"]["dims"] == 128


def test_preprocessing_is_what_align_needs(embedder):
    assert (embedder.size, embedder.padding, embedder.dims) == (150, 0.25, 128)
    assert embedder.bundle.model.inputs[0].shape == (1, 150, 150, 3)
    assert embedder.bundle.model.outputs[0].shape == (1, 128)


def test_threshold_metric_is_a_known_distance(embedder):
    spec = embedder.bundle.meta["threshold"]
    assert spec["metric"] in DISTANCES and 0 < float(spec["value"]) < 2


# ---- embedding -----------------------------------------------------------------------------
def test_embedding_shape_dtype_and_determinism(embedder):
    chip = golden_chip()
    first = embedder.embed(chip)
    assert first.shape == (128,) and first.dtype == np.float32 and np.isfinite(first).all()
    assert np.array_equal(first, embedder.embed(chip.copy()))
    embedder.embed(np.zeros_like(chip))  # another input in between must not leak state
    assert np.array_equal(first, embedder.embed(chip))


def test_matches_face_api_on_the_golden_chip(embedder):
    """face-api's own descriptor (tfjs CPU in Node, recorded by the build tool) for the same chip."""
    golden = embedder.bundle.meta["conversion"]["verification"]["face_api_node"]["golden"]
    got = embedder.embed(golden_chip())
    np.testing.assert_allclose(got, np.array(golden["descriptor"], dtype=np.float32), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "chip",
    [
        np.zeros((150, 150, 3), np.float32),
        np.zeros((112, 112, 3), np.uint8),
        np.zeros((150, 150), np.uint8),
        np.zeros((1, 150, 150, 3), np.uint8),
    ],
)
def test_rejects_chips_of_the_wrong_shape_or_dtype(embedder, chip):
    with pytest.raises(ValueError, match=r"\(150, 150, 3\) uint8"):
        embedder.embed(chip)


def test_same_person_is_closer_than_another_person(face_photos):
    """Real photos through the served path (decode -> detect -> dlib chip -> embed): dlib's
    own euclidean 0.6 separates these, and the ordering holds for cosine too."""
    verifier = FaceVerifier.load(dataclasses.replace(VerifyOptions.from_settings(Settings.from_env()), embedder=str(BUNDLE)))
    vectors = {
        name: verifier.embed_photo((face_photos / name).read_bytes(), name).embedding
        for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")
    }
    for metric, distance in DISTANCES.items():
        same = [distance(vectors["obama.jpg"], vectors[n]) for n in ("obama2.jpg", "obama3.jpg")]
        other = [distance(vectors[n], vectors["biden.jpg"]) for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
        assert max(same) < min(other), (metric, same, other)
    assert max(euclidean_distance(vectors["obama.jpg"], vectors[n]) for n in ("obama2.jpg", "obama3.jpg")) < 0.6
    assert euclidean_distance(vectors["obama.jpg"], vectors["biden.jpg"]) > 0.6


# ---- distances (pure maths) ----------------------------------------------------------------
def test_cosine_distance_on_known_angles():
    a = np.array([1.0, 0.0, 0.0], np.float32)
    assert cosine_distance(a, a) == 0.0
    assert cosine_distance(a, 3.5 * a) == pytest.approx(0.0, abs=1e-12)  # length does not matter
    assert cosine_distance(a, np.array([0.0, 2.0, 0.0])) == pytest.approx(1.0)
    assert cosine_distance(a, -a) == pytest.approx(2.0)
    assert cosine_distance(a, np.array([1.0, 1.0, 0.0])) == pytest.approx(1 - math.sqrt(0.5))


def test_cosine_distance_of_a_zero_vector_is_one_not_nan():
    assert cosine_distance(np.zeros(128), np.ones(128)) == 1.0


def test_cosine_distance_of_random_vectors_stays_in_range():
    rng = np.random.default_rng(1)
    for _ in range(100):
        a, b = rng.normal(size=(2, 128)).astype(np.float32)
        d = cosine_distance(a, b)
        assert 0.0 <= d <= 2.0
        assert d == pytest.approx(cosine_distance(b, a))
        assert cosine_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_euclidean_distance():
    assert euclidean_distance(np.array([0.0, 0.0]), np.array([3.0, 4.0])) == pytest.approx(5.0)
    a = np.random.default_rng(2).normal(size=128).astype(np.float32)
    assert euclidean_distance(a, a) == 0.0
    assert isinstance(euclidean_distance(a, a + 1), float)
    assert euclidean_distance(a, a + 1) == pytest.approx(math.sqrt(128), rel=1e-6)


def test_distances_table_names_both_metrics():
    assert {"cosine": cosine_distance, "euclidean": euclidean_distance} == DISTANCES
