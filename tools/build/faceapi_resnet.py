"""face-api.js's FaceRecognitionNet (the dlib ResNet-29 face embedder) rebuilt in TensorFlow.

A 1:1 port of `src/faceRecognitionNet/` of `@vladmandic/face-api@1.7.15`
(FaceRecognitionNet.ts, convLayer.ts, residualLayer.ts, scaleLayer.ts,
extractParamsFromWeightMap.ts): same layer order, strides, paddings, zero-padding of the
shortcut in `residualDown`, and the same weight names. Tools only (imports TensorFlow).

Input: [1, 150, 150, 3] float32 RGB in 0..255. Output: [1, 128] float32 (not normalised;
dlib compares these with euclidean distance).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflowjs import read_weights

INPUT_SIZE = 150
EMBEDDING_DIMS = 128
# FaceRecognitionNet.ts: `normalize(batchTensor, meanRgb).div(255)`
MEAN_RGB = (122.782, 117.001, 104.298)
MANIFEST = "face_recognition_model-weights_manifest.json"

# (name, kind) in FaceRecognitionNet.forwardInput order, after conv32_down + max pool.
RESIDUAL_BLOCKS = [
    ("conv32_1", "same"),
    ("conv32_2", "same"),
    ("conv32_3", "same"),
    ("conv64_down", "down"),
    ("conv64_1", "same"),
    ("conv64_2", "same"),
    ("conv64_3", "same"),
    ("conv128_down", "down"),
    ("conv128_1", "same"),
    ("conv128_2", "same"),
    ("conv256_down", "down"),
    ("conv256_1", "same"),
    ("conv256_2", "same"),
    ("conv256_down_out", "down"),
]

Weights = dict[str, np.ndarray]


def load_weights(model_dir: Path) -> Weights:
    """Read and dequantize the tfjs weights (uint8: q * scale + min in float64, then
    float32, as tfjs' decodeWeights does), keyed by their manifest names."""
    manifest = json.loads((model_dir / MANIFEST).read_text())
    groups = read_weights.read_weights(manifest, str(model_dir), flatten=True)
    weights = {entry["name"]: np.asarray(entry["data"], dtype=np.float32) for entry in groups}
    expected = 4 + 14 * 2 * 4 + 1  # conv32_down, 14 residual blocks of 2 conv layers, fc
    if len(weights) != expected or weights["fc"].shape != (256, EMBEDDING_DIMS):
        raise ValueError(f"unexpected weights: {len(weights)} entries (expected {expected}), fc {weights.get('fc', np.empty(0)).shape}")
    return weights


def _conv_layer(x: tf.Tensor, w: Weights, prefix: str, strides: int, relu: bool, padding: str = "SAME") -> tf.Tensor:
    """convLayer.ts: conv2d + bias, then the scale layer (x * weights + biases), optional relu."""
    out = tf.nn.conv2d(x, w[f"{prefix}/conv/filters"], strides=strides, padding=padding)
    out = tf.add(out, w[f"{prefix}/conv/bias"])
    out = tf.add(tf.multiply(out, w[f"{prefix}/scale/weights"]), w[f"{prefix}/scale/biases"])
    return tf.nn.relu(out) if relu else out


def _conv_down(x: tf.Tensor, w: Weights, prefix: str) -> tf.Tensor:
    return _conv_layer(x, w, prefix, strides=2, relu=True, padding="VALID")


def _residual(x: tf.Tensor, w: Weights, prefix: str) -> tf.Tensor:
    out = _conv_layer(x, w, f"{prefix}/conv1", strides=1, relu=True)
    out = _conv_layer(out, w, f"{prefix}/conv2", strides=1, relu=False)
    return tf.nn.relu(out + x)


def _residual_down(x: tf.Tensor, w: Weights, prefix: str) -> tf.Tensor:
    """residualLayer.ts residualDown: the main path halves the size with a 3x3 stride-2
    'valid' conv; the shortcut is a 2x2 stride-2 'valid' average pool whose channels are
    doubled by appending zeros. When the sizes disagree (odd input: 8 -> 3 vs 4), the
    main path gets one row of zeros appended at the bottom, then one column at the right."""
    out = _conv_down(x, w, f"{prefix}/conv1")
    out = _conv_layer(out, w, f"{prefix}/conv2", strides=1, relu=False)
    pooled = tf.nn.avg_pool2d(x, ksize=2, strides=2, padding="VALID")
    _, ph, pw, pc = pooled.shape
    _, oh, ow, oc = out.shape
    if (ph, pw) != (oh, ow):
        # face-api appends exactly one zero row and one zero column (tf.concat with zeros).
        if (ph - oh, pw - ow) != (1, 1):
            raise ValueError(f"{prefix}: shortcut {pooled.shape} vs main {out.shape} is not the one-pixel case face-api handles")
        out = tf.pad(out, [[0, 0], [0, 1], [0, 1], [0, 0]])
    if pc != oc:
        if oc != 2 * pc:
            raise ValueError(f"{prefix}: face-api doubles the shortcut's channels, {pc} -> {oc} is not that")
        pooled = tf.pad(pooled, [[0, 0], [0, 0], [0, 0], [0, oc - pc]])
    return tf.nn.relu(pooled + out)


def forward(image: tf.Tensor, w: Weights) -> tf.Tensor:
    """FaceRecognitionNet.forwardInput for a [N, 150, 150, 3] RGB 0..255 batch -> [N, 128]."""
    x = (image - tf.constant(MEAN_RGB, tf.float32)) / 255.0
    out = _conv_down(x, w, "conv32_down")
    out = tf.nn.max_pool2d(out, ksize=3, strides=2, padding="VALID")
    for name, kind in RESIDUAL_BLOCKS:
        out = _residual_down(out, w, name) if kind == "down" else _residual(out, w, name)
    pooled = tf.reduce_mean(out, axis=[1, 2])
    return tf.matmul(pooled, w["fc"])


class FaceRecognitionNet(tf.Module):
    """The network as a tf.Module with one batch-1 signature (what the converter takes)."""

    def __init__(self, weights: Weights):
        super().__init__(name="face_recognition_net")
        self._weights = {k: tf.constant(v) for k, v in weights.items()}

    @tf.function(input_signature=[tf.TensorSpec([1, INPUT_SIZE, INPUT_SIZE, 3], tf.float32, name="image")])
    def __call__(self, image: tf.Tensor) -> tf.Tensor:
        return forward(image, self._weights)


VARIANTS = ("float32", "dynamic-int8")


def to_tflite(net: FaceRecognitionNet, variant: str = "float32") -> bytes:
    """TFLite flatbuffer, builtin ops only. float32: the exact network. dynamic-int8:
    int8 weights with float activations (post-training dynamic-range quantization)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    concrete = net.__call__.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], net)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant == "dynamic-int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()
