"""OpenCV's SFace face embedder (face_recognition_sface_2021dec.onnx) rebuilt in TensorFlow.

The ONNX graph is a MobileFaceNet-style chain with no branches:
Sub/Mul (input normalisation) -> 27 x (Conv -> BatchNormalization -> PRelu) -> BatchNormalization
-> Dropout (inference: identity) -> Flatten -> Gemm -> BatchNormalization -> the 128-d output.
This module reads it with the `onnx` package and builds the same function in NHWC, each
BatchNormalization folded into the layer before it (or, for bn1, into the Gemm after
it), so TFLiteConverter emits plain CONV_2D / DEPTHWISE_CONV_2D / PRELU / FULLY_CONNECTED ops.
No other ONNX op is accepted: an unexpected graph fails loudly instead of converting wrongly.

Layouts: ONNX Conv weights are (out, in / group, kh, kw) and activations NCHW; TensorFlow's
are (kh, kw, in, out) / depthwise (kh, kw, channels, 1) and NHWC. ONNX pads explicitly and
symmetrically (pads [1, 1, 1, 1]), which TensorFlow's "SAME" does not do for stride 2 on an
even side, so padding is an explicit ZeroPadding2D before a "valid" convolution.
Flatten of NCHW (1024, 7, 7) orders the Gemm's inputs c*49 + y*7 + x; NHWC flattens
y*7*1024 + x*1024 + c, so the Gemm's columns are permuted to match.
"""

from __future__ import annotations

from typing import Any

import numpy as np

EXPECTED_OPS = {"Sub", "Mul", "Conv", "BatchNormalization", "PRelu", "Dropout", "Flatten", "Gemm"}


def read_onnx(path: str) -> tuple[list[Any], dict[str, np.ndarray]]:
    """(nodes, initializers by name) of the ONNX file; ValueError on an op this rebuild lacks."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    weights = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in model.graph.initializer}
    ops = {n.op_type for n in model.graph.node}
    if not ops <= EXPECTED_OPS:
        raise ValueError(f"unexpected ONNX ops {sorted(ops - EXPECTED_OPS)}: this rebuild knows {sorted(EXPECTED_OPS)}")
    return list(model.graph.node), weights


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _bn(weights: dict[str, np.ndarray], node: Any) -> tuple[np.ndarray, np.ndarray]:
    """BatchNormalization as y = x * scale + shift (per channel)."""
    gamma, beta, mean, var = (weights[n] for n in node.input[1:5])
    scale = gamma / np.sqrt(var + np.float32(_attrs(node).get("epsilon", 1e-5)))
    return scale.astype(np.float32), (beta - mean * scale).astype(np.float32)


def _split_prelu(x, alpha: np.ndarray, index: int):
    """PReLU(y) = m * y + s * relu(k * y) per channel, as 1x1 depthwise convolutions (the one
    with k with a fused ReLU) and an ADD: ops XNNPACK's QS8 path takes, where its int8 PRELU is
    left to the builtin kernels (ai-edge-litert 2.3.0). A slope a < 1: m = a, k = 1 - a, s = 1;
    a >= 1: m = 1, k = 1 - a, s = -1 (y - (a - 1) relu(-y)). The sign takes a third 1x1
    depthwise convolution, only in a layer with a slope >= 1 (2 of SFace's 27).
    Tried and worse in int8: y + s * relu(-|1 - a| y) (one rounding fewer, but the sum of
    two large terms of opposite sign carries the small negative side: worst chip cosine to
    onnxruntime 0.939 against this form's 0.956)."""
    import tensorflow as tf

    c = alpha.size
    below = alpha < 1.0
    m = np.where(below, alpha, 1.0)
    k = np.where(below, 1.0 - alpha, 1.0 - alpha)  # a >= 1: relu((1 - a) y) = (a - 1) relu(-y)
    zeros = np.zeros(c, np.float32)

    def dw(t, weights: np.ndarray, name: str, activation: str | None = None):
        layer = tf.keras.layers.DepthwiseConv2D(1, activation=activation, name=f"prelu{index}_{name}")
        out = layer(t)
        layer.set_weights([weights.astype(np.float32).reshape(1, 1, c, 1), zeros])
        return out

    bent = dw(x, k, "relu", "relu")
    if not below.all():
        bent = dw(bent, np.where(below, 1.0, -1.0), "sign")
    return tf.keras.layers.Add(name=f"prelu{index}")([dw(x, m, "linear"), bent])


def build_keras(path: str, split_prelu: bool = False):  # -> tf.keras.Model
    """The SFace network as a Keras model: (1, 112, 112, 3) float32 RGB 0..255 -> (1, 128).
    `split_prelu`: each PReLU as _split_prelu's ops (the same function, for the int8 variant)."""
    import tensorflow as tf

    nodes, w = read_onnx(path)
    by_output = {n.output[0]: n for n in nodes}
    consumers: dict[str, list[Any]] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    inputs = tf.keras.Input((112, 112, 3), batch_size=1, name="image")
    sub, mul = nodes[0], nodes[1]
    if (sub.op_type, mul.op_type) != ("Sub", "Mul"):
        raise ValueError("expected the graph to start with Sub, Mul (input normalisation)")
    mean, scale = float(w[sub.input[1]][0]), float(w[mul.input[1]][0])
    x = tf.keras.layers.Lambda(lambda t: (t - mean) * scale, name="normalise")(inputs)

    node = consumers[mul.output[0]][0]
    index = 0
    while node.op_type == "Conv":
        a = _attrs(node)
        kernel = w[node.input[1]]
        bn = consumers[node.output[0]][0]
        prelu = consumers[bn.output[0]][0]
        if (bn.op_type, prelu.op_type) != ("BatchNormalization", "PRelu") or len(node.input) > 2:
            raise ValueError(f"expected Conv (no bias) -> BatchNormalization -> PRelu at {node.output[0]}")
        bn_scale, bn_shift = _bn(w, bn)
        pad, stride, group = a["pads"], a["strides"], a["group"]
        if pad[0] != pad[2] or pad[1] != pad[3] or stride[0] != stride[1]:
            raise ValueError(f"{node.output[0]}: asymmetric pads or strides {pad} {stride}")
        index += 1
        if pad[0]:
            x = tf.keras.layers.ZeroPadding2D((pad[0], pad[1]), name=f"pad{index}")(x)
        if group == 1:
            folded = kernel.transpose(2, 3, 1, 0) * bn_scale  # (kh, kw, in, out) x per-out scale
            layer = tf.keras.layers.Conv2D(kernel.shape[0], kernel.shape[2:], strides=stride[0], padding="valid", name=f"conv{index}")
        elif group == kernel.shape[0] and kernel.shape[1] == 1:
            folded = kernel.transpose(2, 3, 0, 1) * bn_scale[:, None]  # (kh, kw, channels, 1)
            layer = tf.keras.layers.DepthwiseConv2D(kernel.shape[2:], strides=stride[0], padding="valid", name=f"dwconv{index}")
        else:
            raise ValueError(f"{node.output[0]}: grouped convolution with group={group} is not supported")
        x = layer(x)
        layer.set_weights([folded.astype(np.float32), bn_shift])
        alpha = w[prelu.input[1]].reshape(-1)
        if split_prelu:
            x = _split_prelu(x, alpha, index)
        else:
            act = tf.keras.layers.PReLU(shared_axes=[1, 2], name=f"prelu{index}")
            x = act(x)
            act.set_weights([np.broadcast_to(alpha, (1, 1, alpha.size)).astype(np.float32)])
        node = consumers[prelu.output[0]][0]

    # bn1 -> Dropout -> Flatten -> Gemm -> fc1 (BatchNormalization)
    bn1 = node
    drop = consumers[bn1.output[0]][0]
    flat = consumers[drop.output[0]][0]
    gemm = consumers[flat.output[0]][0]
    fc1 = consumers[gemm.output[0]][0]
    head = [bn1.op_type, drop.op_type, flat.op_type, gemm.op_type, fc1.op_type]
    if head != ["BatchNormalization", "Dropout", "Flatten", "Gemm", "BatchNormalization"]:
        raise ValueError("expected BatchNormalization -> Dropout -> Flatten -> Gemm -> BatchNormalization at the head")
    ga = _attrs(gemm)
    if ga.get("transB") != 1 or ga.get("transA", 0) != 0 or ga.get("alpha", 1.0) != 1.0 or ga.get("beta", 1.0) != 1.0:
        raise ValueError(f"unexpected Gemm attributes {ga}")
    _, h, wd, c = x.shape
    s1, t1 = _bn(w, bn1)
    weight = w[gemm.input[1]].reshape(-1, c, h, wd)  # (out, C, H, W): ONNX's NCHW flatten order
    bias = w[gemm.input[2]] + np.einsum("ochw,c->o", weight, t1)
    weight = weight * s1[None, :, None, None]
    s2, t2 = _bn(w, fc1)
    kernel = (weight.transpose(2, 3, 1, 0).reshape(h * wd * c, -1) * s2).astype(np.float32)  # NHWC flatten order
    bias = (bias * s2 + t2).astype(np.float32)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    dense = tf.keras.layers.Dense(kernel.shape[1], name="embedding")
    x = dense(x)
    dense.set_weights([kernel, bias])
    if by_output.get(fc1.output[0]) is not fc1:
        raise ValueError("graph walk lost its way")
    return tf.keras.Model(inputs, x, name="sface")


def to_tflite(model, variant: str, representative: np.ndarray | None = None) -> bytes:
    """TFLite flatbuffer: "float32", "float16" (fp16 weights, dequantised at load),
    "dynamic-int8" (int8 weights, float activations) or "int8" (int8 weights, per channel, and
    int8 activations whose ranges come from `representative`, (n, 112, 112, 3) chips; float
    input and output, quantised and dequantised inside the graph)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant == "int8":
        if representative is None or not len(representative):
            raise ValueError("the int8 variant needs representative chips")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([c[None].astype(np.float32)] for c in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic-int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant != "float32":
        raise ValueError(f"unknown variant {variant!r}")
    return bytes(converter.convert())
